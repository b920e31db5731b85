"""Functions: least-privilege IAM, their own log groups, settings from config, the shared layer."""

import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pulumi
import pytest

from infra import packaging
from infra.fulfilment import DATABASE_STEPS
from infra.functions import (
    NETWORK_INTERFACE_ACTIONS,
    WILDCARD_RESOURCE_ACTIONS,
    FunctionRuntime,
    LambdaFunction,
    LambdaFunctionArgs,
    Statement,
)
from services.common import settings
from services.orders.workflow import STEP_FUNCTIONS
from services.routes import FUNCTIONS, LAYERS
from tests.infra.mocking import Declared, MockStack, application_variables, pulumi_test

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
# Managed policies such as AWSLambdaBasicExecutionRole grant logs on "*": none may be attached.
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)


def _statements(document: str) -> list[dict[str, Any]]:
    parsed = json.loads(document)
    assert parsed["Version"] == "2012-10-17"
    return list(parsed["Statement"])


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pulumi_test
def test_policies_name_specific_actions_on_specific_resources(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(_: Any) -> None:
        policies = [created.inputs["policy"] for created in declared.of_type(ROLE_POLICY)]
        assert policies
        for statement in (s for policy in policies for s in _statements(policy)):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement
            assert "NotResource" not in statement
            actions = _as_list(statement["Action"])
            for action in actions:
                assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action
            for resource in _as_list(statement["Resource"]):
                if resource == "*":
                    assert set(actions) <= WILDCARD_RESOURCE_ACTIONS, actions
                else:
                    assert re.fullmatch(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:\S+", resource)
        assert not [c for c in declared.created if c.typ in ATTACHMENTS]
        for role in declared.of_type(ROLE):
            assert not role.inputs.get("managedPolicyArns")

    return pulumi.Output.all(program["products"].policy.policy).apply(check)


def _trusted_service(document: str) -> tuple[str, dict[str, Any] | None]:
    """The one service a role trusts, and the condition it is trusted under, if any."""
    (statement,) = _statements(document)
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sts:AssumeRole")
    assert set(statement) <= {"Effect", "Principal", "Action", "Condition"}  # no other principal
    (service,) = statement["Principal"].values()
    assert list(statement["Principal"]) == ["Service"]
    return str(service), statement.get("Condition")


@pulumi_test
def test_each_role_trusts_only_its_own_service(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    def check(_: Any) -> None:
        trusted = {
            role.name: _trusted_service(role.inputs["assumeRolePolicy"])
            for role in declared.of_type(ROLE)
        }
        assert trusted == {
            **{f"{function}-role": ("lambda.amazonaws.com", None) for function in FUNCTIONS},
            "database-proxy-role": ("rds.amazonaws.com", None),  # rdsProxy is on in the test stack
            # Only for state machines of this account (the confused deputy).
            "fulfilment-role": (
                "states.amazonaws.com",
                {"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
        }

    return program["products"].role.arn.apply(check)


@pulumi_test
def test_only_functions_in_the_vpc_may_manage_network_interfaces(
    program: dict[str, Any], declared: Declared
) -> Any:
    in_vpc = {
        "orders",
        "relay",
        "migrate",
        *(STEP_FUNCTIONS[step] for step in DATABASE_STEPS),
    }
    assert len(in_vpc) == 7

    def check(_: Any) -> None:
        for function in FUNCTIONS:
            (created,) = [c for c in declared.of_type(FUNCTION) if c.name == f"{function}-function"]
            (policy,) = [c for c in declared.of_type(ROLE_POLICY) if c.name == f"{function}-policy"]
            eni = {
                action
                for statement in _statements(policy.inputs["policy"])
                for action in _as_list(statement["Action"])
                if action in NETWORK_INTERFACE_ACTIONS
            }
            if function in in_vpc:
                assert created.inputs["vpcConfig"]["subnetIds"], function
                assert eni == set(NETWORK_INTERFACE_ACTIONS), function
            else:
                assert "vpcConfig" not in created.inputs, function
                assert eni == set(), function

    return program["orders"].function.arn.apply(check)


@pulumi_test
def test_products_function_may_touch_only_its_table_and_own_logs(program: dict[str, Any]) -> Any:
    products: LambdaFunction = program["products"]
    catalog = program["catalog"]

    def check(args: list[Any]) -> None:
        document, table_arn, log_group_arn = args
        granted = {
            (action, resource)
            for statement in _statements(document)
            for action in _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"])
        }
        assert granted == {
            ("dynamodb:GetItem", table_arn),
            ("dynamodb:PutItem", table_arn),
            ("dynamodb:UpdateItem", table_arn),
            ("dynamodb:DeleteItem", table_arn),
            ("dynamodb:Query", f"{table_arn}/index/*"),
            ("logs:CreateLogStream", f"{log_group_arn}:*"),
            ("logs:PutLogEvents", f"{log_group_arn}:*"),
            ("xray:PutTelemetryRecords", "*"),
            ("xray:PutTraceSegments", "*"),
        }

    return pulumi.Output.all(
        products.policy.policy, catalog.table_arn, products.log_group.arn
    ).apply(check)


@pulumi_test
def test_users_function_needs_no_cognito_permission(program: dict[str, Any]) -> Any:
    """It calls only the app client's public operations, which Cognito authorizes itself."""
    users: LambdaFunction = program["users"]

    def check(args: list[Any]) -> None:
        document, log_group_arn, variables = args
        granted = {
            (action, resource)
            for statement in _statements(document)
            for action in _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"])
        }
        assert granted == {
            ("logs:CreateLogStream", f"{log_group_arn}:*"),
            ("logs:PutLogEvents", f"{log_group_arn}:*"),
            ("xray:PutTelemetryRecords", "*"),
            ("xray:PutTraceSegments", "*"),
        }
        assert set(application_variables(variables)) == {"USER_POOL_CLIENT_ID"}

    return pulumi.Output.all(
        users.policy.policy, users.log_group.arn, users.function.environment.variables
    ).apply(check)


@pulumi_test
def test_every_log_group_keeps_logs_for_the_configured_days(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    def check(_: Any) -> None:
        groups = declared.of_type(LOG_GROUP)
        assert {group.name for group in groups} >= {"products-logs", "http-access-logs"}
        for group in groups:
            assert group.inputs.get("retentionInDays") == stack.overrides["logRetentionDays"]

    return pulumi.Output.all(
        program["products"].log_group.arn, program["api"].access_logs.arn
    ).apply(check)


@pulumi_test
def test_function_logs_to_its_own_group_created_first(
    program: dict[str, Any], declared: Declared
) -> Any:
    products: LambdaFunction = program["products"]

    def check(args: list[Any]) -> None:
        name, logging, group_name = args
        assert group_name == f"/aws/lambda/{name}"
        assert logging["log_group"] == group_name
        assert logging["log_format"] == "JSON"
        order = [created.name for created in declared.created]
        assert order.index("products-logs") < order.index("products-function")

    return pulumi.Output.all(
        products.function.name, products.function.logging_config, products.log_group.name
    ).apply(check)


@pulumi_test
def test_function_runs_as_configured_with_tracing_layer_and_table(
    program: dict[str, Any], stack: MockStack
) -> Any:
    function = program["products"].function
    config = program["config"]

    def check(args: list[Any]) -> None:
        arch, memory, runtime, timeout, handler, tracing, layers, env, layer_arn, table = args
        assert arch == [config.lambda_architecture]
        assert memory == stack.overrides["lambdaMemoryMb"]
        assert timeout == stack.overrides["lambdaTimeoutSeconds"]
        assert runtime == config.lambda_runtime
        assert handler == FUNCTIONS["products"].handler
        assert tracing["mode"] == "Active"
        assert layers == [layer_arn]
        assert application_variables(env["variables"]) == {settings.PRODUCTS_TABLE: table}

    return pulumi.Output.all(
        function.architectures,
        function.memory_size,
        function.runtime,
        function.timeout,
        function.handler,
        function.tracing_config,
        function.layers,
        function.environment,
        program["layers"]["dependencies"].arn,
        program["catalog"].table_name,
    ).apply(check)


@pulumi_test
def test_code_hash_is_the_archive_hash_so_unchanged_code_previews_no_change(
    program: dict[str, Any],
) -> Any:
    function = program["products"].function
    archive = packaging.build_function_code(
        FUNCTIONS["products"], packaging.BUILD_DIR, compiler=program["compiler"]
    )

    def check(args: list[Any]) -> None:
        source_code_hash, code = args
        assert source_code_hash == packaging.archive_hash(archive)
        assert code.path == str(archive)

    return pulumi.Output.all(function.source_code_hash, function.code).apply(check)


@pulumi_test
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_is_built_for_the_function_runtime_and_architecture(
    program: dict[str, Any], name: str
) -> Any:
    layer = program["layers"][name].layer
    config = program["config"]

    def check(args: list[Any]) -> None:
        runtimes, architectures, code, source_code_hash, description = args
        assert runtimes == [config.lambda_runtime]
        assert architectures == [config.lambda_architecture]
        assert f"layer-{config.lambda_architecture}-py{config.python_version}-" in code.path
        assert source_code_hash == packaging.archive_hash(Path(code.path))
        assert description == LAYERS[name].description

    return pulumi.Output.all(
        layer.compatible_runtimes,
        layer.compatible_architectures,
        layer.code,
        layer.source_code_hash,
        layer.description,
    ).apply(check)


@pulumi_test
def test_the_postgres_driver_is_in_its_own_layer_only(program: dict[str, Any]) -> Any:
    """Functions without the database do not load libpq and OpenSSL at every cold start."""

    def check(paths: list[Any]) -> None:
        tops = {}
        for name, code in zip(sorted(LAYERS), paths, strict=True):
            with zipfile.ZipFile(code.path) as built:
                tops[name] = {PurePosixPath(entry).parts[1] for entry in built.namelist()}
        assert "psycopg2" in tops["postgres"]
        assert "psycopg2" not in tops["dependencies"]
        assert {"flask", "pydantic"} <= tops["dependencies"]
        assert not {"flask", "pydantic"} & tops["postgres"]
        assert "spectree" not in tops["dependencies"]  # the OpenAPI writer runs at build time
        # A module in two layers: one copy would shadow the other (metadata aside).
        assert not tops["dependencies"] & tops["postgres"]

    return pulumi.Output.all(
        *(program["layers"][name].layer.code for name in sorted(LAYERS))
    ).apply(check)


@pulumi_test
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_has_the_layers_its_spec_names(program: dict[str, Any], name: str) -> Any:
    wanted = [program["layers"][layer].arn for layer in FUNCTIONS[name].layers]

    def check(args: list[Any]) -> None:
        layers, *arns = args
        assert layers == arns

    return pulumi.Output.all(program["functions"][name].function.layers, *wanted).apply(check)


@pytest.mark.parametrize("action", ["*", "dynamodb:*", "s3:Get*", "dynamodb", "iam:Pass Role"])
def test_statements_refuse_wildcard_or_malformed_actions(action: str) -> None:
    with pytest.raises(ValueError, match="action"):
        Statement((action,), ("arn:aws:dynamodb:eu-west-1:123456789012:table/t",))


def test_statements_allow_resource_star_only_for_the_listed_actions() -> None:
    Statement(tuple(sorted(WILDCARD_RESOURCE_ACTIONS)), ("*",))
    with pytest.raises(ValueError, match=r"resource '\*'"):
        Statement(("dynamodb:GetItem",), ("*",))


RUNTIME = FunctionRuntime("python3.13", "arm64", 128, 3, 1, "shop/test")


@pytest.mark.parametrize("key", ["DATABASE_PASSWORD", "DATABASE_SECRET", "API_TOKEN"])
def test_function_environment_refuses_what_looks_like_a_secret(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        LambdaFunctionArgs("m.handler", tmp_path, RUNTIME, "orders", environment={key: "x"})


def test_function_environment_accepts_the_arn_of_a_secret(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"

    args = LambdaFunctionArgs(
        "m.handler", tmp_path, RUNTIME, "orders", environment={settings.DATABASE_SECRET_ARN: arn}
    )

    assert args.environment == {"DATABASE_SECRET_ARN": arn}


def test_reserved_concurrency_of_zero_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved concurrency"):
        LambdaFunctionArgs("m.handler", tmp_path, RUNTIME, "orders", reserved_concurrency=0)
