"""The local SQS event source mapping: poll a queue, invoke a function with real SQS batch events.

As Lambda's poller does: messages are received in batches (each receive counts towards the
queue's redrive to the dead-letter queue), the function gets an `aws:sqs` event, and only the
messages it did not report in `batchItemFailures` are deleted. A failed message stays hidden for
the queue's visibility timeout, then comes back. If the function raises, or names a message that
was not in the batch, the whole batch counts as failed.
"""

import hashlib
import logging
import threading
from typing import Any

from local.runtime import REGION, LambdaRuntime

logger = logging.getLogger("local.event_source")


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the event Lambda builds from a received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def failed_ids(result: Any, batch: set[str]) -> set[str]:
    """The messages to keep, from the function's answer, as Lambda reads it."""
    if not isinstance(result, dict):
        return set()  # no partial response: success for every message
    failures = result.get("batchItemFailures") or []
    ids = {failure.get("itemIdentifier") for failure in failures if isinstance(failure, dict)}
    if len(ids) != len(failures) or not ids <= batch:
        return batch  # an answer Lambda cannot read fails the whole batch
    return {str(i) for i in ids}


class QueueEventSource:
    """Polls one queue for one function on `pollers` threads until stopped."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        function: str,
        runtime: LambdaRuntime,
        batch_size: int = 10,
        pollers: int = 2,
        wait_seconds: int = 1,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.function = function
        self.runtime = runtime
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"sqs-{function}-{n}", daemon=True)
            for n in range(pollers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def poll_once(self) -> int:
        """Receive one batch and hand it to the function; how many messages it held."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(message, self.queue_arn) for message in messages]}
        batch = {message["MessageId"] for message in messages}
        try:
            keep = failed_ids(self.runtime.invoke(self.function, event), batch)
        except Exception:
            logger.exception("function %s failed on a batch of %d", self.function, len(batch))
            keep = batch
        done = [
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(messages)
            if message["MessageId"] not in keep
        ]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        if keep:
            logger.warning("%d of %d messages returned to the queue", len(keep), len(batch))
        return len(messages)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.poll_once()
            except Exception:
                # As Lambda's poller: a failed receive is retried, the mapping carries on.
                logger.exception("polling %s failed", self.queue_url)
                self._stopped.wait(1)
