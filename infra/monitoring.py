"""Monitoring: the alarm topic, the alarms that notify it, and the stack's dashboard.

Every alarm watches a metric under the dimensions AWS publishes it with (HTTP API: ApiId and
Stage; Lambda: FunctionName; SQS: QueueName; Step Functions: StateMachineArn), is named
`<project>-<stack>-<what>`, and says in its description which section of the runbook to follow.
"""

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.dashboard import DashboardTargets, WatchedFunction, dashboard_body
from infra.functions import LambdaFunction, stack_prefix
from infra.policy import ALARM_PUBLISH_KEY_ACTIONS, KEY_ADMINISTRATION_ACTIONS, PolicyKind, check
from services.orders import workflow

RUNBOOK = "docs/runbook.md"
# The runbook's section for each kind of alarm, by its heading.
RUNBOOK_SECTIONS = {
    "api-5xx": "API 5xx rate",
    "api-latency": "API p99 latency",
    "errors": "Function errors",
    "outcome-errors": "Fulfilment step errors",
    "throttles": "Function throttles",
    "dead-letters": "Dead-letter messages",
    "message-age": "Orders queue message age",
    "failed-runs": "Failed fulfilment runs",
}
GREATER = "GreaterThanThreshold"
# No data means no traffic: nothing failed, nothing waited. SQS publishes a queue's metrics while
# it holds messages, so a dead-letter queue that holds any keeps reporting them.
NOT_BREACHING = "notBreaching"
MINUTE = 60
# The API's 5xx rate counts only minutes with this many requests: one failure in three requests
# of a quiet development stack is not an outage.
API_MIN_REQUESTS = 10
# The steps that raise the workflow's outcomes (OutOfStock, PaymentDeclined, OrderSettled ...) as
# errors: their alarm fires when most of their runs fail for 15 minutes, not on the first one.
OUTCOME_ERROR_PERCENT = 50
OUTCOME_MIN_INVOCATIONS = 5
OUTCOME_PERIOD = 5 * MINUTE
OUTCOME_PERIODS = 3


def steps_raising_outcomes() -> frozenset[str]:
    """The workflow's steps that raise an error it catches by name to choose the order's path.

    Their Lambda `Errors` count out-of-stock, declined and cancelled orders, not faults.
    """
    names = [field.name for field in fields(workflow.StepArns)]
    states = workflow.definition(workflow.StepArns(**{n: n for n in names}))["States"]
    return frozenset(
        state["Resource"]
        for state in states.values()
        if any(set(catch["ErrorEquals"]) - {workflow.ALL} for catch in state.get("Catch", ()))
    )


def runbook_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, '-' for ' '."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _runbook(kind: str) -> str:
    return f"Runbook: {RUNBOOK}#{runbook_anchor(RUNBOOK_SECTIONS[kind])}"


