"""Monitoring: Powertools settings and traced, retained logs on every function; the encrypted alarm
topic; alarms on the resources the program created, each notifying the topic and naming its
runbook section; one dashboard that shows only what the program created."""

import fnmatch
import json
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.functions import (
    LOG_LEVELS,
    POWERTOOLS_LOG_LEVEL,
    POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_SERVICE_NAME,
    FunctionRuntime,
)
from infra.monitoring import (
    RUNBOOK,
    RUNBOOK_SECTIONS,
    AlarmTopic,
    AlarmTopicArgs,
    runbook_anchor,
    steps_raising_outcomes,
)
from services.common.metrics import Metric
from services.orders.domain import CancelReason
from services.orders.queue import ORDERS_QUEUE
from services.routes import FUNCTIONS
from tests.infra.mocking import Created, Declared, MockStack, RecordingMocks, pulumi_test

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFIX = "serverless-ecommerce-test"
NAMESPACE = "serverless-ecommerce/test"  # the project and stack, one namespace per stack
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KEY = "aws:kms/key:Key"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
# The steps whose errors include the workflow's outcomes, by their functions' names.
OUTCOME_FUNCTIONS = {"reserve-stock", "take-payment", "confirm-order"}


def _alarms(declared: Declared) -> dict[str, dict[str, Any]]:
    """Every alarm's inputs, by its AWS name."""
    return {alarm.inputs["name"]: alarm.inputs for alarm in declared.of_type(ALARM)}


def _one(declared: Declared, typ: str) -> Created:
    (found,) = declared.of_type(typ)
    return found


def _queries(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {query["id"]: query for query in alarm["metricQueries"]}


# Powertools and logs


@pulumi_test
def test_every_function_is_traced_logs_for_the_retention_and_sets_powertools(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    def check(_: Any) -> None:
        created = {c.inputs["name"]: c.inputs for c in declared.of_type(FUNCTION)}
        groups = {c.inputs["name"]: c.inputs for c in declared.of_type(LOG_GROUP)}
        level = stack.overrides["logLevel"]
        assert set(created) == {f"{PREFIX}-{function}" for function in FUNCTIONS}
        for function, spec in FUNCTIONS.items():
            inputs = created[f"{PREFIX}-{function}"]
            group = f"/aws/lambda/{PREFIX}-{function}"
            assert groups[group]["retentionInDays"] == stack.overrides["logRetentionDays"]
            assert inputs["loggingConfig"]["logGroup"] == group, function
            assert inputs["tracingConfig"] == {"mode": "Active"}, function
            variables = inputs["environment"]["variables"]
            assert variables[POWERTOOLS_SERVICE_NAME] == spec.service, function
            assert variables[POWERTOOLS_METRICS_NAMESPACE] == NAMESPACE, function
            assert variables[POWERTOOLS_LOG_LEVEL] == level, function
            # Lambda drops lines below its own level, so it must let Powertools' level through.
            assert inputs["loggingConfig"]["applicationLogLevel"] == LOG_LEVELS[level], function

    return program["products"].function.arn.apply(check)


def test_powertools_settings_cannot_be_overridden_by_a_function(tmp_path: Path) -> None:
    from infra.functions import LambdaFunctionArgs

    runtime = FunctionRuntime("python3.13", "arm64", 128, 3, 1, NAMESPACE)
    with pytest.raises(ValueError, match=POWERTOOLS_METRICS_NAMESPACE):
        LambdaFunctionArgs(
            "m.handler",
            tmp_path,
            runtime,
            "orders",
            environment={POWERTOOLS_METRICS_NAMESPACE: "x"},
        )
    with pytest.raises(ValueError, match="service"):
        LambdaFunctionArgs("m.handler", tmp_path, runtime, "")


@pytest.mark.parametrize("level", ["TRACE", "WARN", "info", "VERBOSE", ""])
def test_log_level_must_be_one_powertools_and_lambda_both_know(
    program: dict[str, Any], level: str
) -> None:
    with pytest.raises(ValueError, match="logLevel"):
        replace(program["config"], log_level=level)
    with pytest.raises(ValueError, match="log level"):
        FunctionRuntime("python3.13", "arm64", 128, 3, 1, NAMESPACE, log_level=level)


@pytest.mark.parametrize("level", list(LOG_LEVELS))
def test_every_python_level_is_accepted(program: dict[str, Any], level: str) -> None:
    assert replace(program["config"], log_level=level).log_level == level


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alarm_email", "ops"),
        ("alarm_email", "ops@example"),
        ("alarm_email", "two words@example.com"),
        ("alarm_api_5xx_rate_percent", 0),
        ("alarm_api_5xx_rate_percent", 101),
        ("alarm_api_latency_p99_ms", 0),
        ("alarm_api_latency_p99_ms", 30_001),  # the API gives up after 30 s
    ],
)
def test_alarm_settings_are_validated(program: dict[str, Any], field: str, value: Any) -> None:
    with pytest.raises(ValueError, match="invalid stack configuration"):
        replace(program["config"], **{field: value})


