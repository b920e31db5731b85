"""A queue and its dead-letter queue, declared from a QueueSpec the local stack uses too."""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from services.orders.queue import QueueSpec


@dataclass
class QueueArgs:
    spec: QueueSpec


class Queue(pulumi.ComponentResource):
    """Encrypted at rest; a message received `max_receive_count` times moves to the DLQ."""

    def __init__(self, name: str, args: QueueArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ecommerce:messaging:Queue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = args.spec

        self.dead_letter = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=spec.dead_letter_retention_seconds,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            visibility_timeout_seconds=spec.visibility_timeout_seconds,
            message_retention_seconds=spec.retention_seconds,
            sqs_managed_sse_enabled=True,
            redrive_policy=self.dead_letter.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": spec.max_receive_count}
                )
            ),
            opts=child,
        )
        # Only this queue may move messages into the DLQ. A separate resource, as the DLQ
        # exists before the queue whose ARN it names.
        self.dead_letter_sources = aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-sources",
            queue_url=self.dead_letter.url,
            redrive_allow_policy=self.queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        self.url = self.queue.url
        self.arn = self.queue.arn
        self.name = self.queue.name  # CloudWatch's QueueName dimension
        self.dead_letter_arn = self.dead_letter.arn
        self.dead_letter_name = self.dead_letter.name
        self.dead_letter_url = self.dead_letter.url  # where operators read and redrive from
        self.register_outputs(
            {
                "url": self.url,
                "arn": self.arn,
                "name": self.name,
                "deadLetterArn": self.dead_letter_arn,
                "deadLetterName": self.dead_letter_name,
                "deadLetterUrl": self.dead_letter_url,
            }
        )


# What Lambda's poller does with the consuming function's role: read, delete and size the queue.
CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


@dataclass
class QueueTriggerArgs:
    queue_arn: pulumi.Input[str]
    function_arn: pulumi.Input[str]  # its role must hold CONSUME_ACTIONS on the queue
    batch_size: int
    maximum_concurrency: int  # instances the poller may run at once (at least 2)


class QueueTrigger(pulumi.ComponentResource):
    """Lambda hands the function batches of the queue's messages. The function reports the ones it
    failed (batchItemFailures), which alone return to the queue; the others are deleted."""

    def __init__(
        self, name: str, args: QueueTriggerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:messaging:QueueTrigger", name, None, opts)
        self.mapping = aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=args.queue_arn,
            function_name=args.function_arn,
            batch_size=args.batch_size,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=args.maximum_concurrency
            ),
            enabled=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"uuid": self.mapping.uuid})
