"""The stack as a whole: settings from Pulumi.yaml, one tagged provider, the exported outputs."""

import json
import re
from dataclasses import replace
from typing import Any

import pulumi
import pytest

from infra.config import DIRECT_CONNECTION_BUDGET, StackConfig
from tests.infra.mocking import Declared, MockStack, pulumi_test

AWS_TYPES_PREFIX = "aws:"


def test_every_setting_is_declared_with_type_default_and_description(
    project_file: dict[str, Any],
) -> None:
    project = project_file
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
    for key, declared in project["config"].items():
        assert declared.get("description"), key
        if ":" in key:  # another package's key: Pulumi allows only a value
            assert set(declared) == {"value", "description"}, key
        else:
            assert {"type", "default"} <= set(declared), key


def test_project_defaults_make_a_valid_stack_config(project_file: dict[str, Any]) -> None:
    project = project_file
    defaults = {key: declared.get("default") for key, declared in project["config"].items()}

    config = StackConfig(
        region=project["config"]["aws:region"]["value"],
        environment=defaults["environment"],
        lambda_architecture=defaults["lambdaArchitecture"],
        lambda_memory_mb=defaults["lambdaMemoryMb"],
        lambda_runtime=defaults["lambdaRuntime"],
        lambda_timeout_seconds=defaults["lambdaTimeoutSeconds"],
        log_retention_days=defaults["logRetentionDays"],
        deletion_protection=defaults["deletionProtection"],
        cors_origins=tuple(defaults["corsOrigins"]),
        throttle_burst_limit=defaults["throttleBurstLimit"],
        throttle_rate_limit=defaults["throttleRateLimit"],
        database_min_capacity=float(defaults["databaseMinCapacity"]),
        database_max_capacity=float(defaults["databaseMaxCapacity"]),
        database_seconds_until_auto_pause=defaults["databaseSecondsUntilAutoPause"],
        database_backup_retention_days=defaults["databaseBackupRetentionDays"],
        rds_proxy=defaults["rdsProxy"],
        vpc_egress=defaults["vpcEgress"],
        orders_concurrency=defaults["ordersConcurrency"],
        fulfilment_concurrency=defaults["fulfilmentConcurrency"],
        worker_batch_size=defaults["workerBatchSize"],
        worker_max_concurrency=defaults["workerMaxConcurrency"],
        log_level=defaults["logLevel"],
        alarm_email=defaults["alarmEmail"],
        alarm_api_5xx_rate_percent=defaults["alarmApi5xxRatePercent"],
        alarm_api_latency_p99_ms=defaults["alarmApiLatencyP99Ms"],
    )

    assert config.lambda_architecture == "arm64"
    assert config.cors_origins == ()  # no CORS unless origins are configured
    # The cheapest database that works: it pauses when idle, with no proxy and no NAT gateway.
    assert (config.database_min_capacity, config.database_max_capacity) == (0, 2)
    assert config.database_seconds_until_auto_pause == 600
    assert (config.rds_proxy, config.vpc_egress) == (False, "endpoints")
    assert (config.database_backup_retention_days, config.orders_concurrency) == (7, 10)
    assert (config.fulfilment_concurrency, config.worker_batch_size) == (5, 10)
    assert config.worker_max_concurrency == 2  # the least Lambda allows for an SQS source
    # Without a proxy, the default functions hold at most 10 + 4 x 5 + 2 connections.
    assert config.database_connections == 32
    assert (config.log_level, config.alarm_email) == ("INFO", "")  # no one is e-mailed unasked


def test_project_declares_only_types_pulumi_accepts(project_file: dict[str, Any]) -> None:
    """Pulumi's project schema knows string, integer, boolean and array: no "number"."""
    for key, declared in project_file["config"].items():
        if "type" in declared:
            assert declared["type"] in {"string", "integer", "boolean", "array"}, key


