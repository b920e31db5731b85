"""Fulfilment: the state machine on exactly the six step functions, each step with only the rights
it uses, and the order worker fed by the orders queue."""

import json
from typing import Any

import pulumi
import pytest

from infra.fulfilment import DATABASE_STEPS, STEPS, StateMachineArgs
from infra.functions import (
    LOG_DELIVERY_ACTIONS,
    NETWORK_INTERFACE_ACTIONS,
    STATE_MACHINE_TRACING_ACTIONS,
    TRACING_ACTIONS,
    LambdaFunction,
)
from infra.messaging import Queue
from services.common import settings
from services.orders import workflow
from services.orders.queue import ORDERS_QUEUE
from tests.infra.mocking import Declared, MockStack, application_variables, pulumi_test

TABLE_STEPS = ("release", "refund")
# What each step does on the products table, read from its adapters: a transaction's Put and
# Update are authorized as PutItem and UpdateItem.
TABLE_ACTIONS = {
    "reserve": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    "pay": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    "confirm": set(),
    "cancel": set(),
    "release": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "refund": {"dynamodb:UpdateItem"},
}
DATABASE_VARIABLES = {
    settings.DATABASE_HOST,
    settings.DATABASE_PORT,
    settings.DATABASE_NAME,
    settings.DATABASE_SECRET_ARN,
}
EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"


def _granted(document: str) -> set[tuple[str, str]]:
    statements = json.loads(document)["Statement"]
    assert all(statement["Effect"] == "Allow" for statement in statements)
    return {
        (action, resource)
        for statement in statements
        for action in statement["Action"]
        for resource in statement["Resource"]
    }


def _own_logs_and_tracing(log_group_arn: str) -> set[tuple[str, str]]:
    return {
        ("logs:CreateLogStream", f"{log_group_arn}:*"),
        ("logs:PutLogEvents", f"{log_group_arn}:*"),
        *((action, "*") for action in TRACING_ACTIONS),
    }


def _step(program: dict[str, Any], step: str) -> LambdaFunction:
    found: LambdaFunction = program["steps"][step]
    return found


def test_the_steps_are_the_workflows_and_the_database_bound_ones_are_named() -> None:
    assert set(STEPS) == set(workflow.STEP_FUNCTIONS) == set(TABLE_ACTIONS)
    assert set(DATABASE_STEPS) | set(TABLE_STEPS) == set(STEPS)
    assert not set(DATABASE_STEPS) & set(TABLE_STEPS)


def test_state_machine_args_need_a_function_for_every_step_and_no_other() -> None:
    arns = {step: f"arn:aws:lambda:eu-west-1:123456789012:function:{step}" for step in STEPS}
    with pytest.raises(ValueError, match="exactly the steps"):
        StateMachineArgs(
            step_functions={k: v for k, v in arns.items() if k != "refund"}, log_retention_days=1
        )
    with pytest.raises(ValueError, match="exactly the steps"):
        StateMachineArgs(step_functions={**arns, "ship": arns["pay"]}, log_retention_days=1)


@pulumi_test
def test_each_step_is_the_workflows_function(program: dict[str, Any]) -> Any:
    names = [_step(program, step).name for step in STEPS]

    def check(deployed: list[str]) -> None:
        assert deployed == [
            f"serverless-ecommerce-test-{workflow.STEP_FUNCTIONS[step]}" for step in STEPS
        ]

    return pulumi.Output.all(*names).apply(check)


@pulumi_test
def test_state_machine_is_standard_logged_and_traced(
    program: dict[str, Any], stack: MockStack
) -> Any:
    fulfilment = program["fulfilment"]
    machine = fulfilment.state_machine

    def check(args: list[Any]) -> None:
        kind, logging, tracing, log_group_arn, log_group_name, retention, name = args
        assert kind == "STANDARD"
        assert logging == {
            "level": "ERROR",
            "include_execution_data": False,  # execution data stays out of the logs
            "log_destination": f"{log_group_arn}:*",
        }
        assert tracing == {"enabled": True}
        assert log_group_name == f"/aws/vendedlogs/states/{name}"
        assert retention == stack.overrides["logRetentionDays"]

    return pulumi.Output.all(
        machine.type,
        machine.logging_configuration,
        machine.tracing_configuration,
        fulfilment.log_group.arn,
        fulfilment.log_group.name,
        fulfilment.log_group.retention_in_days,
        machine.name,
    ).apply(check)


def _task_resources(states: dict[str, Any]) -> set[str]:
    return {state["Resource"] for state in states.values() if state["Type"] == "Task"}


