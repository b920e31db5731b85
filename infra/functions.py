"""Lambda functions, each with its own role, log group and least-privilege policy; the layer."""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.packaging import archive_hash
from infra.policy import LOG_DELIVERY_ACTIONS as LOG_DELIVERY_ACTIONS
from infra.policy import NETWORK_INTERFACE_ACTIONS as NETWORK_INTERFACE_ACTIONS
from infra.policy import STATE_MACHINE_TRACING_ACTIONS as STATE_MACHINE_TRACING_ACTIONS
from infra.policy import TRACING_ACTIONS as TRACING_ACTIONS
from infra.policy import PolicyKind, listed, unlisted

# The one list of what may be granted on resource "*", and why, is infra.policy's; its action
# groups are named here too for the modules and tests that build or expect those statements.
WILDCARD_RESOURCE_ACTIONS = listed(PolicyKind.IDENTITY)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")  # the group itself is created here
_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+")  # service:Action, no wildcard
# Configuration, never credentials: secrets belong in Secrets Manager, read at run time.
_SECRET_HINTS = ("PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY", "CREDENTIAL")
# What Powertools reads on every function; set here from the function's service and the stack,
# never by a caller.
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
POWERTOOLS_VARIABLES = (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL)
# Python's level names (which Powertools takes) and Lambda's for the same level. Lambda drops
# lines below its own application log level, and Powertools prefers Lambda's level to
# POWERTOOLS_LOG_LEVEL, so both are set from the one setting.
LOG_LEVELS = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "CRITICAL": "FATAL",
}


@dataclass(frozen=True)
class Statement:
    """An Allow statement: specific actions on specific resources."""

    actions: tuple[str, ...]
    resources: tuple[pulumi.Input[str], ...]

    def __post_init__(self) -> None:
        if not self.actions or not self.resources:
            raise ValueError("a statement needs at least one action and one resource")
        for action in self.actions:
            if not _ACTION.fullmatch(action):
                raise ValueError(f"action {action!r} must be one service:Action, no wildcard")
        wild = unlisted(PolicyKind.IDENTITY, self.actions, self.resources)
        if wild:
            raise ValueError(f"resource '*' is allowed only for infra.policy's list, not {wild}")


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """The JSON policy of the statements, once every resource ARN is known."""
    resolved = [pulumi.Output.all(*statement.resources) for statement in statements]

    def render(resources: list[list[str]]) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": list(s.actions), "Resource": arns}
                    for s, arns in zip(statements, resources, strict=True)
                ],
            },
            sort_keys=True,
        )

    return pulumi.Output.all(*resolved).apply(render)


LAMBDA_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    },
    sort_keys=True,
)


@dataclass(frozen=True)
class FunctionRuntime:
    """What every function of the stack shares: runtime, architecture, sizing, logs, metrics."""

    runtime: str
    architecture: str
    memory_mb: int
    timeout_seconds: int
    log_retention_days: int
    metrics_namespace: str  # the business metrics' CloudWatch namespace, one per stack
    log_level: str = "INFO"  # a key of LOG_LEVELS

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log level {self.log_level!r} must be one of {list(LOG_LEVELS)}")


@dataclass(frozen=True)
class FunctionVpc:
    """Where a function attaches to a VPC: private subnets and its security groups."""

    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_ids: Sequence[pulumi.Input[str]]


@dataclass
class LambdaFunctionArgs:
    handler: str
    code: Path  # a zip from infra.packaging
    runtime: FunctionRuntime
    service: str  # services/routes.py Function.service: its logs' service key, metrics' dimension
    layers: Sequence[pulumi.Input[str]] = ()
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    statements: Sequence[Statement] = ()
    description: str = ""
    vpc: FunctionVpc | None = None  # None: outside any VPC, with Lambda's own internet access
    reserved_concurrency: int | None = None  # None: draws on the account's unreserved pool
    timeout_seconds: int | None = None  # None: the runtime's timeout
    # Publish a version per deploy, snapshotted by SnapStart, behind the alias LIVE_ALIAS; for a
    # function invoked through `target_arn` (the relay's schedule and the migration call the
    # unpublished function, which SnapStart never serves).
    snap_start: bool = False

    def __post_init__(self) -> None:
        if not self.service:
            raise ValueError("a function needs the service it belongs to")
        for key in self.environment:
            if key.startswith("POWERTOOLS_"):
                raise ValueError(
                    f"environment variable {key!r} is set from the runtime and service"
                )
            # A secret's ARN names where the secret is, which the function reads at run time.
            if key.upper().endswith("_ARN"):
                continue
            if any(hint in key.upper() for hint in _SECRET_HINTS):
                raise ValueError(f"environment variable {key!r} looks like a secret")
        if self.vpc is not None and not (self.vpc.subnet_ids and self.vpc.security_group_ids):
            raise ValueError("a function in a VPC needs subnets and security groups")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            raise ValueError("reserved concurrency must be at least 1 (0 would stop the function)")


