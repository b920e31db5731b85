"""The Pulumi program under mocks: the stack's config from Pulumi.yaml, one recorded program run.

Mocks are set once, here, before any test declares a resource. The program runs once per
session inside `pulumi.runtime.test`, which waits for every registration, so the record of what
it declared is complete before any test reads it.
"""

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from tests.infra.mocking import (
    ACCOUNT,
    REGION,
    USER_POOL_ID,
    Declared,
    MockStack,
    ParentRecordingMonitor,
    RecordingMocks,
    pulumi_test,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILE = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
PROJECT = PROJECT_FILE["name"]
STACK = "test"

# Every value differs from its Pulumi.yaml default, so the tests prove that config reaches AWS.
OVERRIDES: dict[str, Any] = {
    "environment": "staging",
    "lambdaMemoryMb": 1024,
    "lambdaTimeoutSeconds": 15,
    "logRetentionDays": 30,
    "deletionProtection": True,
    "corsOrigins": ["https://shop.example.com"],
    "throttleBurstLimit": 7,
    "throttleRateLimit": 3,
    "databaseMinCapacity": "0.5",  # so the database cannot pause, which the proxy needs
    "databaseMaxCapacity": "4",
    "databaseSecondsUntilAutoPause": 900,
    "databaseBackupRetentionDays": 14,
    "rdsProxy": True,
    "vpcEgress": "nat",
    "ordersConcurrency": 5,
    "fulfilmentConcurrency": 3,
    "workerBatchSize": 4,
    "workerMaxConcurrency": 3,
    "logLevel": "DEBUG",
    "alarmEmail": "ops@example.com",
    "alarmApi5xxRatePercent": 2,
    "alarmApiLatencyP99Ms": 2500,
}


def stack_config() -> dict[str, Any]:
    """Pulumi.yaml's config as the CLI applies it (a default or a fixed value), then the stack's."""
    values = {}
    for key, declared in PROJECT_FILE["config"].items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        values[full_key] = declared["value"] if "value" in declared else declared["default"]
    values.update({f"{PROJECT}:{key}": value for key, value in OVERRIDES.items()})
    values["aws:region"] = REGION
    return values


def _wire(value: Any) -> str:
    """Config travels as strings: lists as JSON, booleans in lower case, as the CLI sends them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


MOCKS = RecordingMocks()
MONITOR = ParentRecordingMonitor(MOCKS)
pulumi.runtime.set_mocks(MOCKS, project=PROJECT, stack=STACK, preview=False, monitor=MONITOR)
pulumi.runtime.set_all_config({key: _wire(value) for key, value in stack_config().items()})


@pytest.fixture(scope="session")
def project_file() -> dict[str, Any]:
    """Pulumi.yaml, parsed."""
    parsed: dict[str, Any] = PROJECT_FILE
    return parsed


@pytest.fixture(scope="session")
def mocks() -> RecordingMocks:
    return MOCKS


@pytest.fixture(scope="session")
def stack() -> MockStack:
    return MockStack(REGION, ACCOUNT, USER_POOL_ID, OVERRIDES)


@pytest.fixture(scope="session")
def program() -> dict[str, Any]:
    """The globals of `__main__.py` after one complete run under the mocks."""
    namespace: dict[str, Any] = {}

    @pulumi_test
    def run() -> None:
        namespace.update(runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__pulumi__"))

    run()
    namespace["__declared__"] = Declared(
        list(MOCKS.created), dict(MONITOR.parents), dict(MONITOR.dependencies)
    )
    return namespace


@pytest.fixture(scope="session")
def declared(program: dict[str, Any]) -> Declared:
    """What `program` declared, recorded once every registration had finished."""
    found: Declared = program["__declared__"]
    return found