def test_stack_config_is_read_from_the_stack(program: dict[str, Any], stack: MockStack) -> None:
    config: StackConfig = program["config"]

    assert config.region == stack.region
    assert config.environment == stack.overrides["environment"]
    assert config.cors_origins == tuple(stack.overrides["corsOrigins"])
    assert config.deletion_protection is True
    assert config.python_version == "3.13"
    assert config.database_min_capacity == 0.5
    assert config.database_max_capacity == 4
    assert config.database_seconds_until_auto_pause == 900
    assert config.database_backup_retention_days == 14
    assert (config.rds_proxy, config.vpc_egress, config.orders_concurrency) == (True, "nat", 5)
    assert config.fulfilment_concurrency == stack.overrides["fulfilmentConcurrency"]
    assert config.worker_batch_size == stack.overrides["workerBatchSize"]
    assert config.worker_max_concurrency == stack.overrides["workerMaxConcurrency"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lambda_architecture", "arm"),
        ("lambda_memory_mb", 0),
        ("lambda_runtime", "nodejs22.x"),
        ("lambda_timeout_seconds", 901),
        ("log_retention_days", 13),
        ("throttle_burst_limit", 0),
        ("throttle_rate_limit", -1),
        ("cors_origins", ("shop.example.com",)),
        ("environment", "Prod Env"),
        ("database_min_capacity", -0.5),
        ("database_min_capacity", 1.25),  # not a half step
        ("database_min_capacity", 8),  # above the maximum of 4
        ("database_max_capacity", 256.5),
        ("database_max_capacity", float("nan")),
        ("database_seconds_until_auto_pause", 299),
        ("database_seconds_until_auto_pause", 86_401),
        ("database_backup_retention_days", 0),
        ("database_backup_retention_days", 36),
        ("vpc_egress", "internet"),
        ("orders_concurrency", 0),
        ("fulfilment_concurrency", 0),
        ("worker_batch_size", 0),
        ("worker_batch_size", 11),  # more needs a batching window
        ("worker_max_concurrency", 1),  # Lambda's least for an SQS source is 2
        ("worker_max_concurrency", 1_001),
    ],
)
def test_stack_config_refuses_invalid_values(
    program: dict[str, Any], field: str, value: Any
) -> None:
    with pytest.raises(ValueError, match="invalid stack configuration"):
        replace(program["config"], **{field: value})


def test_stack_config_refuses_a_maximum_below_one_acu(program: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="databaseMaxCapacity must be at least 1"):
        replace(program["config"], database_min_capacity=0, database_max_capacity=0.5)


def test_stack_config_refuses_a_proxy_in_front_of_a_pausing_database(
    program: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="rdsProxy needs databaseMinCapacity"):
        replace(program["config"], rds_proxy=True, database_min_capacity=0)
    assert replace(program["config"], rds_proxy=False, database_min_capacity=0).rds_proxy is False


def test_stack_config_refuses_more_database_connections_than_the_budget_without_a_proxy(
    program: dict[str, Any],
) -> None:
    direct = replace(
        program["config"], rds_proxy=False, database_min_capacity=0, fulfilment_concurrency=1
    )
    largest = replace(direct, orders_concurrency=DIRECT_CONNECTION_BUDGET - 2 - 4)
    assert largest.database_connections == DIRECT_CONNECTION_BUDGET  # 1 per step, relay, migrate

    with pytest.raises(ValueError, match="database connections"):
        replace(largest, orders_concurrency=largest.orders_concurrency + 1)
    with pytest.raises(ValueError, match="database connections"):
        replace(largest, fulfilment_concurrency=2)
    # Behind RDS Proxy the functions share the proxy's pool instead.
    assert replace(largest, rds_proxy=True, database_min_capacity=0.5, fulfilment_concurrency=50)


