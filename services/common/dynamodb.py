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


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


@contextmanager
def translated(store: str = "The catalogue") -> Iterator[None]:
    """SDK failures become domain errors the edge answers with 429 or 503, naming `store`."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in THROTTLING:
            raise Throttled(f"{store} is busy; retry shortly.") from exc
        if code in UNAVAILABLE:
            raise DependencyUnavailable(f"{store} is unavailable; retry shortly.") from exc
        raise
    except BotoCoreError as exc:
        raise DependencyUnavailable(f"{store} is unreachable; retry shortly.") from exc