def test_alarm_settings_are_read_from_the_stack(program: dict[str, Any], stack: MockStack) -> None:
    config = program["config"]

    assert config.log_level == stack.overrides["logLevel"]
    assert config.alarm_email == stack.overrides["alarmEmail"]
    assert config.alarm_api_5xx_rate_percent == stack.overrides["alarmApi5xxRatePercent"]
    assert config.alarm_api_latency_p99_ms == stack.overrides["alarmApiLatencyP99Ms"]
    assert replace(config, alarm_email="").alarm_email == ""  # no subscription


# The alarm topic


@pulumi_test
def test_alarm_topic_is_encrypted_with_a_key_only_this_stacks_alarms_may_use(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    topic = program["alarm_topic"]

    def check(args: list[Any]) -> None:
        topic_key, key_arn = args
        assert topic_key == key_arn  # not alias/aws/sns, which CloudWatch cannot publish with
        key = _one(declared, KEY).inputs
        assert key["enableKeyRotation"] is True
        statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
        cloudwatch = statements["AlarmsOfThisStackPublish"]
        assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
        assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": stack.account}
        pattern = cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]
        assert pattern == f"arn:aws:cloudwatch:{stack.region}:{stack.account}:alarm:{PREFIX}-*"
        # Every alarm of the stack may publish, or its notifications would be dropped.
        alarm_arns = [
            f"arn:aws:cloudwatch:{stack.region}:{stack.account}:alarm:{name}"
            for name in _alarms(declared)
        ]
        assert alarm_arns
        assert all(fnmatch.fnmatchcase(arn, pattern) for arn in alarm_arns)
        assert statements["AccountManagesTheKeyThroughIam"]["Principal"] == {
            "AWS": f"arn:aws:iam::{stack.account}:root"
        }
        assert set(statements) == {"AccountManagesTheKeyThroughIam", "AlarmsOfThisStackPublish"}

    return pulumi.Output.all(topic.topic.kms_master_key_id, topic.key.arn).apply(check)


