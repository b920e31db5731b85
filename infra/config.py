"""Stack settings, read once from Pulumi config into a typed, validated object.

Defaults live in the `config:` block of Pulumi.yaml, which the Pulumi CLI applies, so this module
requires every key instead of restating the defaults.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pulumi

from infra.fulfilment import DATABASE_STEPS
from infra.functions import LOG_LEVELS

ARCHITECTURES = ("arm64", "x86_64")
# The only retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
     3288, 3653}
)  # fmt: skip
MEMORY_MB = range(128, 10_240 + 1)
VPC_EGRESS = ("endpoints", "nat")
# Aurora Serverless v2: 0 to 256 ACUs in half steps (0 pauses when idle; the maximum is at least 1).
MAX_ACU = 256
AUTO_PAUSE_SECONDS = range(300, 86_400 + 1)
BACKUP_RETENTION_DAYS = range(1, 35 + 1)
TIMEOUT_SECONDS = range(1, 900 + 1)
# An SQS batch of more than 10 needs a batching window, which would hold orders back.
WORKER_BATCH_SIZE = range(1, 10 + 1)
# Lambda's bounds on an SQS event source's maximum concurrency (more needs a quota increase).
WORKER_MAX_CONCURRENCY = range(2, 1_000 + 1)
# Without RDS Proxy every instance of a database-bound function holds its own connection. Aurora
# PostgreSQL allows 189 connections at the smallest maximum capacity a stack may choose (1 ACU);
# the functions may use about half of them, leaving room for RDS's own sessions, an operator, and
# the connections of replaced instances that have not yet been closed.
DIRECT_CONNECTION_BUDGET = 90
SINGLE_INSTANCE_DATABASE_FUNCTIONS = 2  # the relay and the migration, one instance each
_PYTHON_RUNTIME = re.compile(r"python(3\.\d+)")
_ENVIRONMENT = re.compile(r"[a-z][a-z0-9-]{0,31}")
_ORIGIN = re.compile(r"https?://[^/\s]+|\*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The API's latency alarm: above the API Gateway integration timeout (30 s) it could never fire.
API_LATENCY_MS = range(1, 30_000 + 1)
API_5XX_PERCENT = range(1, 100 + 1)
SNAP_START_MINIMUM_MINOR = 12  # Lambda offers SnapStart for Python from python3.12


def _minor(version: str) -> int:
    """3.13 -> 13."""
    return int(version.split(".")[1])


@dataclass(frozen=True)
class StackConfig:
    region: str
    environment: str
    lambda_architecture: str
    lambda_memory_mb: int
    lambda_runtime: str
    lambda_timeout_seconds: int
    log_retention_days: int
    deletion_protection: bool
    cors_origins: tuple[str, ...]
    throttle_burst_limit: int
    throttle_rate_limit: int
    database_min_capacity: float
    database_max_capacity: float
    database_seconds_until_auto_pause: int
    database_backup_retention_days: int
    rds_proxy: bool
    vpc_egress: str
    orders_concurrency: int
    fulfilment_concurrency: int
    worker_batch_size: int
    worker_max_concurrency: int
    log_level: str
    alarm_email: str  # "" for no subscription
    alarm_api_5xx_rate_percent: int
    alarm_api_latency_p99_ms: int
    snap_start: bool = False  # last, as the one field with a default: Pulumi.yaml's own

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError("invalid stack configuration: " + "; ".join(problems))

    def _problems(self) -> Iterator[str]:
        if not self.region:
            yield "aws:region must be set"
        if not _ENVIRONMENT.fullmatch(self.environment):
            yield f"environment {self.environment!r} must be lower-case letters, digits and '-'"
        if self.lambda_architecture not in ARCHITECTURES:
            yield f"lambdaArchitecture must be one of {ARCHITECTURES}"
        if self.lambda_memory_mb not in MEMORY_MB:
            yield f"lambdaMemoryMb must be between {MEMORY_MB.start} and {MEMORY_MB.stop - 1}"
        if not _PYTHON_RUNTIME.fullmatch(self.lambda_runtime):
            yield f"lambdaRuntime {self.lambda_runtime!r} must be a Python runtime like python3.13"
        elif self.snap_start and _minor(self.python_version) < SNAP_START_MINIMUM_MINOR:
            yield f"snapStart needs python3.{SNAP_START_MINIMUM_MINOR} or newer"
        if self.lambda_timeout_seconds not in TIMEOUT_SECONDS:
            yield f"lambdaTimeoutSeconds must be between 1 and {TIMEOUT_SECONDS.stop - 1}"
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            yield f"logRetentionDays must be one of {sorted(LOG_RETENTION_DAYS)}"
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                yield f"corsOrigins entry {origin!r} must be '*' or scheme://host[:port]"
        if self.throttle_burst_limit <= 0 or self.throttle_rate_limit <= 0:
            yield "throttleBurstLimit and throttleRateLimit must be positive"
        yield from self._database_problems()
        if self.vpc_egress not in VPC_EGRESS:
            yield f"vpcEgress must be one of {VPC_EGRESS}"
        if self.orders_concurrency < 1:
            yield "ordersConcurrency must be at least 1"
        yield from self._fulfilment_problems()
        yield from self._monitoring_problems()

    def _monitoring_problems(self) -> Iterator[str]:
        if self.log_level not in LOG_LEVELS:
            yield f"logLevel must be one of {list(LOG_LEVELS)}"
        if self.alarm_email and not _EMAIL.fullmatch(self.alarm_email):
            yield f"alarmEmail {self.alarm_email!r} must be an e-mail address, or empty for none"
        if self.alarm_api_5xx_rate_percent not in API_5XX_PERCENT:
            yield "alarmApi5xxRatePercent must be between 1 and 100"
        if self.alarm_api_latency_p99_ms not in API_LATENCY_MS:
            yield f"alarmApiLatencyP99Ms must be between 1 and {API_LATENCY_MS.stop - 1}"

    def _fulfilment_problems(self) -> Iterator[str]:
        if self.fulfilment_concurrency < 1:
            yield "fulfilmentConcurrency must be at least 1"
        if self.worker_batch_size not in WORKER_BATCH_SIZE:
            yield f"workerBatchSize must be between 1 and {WORKER_BATCH_SIZE.stop - 1}"
        if self.worker_max_concurrency not in WORKER_MAX_CONCURRENCY:
            yield f"workerMaxConcurrency must be between 2 and {WORKER_MAX_CONCURRENCY.stop - 1}"
        if not self.rds_proxy and self.database_connections > DIRECT_CONNECTION_BUDGET:
            yield (
                f"ordersConcurrency + {len(DATABASE_STEPS)} x fulfilmentConcurrency + "
                f"{SINGLE_INSTANCE_DATABASE_FUNCTIONS} is {self.database_connections} database "
                f"connections, more than {DIRECT_CONNECTION_BUDGET} without rdsProxy"
            )

    @property
    def database_connections(self) -> int:
        """The most connections the database-bound functions may hold at once, one an instance."""
        return (
            self.orders_concurrency
            + len(DATABASE_STEPS) * self.fulfilment_concurrency
            + SINGLE_INSTANCE_DATABASE_FUNCTIONS
        )

    def _database_problems(self) -> Iterator[str]:
        low, high = self.database_min_capacity, self.database_max_capacity
        for key, value in (("databaseMinCapacity", low), ("databaseMaxCapacity", high)):
            if not (0 <= value <= MAX_ACU and float(value * 2).is_integer()):
                yield f"{key} must be between 0 and {MAX_ACU} ACUs in steps of 0.5"
        if high < 1:
            yield "databaseMaxCapacity must be at least 1 ACU"
        if low > high:
            yield "databaseMinCapacity must not exceed databaseMaxCapacity"
        if self.database_seconds_until_auto_pause not in AUTO_PAUSE_SECONDS:
            yield "databaseSecondsUntilAutoPause must be between 300 and 86400"
        if self.database_backup_retention_days not in BACKUP_RETENTION_DAYS:
            yield "databaseBackupRetentionDays must be between 1 and 35"
        if self.rds_proxy and low == 0:
            # RDS Proxy holds connections to the database open, so it could never pause.
            yield "rdsProxy needs databaseMinCapacity of at least 0.5 (proxied, it never pauses)"

    @property
    def python_version(self) -> str:
        """The runtime's Python version, for which the layer is built: python3.13 -> 3.13."""
        match = _PYTHON_RUNTIME.fullmatch(self.lambda_runtime)
        assert match is not None  # checked in __post_init__
        return match.group(1)

    @classmethod
    def load(cls) -> "StackConfig":
        config = pulumi.Config()
        origins = config.require_object("corsOrigins")
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise ValueError("corsOrigins must be a list of strings")
        return cls(
            region=pulumi.Config("aws").require("region"),
            environment=config.require("environment"),
            lambda_architecture=config.require("lambdaArchitecture"),
            lambda_memory_mb=config.require_int("lambdaMemoryMb"),
            lambda_runtime=config.require("lambdaRuntime"),
            lambda_timeout_seconds=config.require_int("lambdaTimeoutSeconds"),
            log_retention_days=config.require_int("logRetentionDays"),
            deletion_protection=config.require_bool("deletionProtection"),
            cors_origins=tuple(origins),
            throttle_burst_limit=config.require_int("throttleBurstLimit"),
            throttle_rate_limit=config.require_int("throttleRateLimit"),
            database_min_capacity=config.require_float("databaseMinCapacity"),
            database_max_capacity=config.require_float("databaseMaxCapacity"),
            database_seconds_until_auto_pause=config.require_int("databaseSecondsUntilAutoPause"),
            database_backup_retention_days=config.require_int("databaseBackupRetentionDays"),
            rds_proxy=config.require_bool("rdsProxy"),
            snap_start=config.require_bool("snapStart"),
            vpc_egress=config.require("vpcEgress"),
            orders_concurrency=config.require_int("ordersConcurrency"),
            fulfilment_concurrency=config.require_int("fulfilmentConcurrency"),
            worker_batch_size=config.require_int("workerBatchSize"),
            worker_max_concurrency=config.require_int("workerMaxConcurrency"),
            log_level=config.require("logLevel"),
            alarm_email=config.get("alarmEmail") or "",  # its default, "", reads as unset
            alarm_api_5xx_rate_percent=config.require_int("alarmApi5xxRatePercent"),
            alarm_api_latency_p99_ms=config.require_int("alarmApiLatencyP99Ms"),
        )
