"""The simulated payment provider, keeping its records on the products table.

One record per order at payment_key(orderId): FAILED_ATTEMPT (tok_flaky's first call, nothing
charged) → CHARGED → REFUNDED. Every state change is one conditional write, so no retry and no
race can charge an order twice or refund it twice. A decline writes nothing: it moves no money,
and the order's own status records it.
"""

import logging
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from services.common.clock import Clock, timestamp, utc_now
from services.common.dynamodb import from_item, to_item, translated
from services.orders.payments import (
    CENT,
    Charge,
    ChargeStatus,
    Outcome,
    PaymentDeclined,
    PaymentProvider,
    PaymentTemporarilyFailed,
    checked_amount,
    masked,
    simulated_outcome,
)
from services.products import table

logger = logging.getLogger(__name__)

FAILED_ATTEMPT = "FAILED_ATTEMPT"
STORE = "The payment provider"
_SETTLED = {ChargeStatus.CHARGED.value, ChargeStatus.REFUNDED.value}


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _settled(record: dict[str, Any] | None) -> Charge | None:
    """The charge a record holds; None for no record or a failed attempt."""
    if record is None:
        return None
    data = from_item(record)
    return _charge(data) if data["status"] in _SETTLED else None


def _charge(data: dict[str, Any]) -> Charge:
    return Charge(
        order_id=data["orderId"],
        amount=Decimal(data["amount"]).quantize(CENT),
        currency=data["currency"],
        token=data["token"],
        status=ChargeStatus(data["status"]),
        charged_at=data["chargedAt"],
        refunded_at=data.get("refundedAt"),
        attempts=int(data["attempts"]),
    )


class DynamoDBPaymentProvider(PaymentProvider):
    def __init__(self, client: Any, table_name: str, clock: Clock = utc_now) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def charge(self, order_id: str, amount: Decimal, currency: str, token: str) -> Charge:
        amount = checked_amount(amount, currency, token)
        record = self._record(order_id)
        existing = _settled(record)
        if existing is not None:
            return existing.repeated(amount, token)
        attempt = 1 if record is None else int(from_item(record)["attempts"]) + 1
        outcome = simulated_outcome(token, attempt)
        if outcome is Outcome.DECLINE:
            logger.info("payment for order %s declined (%s)", order_id, masked(token))
            raise PaymentDeclined(order_id)
        fields = {
            table.ENTITY: table.PAYMENT_ENTITY,
            "orderId": order_id,
            "amount": amount,
            "currency": currency,
            "token": token,
        }
        if outcome is Outcome.TRANSIENT:
            return self._fail_first_attempt(order_id, fields)
        return self._take(order_id, fields)

    def refund(self, order_id: str) -> Charge | None:
        try:
            with translated(STORE):
                updated = self._client.update_item(
                    TableName=self._table,
                    Key=to_item(table.payment_key(order_id)),
                    UpdateExpression="SET #status = :refunded, #refundedAt = :now",
                    ConditionExpression="#status = :charged",
                    ExpressionAttributeNames={"#status": "status", "#refundedAt": "refundedAt"},
                    ExpressionAttributeValues=to_item(
                        {
                            ":refunded": ChargeStatus.REFUNDED.value,
                            ":charged": ChargeStatus.CHARGED.value,
                            ":now": timestamp(self._clock()),
                        }
                    ),
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            # Refunded before (the same charge again), or never charged (None).
            return _settled(exc.response.get("Item"))
        logger.info("payment for order %s refunded", order_id)
        return _settled(updated["Attributes"])

    def get(self, order_id: str) -> Charge | None:
        return _settled(self._record(order_id))

    def _record(self, order_id: str) -> dict[str, Any] | None:
        with translated(STORE):
            found = self._client.get_item(
                TableName=self._table, Key=to_item(table.payment_key(order_id)), ConsistentRead=True
            )
        record: dict[str, Any] | None = found.get("Item")
        return record

    def _fail_first_attempt(self, order_id: str, fields: dict[str, Any]) -> Charge:
        """Record the failed first attempt, so the next one charges, and raise it."""
        item = {**table.payment_key(order_id), **fields, "status": FAILED_ATTEMPT, "attempts": 1}
        try:
            with translated(STORE):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            # Another call got here first: it charged (answer as a repeat) or failed too (retry).
            existing = _settled(exc.response.get("Item"))
            if existing is not None:
                return existing.repeated(fields["amount"], fields["token"])
        logger.info("payment for order %s failed for now (%s)", order_id, masked(fields["token"]))
        raise PaymentTemporarilyFailed(order_id)

    def _take(self, order_id: str, fields: dict[str, Any]) -> Charge:
        """The one write that moves money: only where nothing was charged or refunded yet."""
        now = timestamp(self._clock())
        values = {**fields, "status": ChargeStatus.CHARGED.value, "chargedAt": now}
        sets = [f"#{name} = :{name}" for name in values]
        try:
            with translated(STORE):
                updated = self._client.update_item(
                    TableName=self._table,
                    Key=to_item(table.payment_key(order_id)),
                    UpdateExpression="SET "
                    + ", ".join(sets)
                    + ", #attempts = if_not_exists(#attempts, :zero) + :one",
                    ConditionExpression="attribute_not_exists(pk) OR #status = :failed",
                    ExpressionAttributeNames={f"#{name}": name for name in [*values, "attempts"]},
                    ExpressionAttributeValues=to_item(
                        {
                            **{f":{name}": value for name, value in values.items()},
                            ":zero": 0,
                            ":one": 1,
                            ":failed": FAILED_ATTEMPT,
                        }
                    ),
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            existing = _settled(exc.response.get("Item")) if _condition_failed(exc) else None
            if existing is None:
                raise
            return existing.repeated(fields["amount"], fields["token"])  # charged meanwhile
        logger.info("payment for order %s charged (%s)", order_id, masked(fields["token"]))
        return _charge(from_item(updated["Attributes"]))
