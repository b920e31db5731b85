"""The orders queue and its dead-letter queue: plain data for the Pulumi program and local stack."""

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueSpec:
    name: str
    visibility_timeout_seconds: int  # longer than the worker's timeout (fulfilment, later)
    retention_seconds: int
    max_receive_count: int  # receives before a message moves to the dead-letter queue
    dead_letter_retention_seconds: int

    @property
    def dead_letter_name(self) -> str:
        return f"{self.name}-dlq"


DAY = 24 * 60 * 60
ORDERS_QUEUE = QueueSpec(
    name="orders",
    visibility_timeout_seconds=180,
    retention_seconds=4 * DAY,
    max_receive_count=5,
    dead_letter_retention_seconds=14 * DAY,
)
RELAY_SCHEDULE = "rate(1 minute)"  # the outbox relay sends what the API could not
MIGRATIONS_DIR = "services/orders/migrations"