def alarm_topic_key_policy(account_id: str, region: str, alarm_prefix: str) -> str:
    """The topic key's policy: the account manages it through IAM (the default key policy), and
    CloudWatch may use it to publish for this stack's alarms only. Its wildcards are the ones
    infra.policy lists for key policies."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountManagesTheKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": list(KEY_ADMINISTRATION_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "AlarmsOfThisStackPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": list(ALARM_PUBLISH_KEY_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": (
                            f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_prefix}-*"
                        )
                    },
                },
            },
        ],
    }
    return json.dumps(check(PolicyKind.KEY, document), sort_keys=True)


@dataclass
class AlarmTopicArgs:
    region: str
    email: str = ""  # "" subscribes no one


class AlarmTopic(pulumi.ComponentResource):
    """The SNS topic every alarm notifies, encrypted, with an optional e-mail subscription.

    CloudWatch cannot publish to a topic encrypted with the AWS managed key (alias/aws/sns),
    whose policy cannot let it in, so the topic has its own key.
    """

    def __init__(
        self, name: str, args: AlarmTopicArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:monitoring:AlarmTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = stack_prefix()
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {prefix} alarm topic",
            enable_key_rotation=True,
            policy=identity.account_id.apply(
                lambda account: alarm_topic_key_policy(account, args.region, prefix)
            ),
            opts=child,
        )
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{prefix}-alarms",
            display_name=f"{prefix} alarms",
            kms_master_key_id=self.key.arn,
            opts=child,
        )
        self.email: aws.sns.TopicSubscription | None = None
        if args.email:
            # AWS e-mails a confirmation link; nothing is delivered until it is followed.
            self.email = aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.email,
                opts=child,
            )
        self.arn = self.topic.arn
        self.register_outputs({"arn": self.arn, "keyArn": self.key.arn})


@dataclass
class MonitoringArgs:
    topic_arn: pulumi.Input[str]  # where every alarm sends ALARM and OK
    region: str
    metrics_namespace: str  # the business metrics' namespace (POWERTOOLS_METRICS_NAMESPACE)
    functions: Mapping[str, LambdaFunction]  # by the route table's function names
    api_id: pulumi.Input[str]
    api_stage: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    max_message_age_seconds: int
    state_machine_arn: pulumi.Input[str]
    table_name: pulumi.Input[str]
    table_indexes: Sequence[str]
    cluster_identifier: pulumi.Input[str]
    api_5xx_rate_percent: int
    api_latency_p99_ms: int
    # Functions whose errors include the outcomes the workflow expects (steps_raising_outcomes).
    outcome_error_functions: Collection[str] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.outcome_error_functions) - set(self.functions))
        if unknown:
            raise ValueError(f"outcome_error_functions names functions not watched: {unknown}")


class Monitoring(pulumi.ComponentResource):
    """The stack's alarms, each sending ALARM and OK to the topic, and its dashboard."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:monitoring:Monitoring", name, None, opts)
        self._name = name
        self._args = args
        api = {"ApiId": args.api_id, "Stage": args.api_stage}

        self.api_5xx = self._alarm(
            "api-5xx",
            "api-5xx",
            f"More than {args.api_5xx_rate_percent}% of the API's requests failed with a 5xx "
            f"in 3 of 5 minutes.",
            metric_queries=[
                _query("errors", "AWS/ApiGateway", "5xx", api, "Sum", MINUTE),
                _query("requests", "AWS/ApiGateway", "Count", api, "Sum", MINUTE),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression=(
                        f"IF(requests >= {API_MIN_REQUESTS}, 100 * FILL(errors, 0) / requests, 0)"
                    ),
                    label="5xx rate (%)",
                    return_data=True,
                ),
            ],
            threshold=args.api_5xx_rate_percent,
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )
        self.api_latency = self._alarm(
            "api-latency-p99",
            "api-latency",
            f"The API's p99 latency was above {args.api_latency_p99_ms} ms in 3 of 5 minutes.",
            namespace="AWS/ApiGateway",
            metric_name="Latency",
            dimensions=api,
            extended_statistic="p99",
            period=MINUTE,
            threshold=args.api_latency_p99_ms,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            # A percentile of a handful of requests is one cold start: wait for enough of them.
            evaluate_low_sample_count_percentiles="ignore",
        )
        self.errors = {
            function: self._errors(function, lambda_function)
            for function, lambda_function in args.functions.items()
        }
        self.throttles = {
            function: self._alarm(
                f"{function}-throttles",
                "throttles",
                f"Lambda throttled the {function} function (its reserved concurrency or the "
                f"account's is exhausted).",
                **_lambda_metric("Throttles", lambda_function),
            )
            for function, lambda_function in args.functions.items()
        }
        self.dead_letters = self._alarm(
            "orders-dead-letters",
            "dead-letters",
            "Order messages the worker could not handle moved to the dead-letter queue.",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": args.dead_letter_queue_name},
            statistic="Maximum",
            period=MINUTE,
            threshold=0,
            evaluation_periods=1,
        )
        self.message_age = self._alarm(
            "orders-message-age",
            "message-age",
            f"An order message waited more than {args.max_message_age_seconds} s on the orders "
            f"queue, longer than its retries take: the worker is not consuming it.",
            namespace="AWS/SQS",
            metric_name="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": args.queue_name},
            statistic="Maximum",
            period=MINUTE,
            threshold=args.max_message_age_seconds,
            evaluation_periods=1,  # the age only grows while the message waits
        )
        self.failed_runs = self._alarm(
            "fulfilment-failed",
            "failed-runs",
            "A fulfilment run failed: an order was cancelled FAILED, or its compensation failed.",
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions={"StateMachineArn": args.state_machine_arn},
            statistic="Sum",
            period=MINUTE,
            threshold=0,
            evaluation_periods=1,
        )
        self.alarms = [
            self.api_5xx,
            self.api_latency,
            *self.errors.values(),
            *self.throttles.values(),
            self.dead_letters,
            self.message_age,
            self.failed_runs,
        ]
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=stack_prefix(),
            dashboard_body=self._targets().apply(dashboard_body).apply(json.dumps),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_name = self.dashboard.dashboard_name
        self.register_outputs(
            {
                "dashboardName": self.dashboard_name,
                "alarmArns": pulumi.Output.all(*(alarm.arn for alarm in self.alarms)),
            }
        )

    def _alarm(
        self, what: str, kind: str, summary: str, **settings: Any
    ) -> aws.cloudwatch.MetricAlarm:
        settings.setdefault("comparison_operator", GREATER)
        settings.setdefault("treat_missing_data", NOT_BREACHING)
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{what}",
            name=f"{stack_prefix()}-{what}",
            alarm_description=f"{summary} {_runbook(kind)}",
            alarm_actions=[self._args.topic_arn],
            ok_actions=[self._args.topic_arn],
            opts=pulumi.ResourceOptions(parent=self),
            **settings,
        )

    def _errors(self, function: str, lambda_function: LambdaFunction) -> aws.cloudwatch.MetricAlarm:
        if function not in self._args.outcome_error_functions:
            return self._alarm(
                f"{function}-errors",
                "errors",
                f"The {function} function failed: an unhandled exception, a timeout or a crash.",
                **_lambda_metric("Errors", lambda_function),
            )
        named = {"FunctionName": lambda_function.name}
        return self._alarm(
            f"{function}-errors",
            "outcome-errors",
            f"More than {OUTCOME_ERROR_PERCENT}% of the {function} function's runs failed for "
            f"{OUTCOME_PERIODS * OUTCOME_PERIOD // MINUTE} minutes (its errors include the "
            f"orders it turns away: out of stock, declined, cancelled).",
            metric_queries=[
                _query("errors", "AWS/Lambda", "Errors", named, "Sum", OUTCOME_PERIOD),
                _query("invocations", "AWS/Lambda", "Invocations", named, "Sum", OUTCOME_PERIOD),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression=(
                        f"IF(invocations >= {OUTCOME_MIN_INVOCATIONS}, "
                        "100 * FILL(errors, 0) / invocations, 0)"
                    ),
                    label="failed runs (%)",
                    return_data=True,
                ),
            ],
            threshold=OUTCOME_ERROR_PERCENT,
            evaluation_periods=OUTCOME_PERIODS,
        )

    def _targets(self) -> pulumi.Output[DashboardTargets]:
        args = self._args
        functions = [
            pulumi.Output.all(function, lambda_function.name, lambda_function.service)
            for function, lambda_function in args.functions.items()
        ]

        def targets(values: dict[str, Any]) -> DashboardTargets:
            return DashboardTargets(
                region=args.region,
                namespace=args.metrics_namespace,
                api_id=values["api_id"],
                api_stage=values["api_stage"],
                functions=[WatchedFunction(*function) for function in values["functions"]],
                queue=values["queue"],
                dead_letter_queue=values["dead_letter_queue"],
                state_machine_arn=values["state_machine_arn"],
                table=values["table"],
                table_indexes=list(args.table_indexes),
                cluster=values["cluster"],
                alarm_arns=values["alarm_arns"],
            )

        return pulumi.Output.all(
            api_id=args.api_id,
            api_stage=args.api_stage,
            functions=pulumi.Output.all(*functions),
            queue=args.queue_name,
            dead_letter_queue=args.dead_letter_queue_name,
            state_machine_arn=args.state_machine_arn,
            table=args.table_name,
            cluster=args.cluster_identifier,
            alarm_arns=pulumi.Output.all(*(alarm.arn for alarm in self.alarms)),
        ).apply(targets)


def _query(
    id_: str,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    stat: str,
    period: int,
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=id_,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=namespace,
            metric_name=metric,
            dimensions=dict(dimensions),
            stat=stat,
            period=period,
        ),
        return_data=False,
    )


def _lambda_metric(metric: str, lambda_function: LambdaFunction) -> dict[str, Any]:
    """Any one minute with one or more of the function's `metric` (Errors, Throttles)."""
    return {
        "namespace": "AWS/Lambda",
        "metric_name": metric,
        "dimensions": {"FunctionName": lambda_function.name},
        "statistic": "Sum",
        "period": MINUTE,
        "threshold": 0,
        "evaluation_periods": 1,
    }