def stack_prefix() -> str:
    """project-stack, which begins every name this stack gives: letters, digits, '-' and '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{pulumi.get_project()}-{pulumi.get_stack()}")


def physical_name(name: str) -> str:
    """A name unique to this stack, usable as a Lambda function name."""
    full = f"{stack_prefix()}-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}"
    if len(full) > 64:
        raise ValueError(f"function name {full!r} is longer than Lambda's 64 characters")
    return full


LIVE_ALIAS = "live"  # the alias a SnapStart function is invoked through
_INVOCATIONS = "/invocations"


def qualified_invoke_arn(invoke_arn: str, qualifier: str) -> str:
    """API Gateway's invoke URI of a function's alias or version: the function's own invoke URI
    (…/functions/<function ARN>/invocations) with the qualified ARN (<function ARN>:<qualifier>)."""
    if not invoke_arn.endswith(_INVOCATIONS):
        raise ValueError(f"{invoke_arn!r} is not a Lambda invoke ARN")
    return f"{invoke_arn.removesuffix(_INVOCATIONS)}:{qualifier}{_INVOCATIONS}"


def powertools_environment(args: LambdaFunctionArgs) -> dict[str, str]:
    """Powertools' settings: the function's service, the stack's namespace and its log level."""
    return {
        POWERTOOLS_SERVICE_NAME: args.service,
        POWERTOOLS_METRICS_NAMESPACE: args.runtime.metrics_namespace,
        POWERTOOLS_LOG_LEVEL: args.runtime.log_level,
    }


class LambdaFunction(pulumi.ComponentResource):
    """A traced function that writes only to its own log group and touches only what it is given."""

    def __init__(
        self, name: str, args: LambdaFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:functions:LambdaFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function_name = physical_name(name)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.runtime.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=LAMBDA_TRUST_POLICY,
            description=f"Execution role of the {function_name} function",
            opts=child,
        )
        statements = [
            *args.statements,
            Statement(LOG_ACTIONS, (self.log_group.arn.apply(lambda arn: f"{arn}:*"),)),
            Statement(TRACING_ACTIONS, ("*",)),
        ]
        if args.vpc is not None:
            statements.append(Statement(NETWORK_INTERFACE_ACTIONS, ("*",)))
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id, policy=policy_document(statements), opts=child
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description=args.description,
            role=self.role.arn,
            handler=args.handler,
            runtime=args.runtime.runtime,
            architectures=[args.runtime.architecture],
            memory_size=args.runtime.memory_mb,
            timeout=args.timeout_seconds or args.runtime.timeout_seconds,
            code=pulumi.FileArchive(str(args.code)),
            source_code_hash=archive_hash(args.code),
            layers=list(args.layers),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={**args.environment, **powertools_environment(args)}
            ),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            vpc_config=(
                aws.lambda_.FunctionVpcConfigArgs(
                    subnet_ids=list(args.vpc.subnet_ids),
                    security_group_ids=list(args.vpc.security_group_ids),
                )
                if args.vpc is not None
                else None
            ),
            reserved_concurrent_executions=args.reserved_concurrency,
            publish=args.snap_start,
            snap_start=(
                aws.lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions")
                if args.snap_start
                else None
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON",
                log_group=self.log_group.name,
                application_log_level=LOG_LEVELS[args.runtime.log_level],
            ),
            # The log group must exist (with its retention) before Lambda would create its own,
            # and the policy must be in place before the first invocation.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.policy]),
        )
        self.name = self.function.name
        self.arn = self.function.arn
        self.invoke_arn = self.function.invoke_arn
        self.service = args.service
        # What invokers name: the alias of the latest published version with SnapStart (each
        # deploy moves it), otherwise the function itself.
        self.alias: aws.lambda_.Alias | None = None
        self.qualifier: str | None = None
        self.target_arn: pulumi.Output[str] = self.arn
        self.target_invoke_arn: pulumi.Output[str] = self.invoke_arn
        if args.snap_start:
            self.alias = aws.lambda_.Alias(
                f"{name}-{LIVE_ALIAS}",
                name=LIVE_ALIAS,
                function_name=self.function.name,
                function_version=self.function.version,
                description="The latest published version, restored from its SnapStart snapshot",
                opts=child,
            )
            self.qualifier = LIVE_ALIAS
            # The alias's ARN and invoke URI, through its name, so nothing uses them before it
            # exists.
            self.target_arn = pulumi.Output.concat(self.arn, ":", self.alias.name)
            self.target_invoke_arn = pulumi.Output.all(self.invoke_arn, self.alias.name).apply(
                lambda parts: qualified_invoke_arn(parts[0], parts[1])
            )
        self.register_outputs(
            {
                "name": self.name,
                "arn": self.arn,
                "invokeArn": self.invoke_arn,
                "targetArn": self.target_arn,
                "service": self.service,
            }
        )


@dataclass
class DependencyLayerArgs:
    archive: Path  # a layer zip from infra.packaging.build_layer
    runtime: str
    architecture: str
    description: str


class DependencyLayer(pulumi.ComponentResource):
    """A layer of the functions' third-party dependencies, built for the Lambda platform."""

    def __init__(
        self, name: str, args: DependencyLayerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:functions:DependencyLayer", name, None, opts)
        self.layer = aws.lambda_.LayerVersion(
            f"{name}-layer",
            layer_name=physical_name(name),
            code=pulumi.FileArchive(str(args.archive)),
            source_code_hash=archive_hash(args.archive),
            compatible_runtimes=[args.runtime],
            compatible_architectures=[args.architecture],
            description=args.description,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.layer.arn
        self.register_outputs({"arn": self.arn})
