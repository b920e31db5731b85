"""Stock reservations on the products table: stock and the reservation change in one transaction.

Reserving decrements every line's stock under the condition that enough is left, and writes the
order's reservation record under the condition that none exists: all in one TransactWriteItems,
so an order's stock is taken for every line or for none, and never twice.
"""

from typing import Any

from botocore.exceptions import ClientError

from services.common.clock import Clock, timestamp, utc_now
from services.common.dynamodb import cancellation_reasons, from_item, to_item, translated
from services.orders.inventory import Inventory, Lines, OutOfStock, Reservation
from services.products import table

RESERVED, RELEASED = "RESERVED", "RELEASED"
STORE = "The stock store"


def _cancelled(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "TransactionCanceledException")


class DynamoDBInventory(Inventory):
    def __init__(self, client: Any, table_name: str, clock: Clock = utc_now) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def reserve(self, order_id: str, lines: Lines) -> Reservation:
        now = timestamp(self._clock())
        record = {
            **table.reservation_key(order_id),
            table.ENTITY: table.RESERVATION_ENTITY,
            "orderId": order_id,
            "lines": [{"productId": pid, "quantity": quantity} for pid, quantity in lines],
            "status": RESERVED,
            "reservedAt": now,
        }
        actions = [self._stock_change(pid, -quantity, now) for pid, quantity in lines]
        actions.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(record),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        try:
            with translated(STORE):
                self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if not _cancelled(exc):
                raise
            reasons = cancellation_reasons(exc)
            if reasons and reasons[-1] == "ConditionalCheckFailed":
                existing = self.get(order_id)  # reserved before: a repeat takes nothing more
                if existing is not None:
                    return existing
            short = [pid for (pid, _), code in zip(lines, reasons, strict=False)
                     if code == "ConditionalCheckFailed"]  # fmt: skip
            if short:
                raise OutOfStock(short) from exc
            raise
        return Reservation(order_id, tuple((pid, q) for pid, q in lines), released=False)

    def release(self, order_id: str) -> bool:
        reservation = self.get(order_id)
        if reservation is None or reservation.released:
            return False
        now = timestamp(self._clock())
        lines = list(reservation.lines)
        while True:
            actions = [self._stock_change(pid, quantity, now) for pid, quantity in lines]
            actions.append(self._mark_released(order_id, now))
            try:
                with translated(STORE):
                    self._client.transact_write_items(TransactItems=actions)
                return True
            except ClientError as exc:
                if not _cancelled(exc):
                    raise
                reasons = cancellation_reasons(exc)
                if reasons and reasons[-1] == "ConditionalCheckFailed":
                    return False  # released meanwhile by someone else: at most once
                # A product deleted since it was reserved has no stock to give back.
                gone = {pid for (pid, _), code in zip(lines, reasons, strict=False)
                        if code == "ConditionalCheckFailed"}  # fmt: skip
                if not gone:
                    raise
                lines = [line for line in lines if line[0] not in gone]

    def get(self, order_id: str) -> Reservation | None:
        with translated(STORE):
            found = self._client.get_item(
                TableName=self._table,
                Key=to_item(table.reservation_key(order_id)),
                ConsistentRead=True,
            )
        if "Item" not in found:
            return None
        data = from_item(found["Item"])
        lines = tuple((line["productId"], int(line["quantity"])) for line in data["lines"])
        return Reservation(order_id, lines, released=data["status"] == RELEASED)

    def _stock_change(self, product_id: str, delta: int, now: str) -> dict[str, Any]:
        """Stock moves by `delta`, never below zero; the version grows so ETags stay true."""
        condition = "attribute_exists(pk)" + (" AND stock >= :need" if delta < 0 else "")
        values: dict[str, Any] = {":delta": delta, ":one": 1, ":now": now}
        if delta < 0:
            values[":need"] = -delta
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item(table.product_key(product_id)),
                "UpdateExpression": (
                    "SET stock = stock + :delta, version = version + :one, updatedAt = :now"
                ),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": to_item(values),
            }
        }

    def _mark_released(self, order_id: str, now: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item(table.reservation_key(order_id)),
                "UpdateExpression": "SET #status = :released, releasedAt = :now",
                "ConditionExpression": "#status = :reserved",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": to_item(
                    {":released": RELEASED, ":reserved": RESERVED, ":now": now}
                ),
            }
        }