@pulumi_test
def test_the_configured_address_is_subscribed_to_the_topic(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    def check(topic_arn: str) -> None:
        (subscription,) = declared.of_type(SUBSCRIPTION)
        assert subscription.inputs == {
            "topic": topic_arn,
            "protocol": "email",
            "endpoint": stack.overrides["alarmEmail"],
        }

    return program["alarm_topic"].arn.apply(check)


@pulumi_test
def test_no_subscription_without_an_address(stack: MockStack, mocks: RecordingMocks) -> Any:
    quiet = AlarmTopic("quiet", AlarmTopicArgs(region=stack.region, email=""))

    def check(_: Any) -> None:
        assert quiet.email is None
        assert mocks.named("quiet-topic")
        assert not [
            c for c in mocks.created if c.name.startswith("quiet-") and c.typ == SUBSCRIPTION
        ]

    return quiet.arn.apply(check)


# Alarms


@pulumi_test
def test_every_alarm_notifies_the_topic_both_ways_and_names_its_runbook_section(
    program: dict[str, Any], declared: Declared
) -> Any:
    anchors = {runbook_anchor(heading) for heading in RUNBOOK_SECTIONS.values()}

    def check(topic_arn: str) -> None:
        alarms = _alarms(declared)
        assert alarms
        for name, alarm in alarms.items():
            assert name.startswith(f"{PREFIX}-"), name
            assert alarm["alarmActions"] == [topic_arn], name
            assert alarm["okActions"] == [topic_arn], name
            assert alarm["treatMissingData"] == "notBreaching", name  # no traffic is no failure
            found = re.search(
                rf"Runbook: {re.escape(RUNBOOK)}#([a-z0-9-]+)$", alarm["alarmDescription"]
            )
            assert found, name
            assert found.group(1) in anchors, name

    return program["alarm_topic"].arn.apply(check)


def test_every_runbook_section_the_alarms_name_exists() -> None:
    runbook = (REPO_ROOT / RUNBOOK).read_text()
    headings = {runbook_anchor(h) for h in re.findall(r"^#{2,3} (.+?)\s*$", runbook, re.MULTILINE)}

    assert {runbook_anchor(heading) for heading in RUNBOOK_SECTIONS.values()} <= headings
    assert runbook_anchor("API 5xx rate") == "api-5xx-rate"
    assert runbook_anchor("Orders queue: message age") == "orders-queue-message-age"


def test_the_steps_that_raise_outcomes_are_those_the_workflow_catches_by_name() -> None:
    assert steps_raising_outcomes() == {"reserve", "pay", "confirm"}


@pulumi_test
def test_every_function_has_its_errors_and_throttles_alarms(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(_: Any) -> None:
        alarms = _alarms(declared)
        for function in FUNCTIONS:
            dimensions = {"FunctionName": f"{PREFIX}-{function}"}
            throttles = alarms[f"{PREFIX}-{function}-throttles"]
            assert (throttles["namespace"], throttles["metricName"]) == ("AWS/Lambda", "Throttles")
            assert throttles["dimensions"] == dimensions
            assert (throttles["statistic"], throttles["threshold"]) == ("Sum", 0)
            assert throttles["comparisonOperator"] == "GreaterThanThreshold"
            errors = alarms[f"{PREFIX}-{function}-errors"]
            if function in OUTCOME_FUNCTIONS:
                queries = _queries(errors)
                assert queries["errors"]["metric"]["metricName"] == "Errors"
                assert queries["invocations"]["metric"]["metricName"] == "Invocations"
                for query in (queries["errors"], queries["invocations"]):
                    assert query["metric"]["dimensions"] == dimensions, function
                    assert query["metric"]["namespace"] == "AWS/Lambda"
                assert [q["id"] for q in queries.values() if q["returnData"]] == ["rate"]
                assert errors["threshold"] == 50
                assert "fulfilment-step-errors" in errors["alarmDescription"]
            else:
                assert (errors["namespace"], errors["metricName"]) == ("AWS/Lambda", "Errors")
                assert errors["dimensions"] == dimensions, function
                assert (errors["statistic"], errors["threshold"]) == ("Sum", 0), function
                assert errors["comparisonOperator"] == "GreaterThanThreshold"

    return program["products"].function.arn.apply(check)


@pulumi_test
def test_api_alarms_watch_the_stage_rate_of_5xx_and_p99_latency(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    api = program["api"]

    def check(args: list[Any]) -> None:
        api_id, stage = args
        dimensions = {"ApiId": api_id, "Stage": stage}
        assert stage == "$default"
        alarms = _alarms(declared)
        errors = alarms[f"{PREFIX}-api-5xx"]
        queries = _queries(errors)
        assert queries["errors"]["metric"]["metricName"] == "5xx"  # HTTP APIs: 5xx, not 5XXError
        assert queries["requests"]["metric"]["metricName"] == "Count"
        for query in (queries["errors"], queries["requests"]):
            assert query["metric"]["namespace"] == "AWS/ApiGateway"
            assert query["metric"]["dimensions"] == dimensions
            assert query["metric"]["stat"] == "Sum"
            assert query["returnData"] is False
        rate = queries["rate"]
        assert rate["returnData"] is True
        assert "100 * FILL(errors, 0) / requests" in rate["expression"]
        assert errors["threshold"] == stack.overrides["alarmApi5xxRatePercent"]
        latency = alarms[f"{PREFIX}-api-latency-p99"]
        assert (latency["namespace"], latency["metricName"]) == ("AWS/ApiGateway", "Latency")
        assert latency["dimensions"] == dimensions
        assert latency["extendedStatistic"] == "p99"
        assert "statistic" not in latency
        assert latency["threshold"] == stack.overrides["alarmApiLatencyP99Ms"]

    return pulumi.Output.all(api.api.id, api.stage.name).apply(check)


@pulumi_test
def test_queue_and_workflow_alarms_watch_the_created_queues_and_state_machine(
    program: dict[str, Any], declared: Declared
) -> Any:
    queue = program["orders_queue"]

    def check(args: list[Any]) -> None:
        queue_name, dead_letter_name, machine_arn = args
        alarms = _alarms(declared)
        dead_letters = alarms[f"{PREFIX}-orders-dead-letters"]
        assert dead_letters["namespace"] == "AWS/SQS"
        assert dead_letters["metricName"] == "ApproximateNumberOfMessagesVisible"
        assert dead_letters["dimensions"] == {"QueueName": dead_letter_name}
        assert (dead_letters["threshold"], dead_letters["statistic"]) == (0, "Maximum")
        age = alarms[f"{PREFIX}-orders-message-age"]
        assert (age["namespace"], age["metricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
        assert age["dimensions"] == {"QueueName": queue_name}
        # Older than a message the worker keeps failing can get before the dead-letter queue.
        assert age["threshold"] == (
            ORDERS_QUEUE.max_receive_count * ORDERS_QUEUE.visibility_timeout_seconds
        )
        failed = alarms[f"{PREFIX}-fulfilment-failed"]
        assert (failed["namespace"], failed["metricName"]) == ("AWS/States", "ExecutionsFailed")
        assert failed["dimensions"] == {"StateMachineArn": machine_arn}
        assert (failed["threshold"], failed["statistic"]) == (0, "Sum")
        assert queue_name != dead_letter_name

    return pulumi.Output.all(
        queue.queue.name, queue.dead_letter.name, program["fulfilment"].arn
    ).apply(check)


# The dashboard


def _metrics(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, metric, dimensions, options) of every metric the dashboard graphs."""
    found = []
    for widget in body["widgets"]:
        for entry in widget["properties"].get("metrics", []):
            options = entry[-1] if isinstance(entry[-1], dict) else {}
            names = entry[:-1] if options else entry
            assert "." not in names, entry  # no shorthand: every metric says what it shows
            namespace, metric, *pairs = names
            assert len(pairs) % 2 == 0, entry
            found.append(
                (namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True)), options)
            )
    return found


@pulumi_test
def test_dashboard_shows_only_resources_the_program_created(
    program: dict[str, Any], declared: Declared, stack: MockStack
) -> Any:
    api = program["api"]
    queue = program["orders_queue"]

    def check(args: list[Any]) -> None:
        api_id, stage, queue_name, dead_letter, machine, table, cluster, alarm_arns = args
        body = json.loads(_one(declared, DASHBOARD).inputs["dashboardBody"])
        dimensions: dict[str, set[str]] = defaultdict(set)
        for _, _, named, _ in _metrics(body):
            for key, value in named.items():
                dimensions[key].add(value)
        functions = {c.inputs["name"] for c in declared.of_type(FUNCTION)}
        (table_inputs,) = [c.inputs for c in declared.of_type("aws:dynamodb/table:Table")]
        indexes = {index["name"] for index in table_inputs["globalSecondaryIndexes"]}
        assert dimensions == {
            "ApiId": {api_id},
            "Stage": {stage},
            "FunctionName": functions,  # every function, and no other
            "function_name": functions,
            "QueueName": {queue_name, dead_letter},
            "StateMachineArn": {machine},
            "TableName": {table},
            "GlobalSecondaryIndexName": indexes,
            "DBClusterIdentifier": {cluster},
            "service": {spec.service for spec in FUNCTIONS.values()},
            "Reason": {reason.value for reason in CancelReason},
        }
        (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
        assert alarm_widget["properties"]["alarms"] == alarm_arns
        for widget in body["widgets"]:
            assert widget["x"] + widget["width"] <= 24
            if widget["type"] == "metric":
                assert widget["properties"]["region"] == stack.region

    return pulumi.Output.all(
        api.api.id,
        api.stage.name,
        queue.queue.name,
        queue.dead_letter.name,
        program["fulfilment"].arn,
        program["catalog"].table_name,
        program["database"].cluster.cluster_identifier,
        pulumi.Output.all(*(alarm.arn for alarm in program["monitoring"].alarms)),
    ).apply(check)


@pulumi_test
def test_dashboard_graphs_the_service_workflow_data_and_business_metrics(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(_: Any) -> None:
        dashboard = _one(declared, DASHBOARD).inputs
        assert dashboard["dashboardName"] == PREFIX
        graphed = _metrics(json.loads(dashboard["dashboardBody"]))
        names = {(namespace, metric) for namespace, metric, _, _ in graphed}
        assert names >= {
            ("AWS/ApiGateway", "Count"),
            ("AWS/ApiGateway", "4xx"),
            ("AWS/ApiGateway", "5xx"),
            ("AWS/ApiGateway", "Latency"),
            ("AWS/Lambda", "Errors"),
            ("AWS/Lambda", "Throttles"),
            ("AWS/Lambda", "Duration"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
            ("AWS/States", "ExecutionsStarted"),
            ("AWS/States", "ExecutionsSucceeded"),
            ("AWS/States", "ExecutionsFailed"),
            ("AWS/DynamoDB", "ReadThrottleEvents"),
            ("AWS/DynamoDB", "WriteThrottleEvents"),
            ("AWS/RDS", "ServerlessDatabaseCapacity"),
            ("AWS/RDS", "DatabaseConnections"),
            *((NAMESPACE, metric.value) for metric in Metric),
        }
        latency = {
            o.get("stat") for ns, m, _, o in graphed if (ns, m) == ("AWS/ApiGateway", "Latency")
        }
        assert latency == {"p50", "p99"}
        business = [(m, d) for ns, m, d, _ in graphed if ns == NAMESPACE]
        for metric, named in business:
            if metric != Metric.COLD_START:
                assert named["service"] == "orders", metric
        cancelled = {d["Reason"] for m, d in business if m == Metric.ORDERS_CANCELLED}
        assert cancelled == {"OUT_OF_STOCK", "PAYMENT_DECLINED", "CANCELLED_BY_CUSTOMER", "FAILED"}
        # Cold starts carry the function_name dimension Powertools adds, one line per function.
        cold = [d for m, d in business if m == Metric.COLD_START]
        assert len(cold) == len(FUNCTIONS)
        assert {d["service"] for d in cold} == {"products", "users", "orders"}

    return program["monitoring"].dashboard.dashboard_name.apply(check)
