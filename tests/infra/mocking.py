"""Pulumi mocks that answer like AWS and record what the program declares."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import pulumi
from pulumi.runtime.mocks import MockMonitor

from infra.functions import POWERTOOLS_VARIABLES

REGION = "eu-west-1"
ACCOUNT = "123456789012"
USER_POOL_ID = f"{REGION}_TestPool1"
API_ID = "abc123xyz"
AVAILABILITY_ZONES = [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
DYNAMODB_PREFIX_LIST = "pl-6fa54006"
RDS_HOST_SUFFIX = f"c1a2b3d4e5f6.{REGION}.rds.amazonaws.com"

P = ParamSpec("P")
R = TypeVar("R")


def pulumi_test(fn: Callable[P, R]) -> Callable[P, None]:
    """`pulumi.runtime.test`, typed: runs the test and awaits the Output it returns.

    A check must run inside the returned `Output.apply`; asserting on an Output outside it
    compares Output objects and passes whatever the program declares.
    """
    wrapped: Callable[P, None] = pulumi.runtime.test(fn)  # type: ignore[no-untyped-call]
    return wrapped


def application_variables(variables: dict[str, str]) -> dict[str, str]:
    """A function's environment without the Powertools settings every function gets."""
    return {key: value for key, value in variables.items() if key not in POWERTOOLS_VARIABLES}


@dataclass(frozen=True)
class Created:
    typ: str
    name: str
    inputs: dict[str, Any]  # camelCase, as they travel to the engine
    provider: str | None  # "<provider urn>::<id>", or "" for the default provider


@dataclass(frozen=True)
class Declared:
    """The resources a program run declared, with each one's parent URN and dependencies."""

    created: list[Created]
    parents: dict[tuple[str, str], str]  # (type, name) -> parent URN
    dependencies: dict[tuple[str, str], list[str]]  # (type, name) -> URNs it depends on

    def of_type(self, typ: str) -> list[Created]:
        return [resource for resource in self.created if resource.typ == typ]


@dataclass(frozen=True)
class MockStack:
    """What the mocked stack was given, for tests to compare the program's resources with."""

    region: str
    account: str
    user_pool_id: str
    overrides: dict[str, Any]


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _rds_state(typ: str, physical: str) -> dict[str, Any] | None:
    if typ == "aws:rds/cluster:Cluster":
        return {
            "arn": _arn("rds", f"cluster:{physical}"),
            "clusterIdentifier": physical,
            "endpoint": f"{physical}.cluster-{RDS_HOST_SUFFIX}",
            # RDS names the managed secret; the program only ever sees its ARN.
            "masterUserSecrets": [
                {
                    "secretArn": _arn("secretsmanager", f"secret:rds!cluster-{physical}-AbCdEf"),
                    "secretStatus": "active",
                    "kmsKeyId": _arn("kms", "key/aws-secretsmanager"),
                }
            ],
        }
    if typ == "aws:rds/clusterInstance:ClusterInstance":
        return {"arn": _arn("rds", f"db:{physical}"), "endpoint": f"{physical}.{RDS_HOST_SUFFIX}"}
    if typ == "aws:rds/proxy:Proxy":
        return {
            "name": physical,
            "arn": _arn("rds", f"db-proxy:prx-{physical}"),
            "endpoint": f"{physical}.proxy-{RDS_HOST_SUFFIX}",
        }
    if typ == "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup":
        return {"name": "default"}
    return None


