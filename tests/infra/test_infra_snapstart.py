"""SnapStart: off by default; when on, published versions behind an alias that the API invokes; and
the entries build before the snapshot what their first event would, never a connection."""

import random
import socket
import sys
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest
from flask import Flask
from moto import mock_aws

from infra.api import HttpApi, HttpApiArgs
from infra.functions import (
    LIVE_ALIAS,
    FunctionRuntime,
    LambdaFunction,
    LambdaFunctionArgs,
    qualified_invoke_arn,
)
from local.runtime import fresh_handler
from services.common import openapi, settings
from services.orders.fulfilment import Steps
from services.routes import Access, Route
from tests.infra.conftest import MONITOR
from tests.infra.mocking import ACCOUNT, REGION, Declared, pulumi_test

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
RUNTIME = FunctionRuntime("python3.13", "arm64", 128, 3, 1, "shop/test")


# --- the stack setting ---------------------------------------------------------------------------


def test_snap_start_is_a_documented_setting_off_by_default(project_file: dict[str, Any]) -> None:
    declared = project_file["config"]["snapStart"]

    assert (declared["type"], declared["default"]) == ("boolean", False)
    assert "alias" in declared["description"]


@pulumi_test
def test_by_default_no_function_publishes_versions_or_has_an_alias(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(args: list[Any]) -> None:
        integration_uri, invoke_arn = args
        assert program["config"].snap_start is False
        assert declared.of_type(ALIAS) == []
        for function in declared.of_type(FUNCTION):
            assert not function.inputs.get("publish"), function.name
            assert not function.inputs.get("snapStart"), function.name
        assert integration_uri == invoke_arn  # the API invokes the function itself

    return pulumi.Output.all(
        program["api"].integrations["products"].integration_uri,
        program["products"].invoke_arn,
    ).apply(check)


def test_functions_invoked_unpublished_never_get_snap_start(program: dict[str, Any]) -> None:
    # The relay's schedule and the deploy's migration call the function, not an alias.
    assert program["WITHOUT_SNAP_START"] == {"relay", "migrate"}


@pytest.mark.parametrize(("runtime", "valid"), [("python3.11", False), ("python3.12", True)])
def test_snap_start_needs_python_3_12(program: dict[str, Any], runtime: str, valid: bool) -> None:
    config = program["config"]
    if valid:
        assert replace(config, snap_start=True, lambda_runtime=runtime).snap_start
    else:
        with pytest.raises(ValueError, match=r"snapStart needs python3\.12"):
            replace(config, snap_start=True, lambda_runtime=runtime)


# --- a function with SnapStart, and the API in front of it ----------------------------------------


def _function(tmp_path: Path, name: str, snap_start: bool) -> LambdaFunction:
    code = tmp_path / f"{name}.zip"
    code.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: the hash is all the mocks read
    args = LambdaFunctionArgs(
        "services.products.handler.handler", code, RUNTIME, "products", snap_start=snap_start
    )
    return LambdaFunction(name, args)


def _function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:serverless-ecommerce-test-{name}"


@pulumi_test
def test_snap_start_publishes_versions_behind_the_live_alias(tmp_path: Path) -> Any:
    function = _function(tmp_path, "snap-probe", snap_start=True)
    assert function.alias is not None
    assert function.qualifier == LIVE_ALIAS
    alias = function.alias

    def check(args: list[Any]) -> None:
        publish, snap, alias_name, alias_function, target_arn, target_invoke, invoke, urn = args
        assert publish is True
        assert snap == {"apply_on": "PublishedVersions"}
        assert (alias_name, alias_function) == (LIVE_ALIAS, "serverless-ecommerce-test-snap-probe")
        assert target_arn == f"{_function_arn('snap-probe')}:live"
        assert target_invoke == qualified_invoke_arn(invoke, LIVE_ALIAS)
        assert target_invoke.endswith(f"/functions/{_function_arn('snap-probe')}:live/invocations")
        # The alias names the function's version output: it moves with every published version.
        assert urn in MONITOR.dependencies[(ALIAS, "snap-probe-live")]

    return pulumi.Output.all(
        function.function.publish,
        function.function.snap_start,
        alias.name,
        alias.function_name,
        function.target_arn,
        function.target_invoke_arn,
        function.invoke_arn,
        function.function.urn,
    ).apply(check)


@pulumi_test
def test_without_snap_start_invokers_target_the_function(tmp_path: Path) -> Any:
    function = _function(tmp_path, "plain-probe", snap_start=False)
    assert (function.alias, function.qualifier) == (None, None)

    def check(args: list[Any]) -> None:
        publish, snap, target_arn, arn, target_invoke, invoke = args
        assert not publish
        assert snap is None
        assert (target_arn, target_invoke) == (arn, invoke)

    return pulumi.Output.all(
        function.function.publish,
        function.function.snap_start,
        function.target_arn,
        function.arn,
        function.target_invoke_arn,
        function.invoke_arn,
    ).apply(check)


@pulumi_test
def test_the_api_invokes_the_alias_and_may_invoke_only_it(tmp_path: Path) -> Any:
    function = _function(tmp_path, "snap-api-probe", snap_start=True)
    api = HttpApi(
        "snap-api",
        HttpApiArgs(
            routes=(Route("GET", "/products", "products", Access.PUBLIC),),
            functions={"products": function},
            user_pool_id="pool",
            user_pool_client_id="client",
            region=REGION,
            cors_origins=(),
            throttle_burst_limit=1,
            throttle_rate_limit=1,
            log_retention_days=1,
        ),
    )

    def check(args: list[Any]) -> None:
        uri, target_invoke, function_name, qualifier = args
        assert uri == target_invoke
        assert uri.endswith(f"{_function_arn('snap-api-probe')}:live/invocations")
        assert (function_name, qualifier) == ("serverless-ecommerce-test-snap-api-probe", "live")

    return pulumi.Output.all(
        api.integrations["products"].integration_uri,
        function.target_invoke_arn,
        api.permissions["products"].function,
        api.permissions["products"].qualifier,
    ).apply(check)


def test_qualified_invoke_arn_refuses_what_is_not_an_invoke_arn() -> None:
    with pytest.raises(ValueError, match="invoke ARN"):
        qualified_invoke_arn(_function_arn("x"), LIVE_ALIAS)


# --- what the entries build before the snapshot ---------------------------------------------------


class FakeRuntimeHooks(types.ModuleType):
    """Lambda's `snapshot_restore_py`: records the hooks an entry registers."""

    def __init__(self) -> None:
        super().__init__("snapshot_restore_py")
        self.before: list[Callable[[], object]] = []
        self.after: list[Callable[[], object]] = []

    def register_before_snapshot(self, hook: Callable[[], object]) -> Callable[[], object]:
        self.before.append(hook)
        return hook

    def register_after_restore(self, hook: Callable[[], object]) -> Callable[[], object]:
        self.after.append(hook)
        return hook


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> FakeRuntimeHooks:
    """The runtime hooks, and the environment of a function whose database nobody listens for:
    a build that opened a connection would fail."""
    fake = FakeRuntimeHooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    environment = {
        settings.PRODUCTS_TABLE: "products",
        settings.ORDERS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
        settings.STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:f",
        settings.DATABASE_HOST: "127.0.0.1",
        settings.DATABASE_PORT: str(closed_port),
        settings.DATABASE_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:d",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return fake


@pytest.mark.parametrize(
    ("handler", "built"),
    [
        ("services.products.handler.handler", Flask),
        ("services.users.handler.handler", Flask),
        ("services.orders.handler.handler", Flask),
        ("services.orders.steps.reserve_stock", Steps),
        ("services.orders.relay.handler", object),
        ("services.orders.worker.handler", object),
    ],
)
def test_each_entry_builds_once_before_the_snapshot_without_connecting(
    hooks: FakeRuntimeHooks, handler: str, built: type
) -> None:
    fresh_handler(handler)  # a new container: its module executed afresh

    (build,) = hooks.before  # one build, even for the six step entries of one module
    with mock_aws():
        made = build()

    assert isinstance(made, built)
    assert build() is made  # what the first event uses: built once, before the snapshot


@pytest.mark.parametrize(
    "handler",
    [
        "services.products.handler.handler",
        "services.users.handler.handler",
        "services.orders.handler.handler",
    ],
)
def test_an_api_snapshot_holds_every_routes_request_validators(
    hooks: FakeRuntimeHooks, monkeypatch: pytest.MonkeyPatch, handler: str
) -> None:
    """Built on first use without SnapStart; before a snapshot, all of them."""
    built: list[bool] = []
    monkeypatch.setattr(openapi, "build_request_models", lambda: built.append(True))
    fresh_handler(handler)

    (build,) = hooks.before
    with mock_aws():
        build()

    assert built == [True]


def test_random_is_reseeded_after_each_restore(hooks: FakeRuntimeHooks) -> None:
    fresh_handler("services.products.handler.handler")
    state = random.getstate()

    for restored in hooks.after:
        restored()

    assert random.seed in hooks.after
    assert random.getstate() != state
