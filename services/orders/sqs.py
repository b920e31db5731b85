"""The orders queue on SQS: outbox messages sent in batches of ten, ids reported per message."""

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.common.errors import DependencyUnavailable
from services.orders.domain import OutboxMessage
from services.orders.ports import Publisher

_BATCH = 10  # SendMessageBatch's limit


class SqsPublisher(Publisher):
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def publish(self, messages: Sequence[OutboxMessage]) -> list[int]:
        sent: list[int] = []
        for start in range(0, len(messages), _BATCH):
            batch = messages[start : start + _BATCH]
            entries = [
                {
                    "Id": str(message.id),
                    "MessageBody": json.dumps(message.body, separators=(",", ":")),
                    "MessageAttributes": {
                        "outboxId": {"DataType": "Number", "StringValue": str(message.id)}
                    },
                }
                for message in batch
            ]
            try:
                result = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                if sent:
                    return sent  # the rest stays in the outbox for the relay
                raise DependencyUnavailable("The orders queue is unavailable.") from exc
            sent += [int(entry["Id"]) for entry in result.get("Successful", [])]
        return sent
