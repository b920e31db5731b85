"""Pulumi mocks that answer like AWS and record what the program declares."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import pulumi
from pulumi.runtime.mocks import MockMonitor

REGION = "eu-west-1"
ACCOUNT = "123456789012"
USER_POOL_ID = f"{REGION}_TestPool1"
API_ID = "abc123xyz"

P = ParamSpec("P")
R = TypeVar("R")


def pulumi_test(fn: Callable[P, R]) -> Callable[P, None]:
    """`pulumi.runtime.test`, typed: runs the test and awaits the Output it returns.

    A check must run inside the returned `Output.apply`; asserting on an Output outside it
    compares Output objects and passes whatever the program declares.
    """
    wrapped: Callable[P, None] = pulumi.runtime.test(fn)  # type: ignore[no-untyped-call]
    return wrapped


@dataclass(frozen=True)
class Created:
    typ: str
    name: str
    inputs: dict[str, Any]  # camelCase, as they travel to the engine
    provider: str | None  # "<provider urn>::<id>", or "" for the default provider


@dataclass(frozen=True)
class Declared:
    """The resources a program run declared, with each one's parent URN."""

    created: list[Created]
    parents: dict[tuple[str, str], str]  # (type, name) -> parent URN

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


def _state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A plausible physical id and the outputs AWS would add to the inputs."""
    physical = inputs.get("name") or f"{name}-a1b2c3d"  # Pulumi's auto-name adds a suffix
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
    if typ == "aws:lambda/layerVersion:LayerVersion":
        return f"{name}-id", {"arn": _arn("lambda", f"layer:{inputs['layerName']}:1")}
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

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}, None
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test"}, None
        return {}, None

    def named(self, name: str) -> Created:
        (found,) = [created for created in self.created if created.name == name]
        return found


class ParentRecordingMonitor(MockMonitor):
    """The mock monitor, also noting each resource's parent URN (Mocks are not told it)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.parents: dict[tuple[str, str], str] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method it extends
        self.parents[(request.type, request.name)] = request.parent
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]