def _monitoring_state(typ: str, name: str, physical: str) -> tuple[str, dict[str, Any]] | None:
    if typ == "aws:kms/key:Key":
        key_id = f"{name}-0000-1111-2222-333344445555"
        return key_id, {"keyId": key_id, "arn": _arn("kms", f"key/{key_id}")}
    if typ == "aws:sns/topic:Topic":
        arn = _arn("sns", physical)
        return arn, {"name": physical, "arn": arn}
    if typ == "aws:sns/topicSubscription:TopicSubscription":
        return f"{name}-id", {"arn": _arn("sns", f"{name}:{name}-id")}
    if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        return physical, {"name": physical, "arn": _arn("cloudwatch", f"alarm:{physical}")}
    if typ == "aws:cloudwatch/dashboard:Dashboard":
        return physical, {"dashboardArn": f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{physical}"}
    return None


def _state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A plausible physical id and the outputs AWS would add to the inputs."""
    physical = inputs.get("name") or f"{name}-a1b2c3d"  # Pulumi's auto-name adds a suffix
    rds = _rds_state(typ, physical)
    if rds is not None:
        return physical, rds
    if typ == "aws:sqs/queue:Queue":
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
        return url, {"name": physical, "url": url, "arn": _arn("sqs", physical)}
    if typ == "aws:ec2/vpc:Vpc":
        return f"{name}-id", {"arn": _arn("ec2", f"vpc/{name}-id")}
    if typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
        gateway = inputs.get("vpcEndpointType") == "Gateway"
        return f"{name}-id", {"prefixListId": DYNAMODB_PREFIX_LIST if gateway else None}
    if typ == "aws:ec2/eip:Eip":
        return f"{name}-id", {"allocationId": f"eipalloc-{name}"}
    if typ == "aws:cloudwatch/eventRule:EventRule":
        return f"{name}-id", {"name": physical, "arn": _arn("events", f"rule/{physical}")}
    if typ == "aws:cognito/userPool:UserPool":
        return USER_POOL_ID, {
            "arn": _arn("cognito-idp", f"userpool/{USER_POOL_ID}"),
            "endpoint": f"cognito-idp.{REGION}.amazonaws.com/{USER_POOL_ID}",
        }
    if typ == "aws:apigatewayv2/api:Api":
        return API_ID, {
            "name": physical,
            "apiEndpoint": f"https://{API_ID}.execute-api.{REGION}.amazonaws.com",
            "executionArn": _arn("execute-api", API_ID),
        }
    if typ == "aws:lambda/function:Function":
        arn = _arn("lambda", f"function:{physical}")
        invoke = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
        return physical, {"name": physical, "arn": arn, "invokeArn": invoke}
    if typ == "aws:sfn/stateMachine:StateMachine":
        arn = _arn("states", f"stateMachine:{physical}")
        return arn, {"name": physical, "arn": arn}
    if typ == "aws:lambda/layerVersion:LayerVersion":
        return f"{name}-id", {"arn": _arn("lambda", f"layer:{inputs['layerName']}:1")}
    monitoring = _monitoring_state(typ, name, physical)
    if monitoring is not None:
        return monitoring
    outputs: dict[str, Any] = {"name": physical}
    if typ == "aws:dynamodb/table:Table":
        outputs["arn"] = _arn("dynamodb", f"table/{physical}")
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        outputs["arn"] = _arn("logs", f"log-group:{physical}")
    elif typ == "aws:iam/role:Role":
        outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{physical}"
    return f"{name}-id", outputs


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would, and records every resource declared."""

    def __init__(self) -> None:
        self.created: list[Created] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.created.append(Created(args.typ, args.name, dict(args.inputs), args.provider))
        physical_id, outputs = _state(args.typ, args.name, args.inputs)
        return physical_id, {**args.inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        """The data sources' answers, with no check failures."""
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}, []
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test"}, []
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zone_ids = [f"euw1-az{index}" for index in range(1, len(AVAILABILITY_ZONES) + 1)]
            return {"id": REGION, "names": AVAILABILITY_ZONES, "zoneIds": zone_ids}, []
        raise NotImplementedError(f"the mocks do not answer {args.token}")

    def named(self, name: str) -> Created:
        (found,) = [created for created in self.created if created.name == name]
        return found


class ParentRecordingMonitor(MockMonitor):
    """The mock monitor, also noting each resource's parent and dependencies (Mocks are not told
    them)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.parents: dict[tuple[str, str], str] = {}
        self.dependencies: dict[tuple[str, str], list[str]] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method it extends
        self.parents[(request.type, request.name)] = request.parent
        self.dependencies[(request.type, request.name)] = list(request.dependencies)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]
