"""DynamoDB plumbing shared by every adapter: item (de)serialisation and error translation."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from services.common.errors import DependencyUnavailable, Throttled

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

THROTTLING = {
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
}
UNAVAILABLE = {"InternalServerError", "ServiceUnavailable"}
# A write to an item that a transaction holds at that moment: contention that passes, not a fault.
CONTENTION = {"TransactionConflictException"}
# The reasons a cancelled transaction gives for its items that say "try again", not "no": a
# conflicting transaction or throttling (DynamoDB retries neither inside a transaction).
TRANSIENT_CANCELLATIONS = {
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
}


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def cancellation_reasons(exc: ClientError) -> list[str]:
    """What a cancelled transaction says of each of its items, in order ("None": nothing)."""
    reasons = exc.response.get("CancellationReasons", [])
    return [reason.get("Code") or "None" for reason in reasons]


def _cancelled_for_now(exc: ClientError) -> bool:
    """A transaction cancelled only because it met another or was throttled: retrying may pass.
    A failed condition on any item is an answer, and its caller reads it."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = set(cancellation_reasons(exc)) - {"None"}
    return bool(reasons) and reasons <= TRANSIENT_CANCELLATIONS


@contextmanager
def translated(store: str = "The catalogue") -> Iterator[None]:
    """SDK failures become domain errors the edge answers with 429 or 503, naming `store`."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in THROTTLING or code in CONTENTION or _cancelled_for_now(exc):
            raise Throttled(f"{store} is busy; retry shortly.") from exc
        if code in UNAVAILABLE:
            raise DependencyUnavailable(f"{store} is unavailable; retry shortly.") from exc
        raise
    except BotoCoreError as exc:
        raise DependencyUnavailable(f"{store} is unreachable; retry shortly.") from exc
