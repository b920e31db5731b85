"""A function run on a schedule by EventBridge, which alone may invoke it, and only by that rule."""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.functions import LambdaFunction

# A missed or failed run is not retried: the next scheduled run does the same work, and retries
# would pile up behind it.
MAXIMUM_EVENT_AGE_SECONDS = 60


@dataclass
class ScheduleArgs:
    function: LambdaFunction
    expression: str  # rate(...) or cron(...)
    description: str


class Schedule(pulumi.ComponentResource):
    """An EventBridge rule, its target and the permission limited to that rule."""

    def __init__(
        self, name: str, args: ScheduleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:functions:Schedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function = args.function

        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            schedule_expression=args.expression,
            description=args.description,
            state="ENABLED",
            opts=child,
        )
        self.permission = aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            opts=child,
        )
        self.retries = aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-retries",
            function_name=function.name,
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=MAXIMUM_EVENT_AGE_SECONDS,
            opts=child,
        )
        self.target = aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=self.rule.name,
            arn=function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.permission]),
        )
        self.register_outputs({"ruleArn": self.rule.arn})
