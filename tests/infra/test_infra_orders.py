"""The orders functions, their queue and the relay's schedule: least privilege, inside the VPC,
settings as the services read them, concurrency capped as configured."""

import json
from typing import Any

import pulumi

from infra.functions import NETWORK_INTERFACE_ACTIONS, TRACING_ACTIONS, LambdaFunction
from infra.messaging import Queue
from services.common import settings
from services.orders.queue import ORDERS_QUEUE, RELAY_SCHEDULE
from tests.infra.mocking import MockStack, application_variables, pulumi_test

DATABASE_BOUND = ("orders", "relay", "migrate")
DATABASE_VARIABLES = {
    settings.DATABASE_HOST,
    settings.DATABASE_PORT,
    settings.DATABASE_NAME,
    settings.DATABASE_SECRET_ARN,
}


def _granted(document: str) -> set[tuple[str, str]]:
    return {
        (action, resource)
        for statement in json.loads(document)["Statement"]
        for action in statement["Action"]
        for resource in statement["Resource"]
    }


def _always(log_group_arn: str) -> set[tuple[str, str]]:
    """What every function in the VPC gets: its own logs, tracing and its network interfaces."""
    return {
        ("logs:CreateLogStream", f"{log_group_arn}:*"),
        ("logs:PutLogEvents", f"{log_group_arn}:*"),
        *((action, "*") for action in TRACING_ACTIONS),
        *((action, "*") for action in NETWORK_INTERFACE_ACTIONS),
    }


def _policy_outputs(program: dict[str, Any], name: str) -> pulumi.Output[list[Any]]:
    function: LambdaFunction = program[name]
    queue: Queue = program["orders_queue"]
    return pulumi.Output.all(
        function.policy.policy,
        function.log_group.arn,
        program["catalog"].table_arn,
        queue.arn,
        program["database"].secret_arn,
    )


@pulumi_test
def test_orders_may_read_prices_send_orders_and_read_the_database_secret(
    program: dict[str, Any],
) -> Any:
    def check(args: list[Any]) -> None:
        document, log_group, table, queue, secret = args
        assert _granted(document) == {
            ("dynamodb:BatchGetItem", table),
            # The customer's cancel: release (GetItem, and UpdateItem in a transaction), refund.
            ("dynamodb:GetItem", table),
            ("dynamodb:UpdateItem", table),
            ("sqs:SendMessage", queue),  # SendMessageBatch is authorized by it too
            ("secretsmanager:GetSecretValue", secret),
            *_always(log_group),
        }

    return _policy_outputs(program, "orders").apply(check)


@pulumi_test
def test_relay_may_send_orders_and_read_the_database_secret(program: dict[str, Any]) -> Any:
    def check(args: list[Any]) -> None:
        document, log_group, _, queue, secret = args
        assert _granted(document) == {
            ("sqs:SendMessage", queue),
            ("secretsmanager:GetSecretValue", secret),
            *_always(log_group),
        }

    return _policy_outputs(program, "relay").apply(check)


@pulumi_test
def test_migrate_may_only_read_the_database_secret(program: dict[str, Any]) -> Any:
    def check(args: list[Any]) -> None:
        document, log_group, _, _, secret = args
        assert _granted(document) == {
            ("secretsmanager:GetSecretValue", secret),
            *_always(log_group),
        }

    return _policy_outputs(program, "migrate").apply(check)


@pulumi_test
def test_database_functions_get_where_the_database_is_and_never_a_password(
    program: dict[str, Any],
) -> Any:
    database = program["database"]
    variables = [program[name].function.environment for name in DATABASE_BOUND]

    def check(args: list[Any]) -> None:
        environments, host, secret, table, queue_url = args
        orders, relay, migrate = (
            application_variables(environment["variables"]) for environment in environments
        )
        database_settings = {
            settings.DATABASE_HOST: host,
            settings.DATABASE_PORT: "5432",
            settings.DATABASE_NAME: "ecommerce",
            settings.DATABASE_SECRET_ARN: secret,
        }
        assert orders == {
            settings.PRODUCTS_TABLE: table,
            settings.ORDERS_QUEUE_URL: queue_url,
            **database_settings,
        }
        assert relay == {settings.ORDERS_QUEUE_URL: queue_url, **database_settings}
        assert migrate == database_settings
        assert secret.startswith("arn:aws:secretsmanager:")  # where the secret is, not its value

    return pulumi.Output.all(
        pulumi.Output.all(*variables),
        database.proxy.endpoint,  # rdsProxy is on in the test stack
        database.secret_arn,
        program["catalog"].table_name,
        program["orders_queue"].url,
    ).apply(check)