@pulumi_test
def test_state_machine_runs_the_workflow_on_exactly_the_six_step_functions(
    program: dict[str, Any],
) -> Any:
    machine = program["fulfilment"].state_machine
    arns = [_step(program, step).arn for step in STEPS]

    def check(args: list[Any]) -> None:
        definition, *step_arns = args
        deployed = json.loads(definition)
        assert deployed == workflow.definition(workflow.StepArns(*step_arns))
        assert _task_resources(deployed["States"]) == set(step_arns)
        assert len(set(step_arns)) == 6
        # Each step's state runs that step's function.
        by_step = dict(zip(STEPS, step_arns, strict=True))
        assert deployed["States"]["Reserve"]["Resource"] == by_step["reserve"]
        assert deployed["States"]["Pay"]["Resource"] == by_step["pay"]
        assert deployed["States"]["UndoRelease"]["Resource"] == by_step["release"]

    return pulumi.Output.all(machine.definition, *arns).apply(check)


@pulumi_test
def test_state_machine_role_may_invoke_exactly_the_step_functions(program: dict[str, Any]) -> Any:
    fulfilment = program["fulfilment"]
    arns = [_step(program, step).arn for step in STEPS]

    def check(args: list[Any]) -> None:
        document, role_arn, machine_role, *step_arns = args
        granted = _granted(document)
        assert machine_role == role_arn
        assert {r for a, r in granted if a == "lambda:InvokeFunction"} == set(step_arns)
        assert granted == {
            *(("lambda:InvokeFunction", arn) for arn in step_arns),
            *((action, "*") for action in LOG_DELIVERY_ACTIONS),
            *((action, "*") for action in STATE_MACHINE_TRACING_ACTIONS),
        }
        assert all(action.startswith(("lambda:", "logs:", "xray:")) for action, _ in granted)
        assert not any(resource.endswith(":*") for _, resource in granted)  # no version/alias

    return pulumi.Output.all(
        fulfilment.policy.policy, fulfilment.role.arn, fulfilment.state_machine.role_arn, *arns
    ).apply(check)


@pulumi_test
def test_state_machine_is_created_after_its_policy(
    program: dict[str, Any], declared: Declared
) -> Any:
    fulfilment = program["fulfilment"]

    def check(policy_urn: str) -> None:
        machine = ("aws:sfn/stateMachine:StateMachine", "fulfilment-state-machine")
        assert policy_urn in declared.dependencies[machine]

    return fulfilment.policy.urn.apply(check)


@pulumi_test
def test_each_step_may_do_only_what_its_adapters_do(program: dict[str, Any]) -> Any:
    catalog = program["catalog"]
    database = program["database"]
    outputs = [
        pulumi.Output.all(_step(program, s).policy.policy, _step(program, s).log_group.arn)
        for s in STEPS
    ]

    def check(args: list[Any]) -> None:
        table, secret, *policies = args
        for step, (document, log_group) in zip(STEPS, policies, strict=True):
            expected = {
                *((action, table) for action in TABLE_ACTIONS[step]),
                *_own_logs_and_tracing(log_group),
            }
            if step in DATABASE_STEPS:
                expected |= {("secretsmanager:GetSecretValue", secret)}
                expected |= {(action, "*") for action in NETWORK_INTERFACE_ACTIONS}
            assert _granted(document) == expected, step

    return pulumi.Output.all(catalog.table_arn, database.secret_arn, *outputs).apply(check)


@pulumi_test
def test_database_steps_sit_in_the_vpc_capped_and_the_others_outside_without_the_secret(
    program: dict[str, Any], stack: MockStack
) -> Any:
    network = program["network"]
    functions = [_step(program, step).function for step in STEPS]

    def check(args: list[Any]) -> None:
        vpc_configs, reserved, environments, subnets, group, secret, table = args
        for step, vpc, cap, environment in zip(
            STEPS, vpc_configs, reserved, environments, strict=True
        ):
            variables = application_variables(environment["variables"])
            if step in DATABASE_STEPS:
                assert vpc["subnet_ids"] == subnets, step
                assert vpc["security_group_ids"] == [group], step
                assert cap == stack.overrides["fulfilmentConcurrency"], step
                table_variable = {settings.PRODUCTS_TABLE} if TABLE_ACTIONS[step] else set()
                assert set(variables) == DATABASE_VARIABLES | table_variable, step
                assert variables[settings.DATABASE_SECRET_ARN] == secret
            else:
                assert vpc is None, step
                assert cap is None, step
                assert variables == {settings.PRODUCTS_TABLE: table}, step
            # Only the steps that touch the table are told where it is.
            assert (settings.PRODUCTS_TABLE in variables) == bool(TABLE_ACTIONS[step]), step

    return pulumi.Output.all(
        pulumi.Output.all(*(f.vpc_config for f in functions)),
        pulumi.Output.all(*(f.reserved_concurrent_executions for f in functions)),
        pulumi.Output.all(*(f.environment for f in functions)),
        pulumi.Output.all(*network.private_subnet_ids),
        network.functions_group.id,
        program["database"].secret_arn,
        program["catalog"].table_name,
    ).apply(check)


