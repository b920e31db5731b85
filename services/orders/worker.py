"""Lambda entry of the order worker: each queue message starts one run of the fulfilment workflow.

The execution is named after the order (and the event), so a message delivered twice, or sent
twice by the API and the relay, can never start a second run: Step Functions refuses the name,
and that refusal counts as done. A message that cannot be read is reported as a failure alone
(partial batch response); after the queue's maximum receives it moves to the dead-letter queue.
"""

import json
import logging
from collections.abc import Callable
from typing import Any, Literal

from services.common.startup import importing

with importing():
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from botocore.exceptions import ClientError
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    from services.common.aws import AwsClients
    from services.common.lambda_entry import before_snapshot, once
    from services.common.observability import correlate, observed
    from services.common.settings import Settings
    from services.orders.domain import OrderEvent

logger = logging.getLogger(__name__)

ALREADY_STARTED = "ExecutionAlreadyExists"
WorkerHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class OrderMessage(BaseModel):
    """What the API and the relay put on the queue (see Order.message)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal[OrderEvent.PLACED, OrderEvent.CANCELLED]
    order_id: str = Field(
        alias="orderId",
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    )
    user_id: str = Field(alias="userId", min_length=1, max_length=128)
    correlation_id: str = Field("", alias="correlationId", max_length=128)

    @property
    def execution_name(self) -> str:
        """One run per order and event: at most 80 characters, as Step Functions requires."""
        if self.type is OrderEvent.PLACED:
            return self.order_id
        return f"{self.order_id}-cancelled"

    @property
    def execution_input(self) -> str:
        # The same message always gives the same input: a duplicate start while the first run
        # is still going is then answered with that run, as Step Functions does.
        return json.dumps(
            {
                "orderId": self.order_id,
                "type": self.type.value,
                "userId": self.user_id,
                "correlationId": self.correlation_id,
            },
            sort_keys=True,
        )


class PoisonMessage(ValueError):
    """A message that no retry can make readable: it ends in the dead-letter queue."""


class Starter:
    """Starts one execution per message on the fulfilment state machine."""

    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        self._stepfunctions = stepfunctions
        self._state_machine_arn = state_machine_arn

    def start(self, message: OrderMessage) -> bool:
        """True when this call started the run, False when it had been started before."""
        try:
            self._stepfunctions.start_execution(
                stateMachineArn=self._state_machine_arn,
                name=message.execution_name,
                input=message.execution_input,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == ALREADY_STARTED:
                return False
            raise  # throttled or unavailable: the message returns and is tried again
        return True


def starter_from(settings: Settings | None = None) -> Starter:
    settings = settings or Settings.from_env()
    return Starter(AwsClients(settings).stepfunctions, settings.state_machine_arn)


def read_message(body: str) -> OrderMessage:
    try:
        return OrderMessage.model_validate_json(body)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in exc.errors())
        raise PoisonMessage(f"not an order message ({fields})") from None


def worker_handler(build: Callable[[], Starter] = starter_from) -> WorkerHandler:
    """The worker's Lambda entry; the Step Functions client is built on the first batch."""
    starter = once(build)
    before_snapshot(starter)

    def record_handler(record: SQSRecord) -> None:
        try:
            message = read_message(record.body)
        except PoisonMessage as exc:
            # The id and the reason only: a body that cannot be read may hold anything.
            receives = record.attributes.approximate_receive_count
            logger.error("message %s (receive %s) refused: %s", record.message_id, receives, exc)
            raise
        correlate(
            correlation_id=message.correlation_id,
            order_id=message.order_id,
            user_id=message.user_id,
        )
        started = starter().start(message)
        logger.info(
            "%s for order %s: %s",
            message.type.value,
            message.order_id,
            "workflow started" if started else "workflow already started",
        )

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)

    entry: WorkerHandler = observed(handle, lambda event: {})  # keys are set per message
    return entry


handler = worker_handler()