@pulumi_test
def test_database_functions_sit_in_the_private_subnets_and_the_others_outside(
    program: dict[str, Any],
) -> Any:
    network = program["network"]
    configs = [program[name].function.vpc_config for name in ("products", "users")]
    in_vpc = [program[name].function.vpc_config for name in DATABASE_BOUND]

    def check(args: list[Any]) -> None:
        outside, inside, subnets, group = args
        assert outside == [None, None]
        for vpc_config in inside:
            assert vpc_config["subnet_ids"] == subnets
            assert vpc_config["security_group_ids"] == [group]

    return pulumi.Output.all(
        pulumi.Output.all(*configs),
        pulumi.Output.all(*in_vpc),
        pulumi.Output.all(*network.private_subnet_ids),
        network.functions_group.id,
    ).apply(check)


@pulumi_test
def test_concurrency_of_the_database_functions_is_capped(
    program: dict[str, Any], stack: MockStack
) -> Any:
    names = ("orders", "relay", "migrate", "products", "users")
    functions = [program[name].function for name in names]

    def check(args: list[Any]) -> None:
        reserved, timeouts = args
        assert dict(zip(names, reserved, strict=True)) == {
            "orders": stack.overrides["ordersConcurrency"],
            "relay": 1,
            "migrate": 1,
            "products": None,
            "users": None,
        }
        # Migrations may wait for a paused database to resume; the others keep the config's.
        assert dict(zip(names, timeouts, strict=True))["migrate"] == 300
        assert set(timeouts[:2] + timeouts[3:]) == {stack.overrides["lambdaTimeoutSeconds"]}

    return pulumi.Output.all(
        pulumi.Output.all(*(f.reserved_concurrent_executions for f in functions)),
        pulumi.Output.all(*(f.timeout for f in functions)),
    ).apply(check)


@pulumi_test
def test_orders_queue_is_encrypted_and_dead_letters_after_the_spec_receives(
    program: dict[str, Any],
) -> Any:
    queue: Queue = program["orders_queue"]
    main, dead = queue.queue, queue.dead_letter

    def check(args: list[Any]) -> None:
        sse, dead_sse, visibility, retention, dead_retention, redrive, *rest = args
        allow, allow_url, dead_url, dead_arn, queue_arn = rest
        assert (sse, dead_sse) == (True, True)
        assert visibility == ORDERS_QUEUE.visibility_timeout_seconds
        assert retention == ORDERS_QUEUE.retention_seconds
        assert dead_retention == ORDERS_QUEUE.dead_letter_retention_seconds
        assert json.loads(redrive) == {"deadLetterTargetArn": dead_arn, "maxReceiveCount": 5}
        assert ORDERS_QUEUE.max_receive_count == 5
        assert allow_url == dead_url
        assert json.loads(allow) == {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]}

    return pulumi.Output.all(
        main.sqs_managed_sse_enabled,
        dead.sqs_managed_sse_enabled,
        main.visibility_timeout_seconds,
        main.message_retention_seconds,
        dead.message_retention_seconds,
        main.redrive_policy,
        queue.dead_letter_sources.redrive_allow_policy,
        queue.dead_letter_sources.queue_url,
        dead.url,
        dead.arn,
        main.arn,
    ).apply(check)


@pulumi_test
def test_relay_runs_on_the_schedule_and_only_that_rule_may_invoke_it(
    program: dict[str, Any],
) -> Any:
    schedule = program["relay_schedule"]
    relay: LambdaFunction = program["relay"]
    rule, target, permission = schedule.rule, schedule.target, schedule.permission

    def check(args: list[Any]) -> None:
        expression, rule_name, rule_arn, target_rule, target_arn, *rest = args
        principal, source, function, relay_name, relay_arn, retries, api_functions = rest
        assert expression == RELAY_SCHEDULE
        assert (target_rule, target_arn) == (rule_name, relay_arn)
        assert (principal, source, function) == ("events.amazonaws.com", rule_arn, relay_name)
        assert retries == 0  # the next run does the work of a failed one
        assert relay_name not in api_functions  # not behind the API

    return pulumi.Output.all(
        rule.schedule_expression,
        rule.name,
        rule.arn,
        target.rule,
        target.arn,
        permission.principal,
        permission.source_arn,
        permission.function,
        relay.name,
        relay.arn,
        schedule.retries.maximum_retry_attempts,
        pulumi.Output.all(*(p.function for p in program["api"].permissions.values())),
    ).apply(check)