@pulumi_test
def test_each_step_gives_up_before_its_task_times_out(program: dict[str, Any]) -> Any:
    timeouts = [_step(program, step).function.timeout for step in STEPS]

    def check(seconds: list[int]) -> None:
        # Even with a cold start's init (at most 10 s), Lambda ends the step first.
        assert all(timeout + 10 <= workflow.TASK_TIMEOUT_SECONDS for timeout in seconds)
        assert set(seconds) == {20}

    return pulumi.Output.all(*timeouts).apply(check)


@pulumi_test
def test_worker_may_consume_the_queue_and_start_the_state_machine_only(
    program: dict[str, Any],
) -> Any:
    worker: LambdaFunction = program["order_worker"]
    queue: Queue = program["orders_queue"]

    def check(args: list[Any]) -> None:
        document, log_group, queue_arn, machine_arn, variables, vpc, reserved = args
        assert _granted(document) == {
            ("sqs:ReceiveMessage", queue_arn),
            ("sqs:DeleteMessage", queue_arn),
            ("sqs:GetQueueAttributes", queue_arn),
            ("states:StartExecution", machine_arn),
            *_own_logs_and_tracing(log_group),
        }
        assert application_variables(variables) == {settings.STATE_MACHINE_ARN: machine_arn}
        assert vpc is None  # it never touches the database
        assert reserved is None

    return pulumi.Output.all(
        worker.policy.policy,
        worker.log_group.arn,
        queue.arn,
        program["fulfilment"].arn,
        worker.function.environment.variables,
        worker.function.vpc_config,
        worker.function.reserved_concurrent_executions,
    ).apply(check)


@pulumi_test
def test_orders_queue_feeds_the_worker_in_batches_reporting_partial_failures(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    mapping = program["order_worker_trigger"].mapping

    def check(args: list[Any]) -> None:
        source, function, batch, responses, scaling, worker_arn, queue_arn = args
        assert (source, function) == (queue_arn, worker_arn)
        assert batch == stack.overrides["workerBatchSize"]
        assert responses == ["ReportBatchItemFailures"]
        assert scaling == {"maximum_concurrency": stack.overrides["workerMaxConcurrency"]}
        assert scaling["maximum_concurrency"] >= 2  # Lambda's least for an SQS source
        (created,) = declared.of_type(EVENT_SOURCE_MAPPING)  # the queue's one consumer
        assert created.inputs.get("maximumBatchingWindowInSeconds") is None

    return pulumi.Output.all(
        mapping.event_source_arn,
        mapping.function_name,
        mapping.batch_size,
        mapping.function_response_types,
        mapping.scaling_config,
        program["order_worker"].arn,
        program["orders_queue"].arn,
    ).apply(check)


@pulumi_test
def test_queue_visibility_timeout_is_six_times_the_workers_timeout(program: dict[str, Any]) -> Any:
    """AWS requires at least the function's timeout and recommends six times it, so a batch is
    not handed out again while the worker may still be on it."""
    queue: Queue = program["orders_queue"]
    worker: LambdaFunction = program["order_worker"]

    def check(args: list[Any]) -> None:
        visibility, timeout = args
        assert visibility == ORDERS_QUEUE.visibility_timeout_seconds
        assert visibility >= 6 * timeout
        assert timeout == 30

    return pulumi.Output.all(queue.queue.visibility_timeout_seconds, worker.function.timeout).apply(
        check
    )


@pulumi_test
def test_every_fulfilment_function_logs_to_its_own_group(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    functions = [*(_step(program, step) for step in STEPS), program["order_worker"]]

    def check(args: list[Any]) -> None:
        names, logging_configs, group_names = args
        for name, logging, group in zip(names, logging_configs, group_names, strict=True):
            assert group == f"/aws/lambda/{name}"
            assert logging["log_group"] == group
        groups = {
            c.inputs["name"]: c.inputs for c in declared.of_type("aws:cloudwatch/logGroup:LogGroup")
        }
        for group in group_names:
            assert groups[group]["retentionInDays"] == stack.overrides["logRetentionDays"]

    return pulumi.Output.all(
        pulumi.Output.all(*(f.function.name for f in functions)),
        pulumi.Output.all(*(f.function.logging_config for f in functions)),
        pulumi.Output.all(*(f.log_group.name for f in functions)),
    ).apply(check)