@pulumi_test
def test_every_aws_resource_uses_the_tagged_provider(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    provider = program["provider"]

    def check(args: list[Any]) -> None:
        urn, provider_id = args
        reference = f"{urn}::{provider_id}"
        aws_resources = [c for c in declared.created if c.typ.startswith(AWS_TYPES_PREFIX)]
        assert aws_resources
        for resource in aws_resources:
            assert resource.provider == reference, resource.name
        (provider_inputs,) = [c.inputs for c in declared.of_type("pulumi:providers:aws")]
        assert provider_inputs["region"] == stack.region
        assert json.loads(provider_inputs["defaultTags"])["tags"] == {
            "project": "serverless-ecommerce",
            "stack": "test",
            "environment": stack.overrides["environment"],
        }

    return pulumi.Output.all(provider.urn, provider.id).apply(check)


@pulumi_test
def test_outputs_are_exported(program: dict[str, Any], stack: MockStack) -> Any:
    root = pulumi.runtime.get_root_resource()
    outputs: dict[str, Any] = getattr(root, "outputs", {})
    assert set(outputs) == {
        "apiUrl",
        "userPoolId",
        "userPoolClientId",
        "productsTable",
        "ordersQueueUrl",
        "ordersDeadLetterQueueUrl",
        "databaseEndpoint",
        "stateMachineArn",
        "alarmTopicArn",
        "dashboardName",
    }

    def check(args: list[Any]) -> None:
        api_url, pool_id, client_id, table, queue_url, endpoint, state_machine, *rest = args
        dead_letters, topic, dashboard, *expected = rest
        expected_client, expected_table, expected_queue, proxy_endpoint, machine_arn = expected[:5]
        expected_dead_letters, expected_topic, expected_dashboard = expected[5:]
        assert api_url.startswith("https://")
        assert api_url.endswith(f".execute-api.{stack.region}.amazonaws.com")
        assert pool_id == stack.user_pool_id
        assert client_id == expected_client
        assert table == expected_table
        assert queue_url == expected_queue
        assert queue_url.startswith(f"https://sqs.{stack.region}.amazonaws.com/")
        assert endpoint == proxy_endpoint  # rdsProxy is on in the test stack
        assert state_machine == machine_arn
        assert state_machine.startswith(f"arn:aws:states:{stack.region}:{stack.account}:")
        assert dead_letters == expected_dead_letters != queue_url
        assert topic == expected_topic
        assert topic.startswith(f"arn:aws:sns:{stack.region}:{stack.account}:")
        assert dashboard == expected_dashboard == "serverless-ecommerce-test"

    return pulumi.Output.all(
        outputs["apiUrl"],
        outputs["userPoolId"],
        outputs["userPoolClientId"],
        outputs["productsTable"],
        outputs["ordersQueueUrl"],
        outputs["databaseEndpoint"],
        outputs["stateMachineArn"],
        outputs["ordersDeadLetterQueueUrl"],
        outputs["alarmTopicArn"],
        outputs["dashboardName"],
        program["auth"].client_id,
        program["catalog"].table_name,
        program["orders_queue"].url,
        program["database"].proxy.endpoint,
        program["fulfilment"].arn,
        program["orders_queue"].dead_letter_url,
        program["alarm_topic"].arn,
        program["monitoring"].dashboard.dashboard_name,
    ).apply(check)


@pulumi_test
def test_outputs_hold_nothing_secret(program: dict[str, Any]) -> Any:
    root = pulumi.runtime.get_root_resource()
    outputs: dict[str, Any] = getattr(root, "outputs", {})
    assert outputs
    for name in outputs:
        assert not re.search(r"password|secret|token|credential", name, re.IGNORECASE), name

    def check(args: list[Any]) -> None:
        values, secret_arn = args
        for value in values:
            assert "secretsmanager" not in str(value)
            assert secret_arn not in str(value)

    return pulumi.Output.all(
        pulumi.Output.all(*outputs.values()), program["database"].secret_arn
    ).apply(check)


def test_every_aws_resource_is_a_named_child_of_a_component(declared: Declared) -> None:
    aws_resources = [c for c in declared.created if c.typ.startswith(AWS_TYPES_PREFIX)]
    assert aws_resources
    for resource in aws_resources:
        parent_urn = declared.parents[(resource.typ, resource.name)]
        parent_type = parent_urn.split("::")[2].split("$")[-1]
        parent_name = parent_urn.split("::")[3]
        assert parent_type.startswith("ecommerce:"), resource.name
        assert resource.name.startswith(f"{parent_name}-"), resource.name
