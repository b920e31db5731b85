"""Orders, their lines and the errors placing and reading them can raise. No I/O here."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.common.errors import BadRequest, Conflict, FieldError, NotFound, ValidationFailed

CURRENCY = "USD"
DEFAULT_PAYMENT_TOKEN = "tok_visa"  # noqa: S105 (the simulated provider's test card, not a secret)


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class CancelReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    CANCELLED_BY_CUSTOMER = "CANCELLED_BY_CUSTOMER"
    FAILED = "FAILED"


class OrderEvent(StrEnum):
    """The messages on the orders queue: each starts one run of the fulfilment workflow."""

    PLACED = "OrderPlaced"  # fulfil it
    CANCELLED = "OrderCancelled"  # the customer cancelled it: undo any stock or payment held


def order_message(
    event: OrderEvent, order_id: str, user_id: str, correlation_id: str | None = None
) -> dict[str, str]:
    """The queue message announcing `event` for an order (ids only, nothing personal); the
    correlation id (the API request's) follows the order into the workflow's logs."""
    message = {"type": event.value, "orderId": order_id, "userId": user_id}
    if correlation_id:
        message["correlationId"] = correlation_id
    return message


# The only moves an order can make; every status change goes through `check_transition`.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def predecessors(target: OrderStatus) -> frozenset[OrderStatus]:
    """The statuses an order may be in to move to `target`."""
    return frozenset(status for status, targets in TRANSITIONS.items() if target in targets)


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)


def order_id_of(text: str) -> str:
    """An order id as it is stored (PostgreSQL reads several spellings of a UUID, messages
    carry one); OrderNotFound for text that is no UUID, since it names no order."""
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise OrderNotFound(text[:64]) from exc


@dataclass(frozen=True)
class PricedProduct:
    id: str
    name: str
    price: Decimal


@dataclass(frozen=True)
class OrderRequest:
    """What a customer asked for: product ids with quantities, in their order."""

    lines: tuple[tuple[str, int], ...]
    payment_token: str = DEFAULT_PAYMENT_TOKEN

    def fingerprint(self) -> str:
        """Equal for equal requests: how a repeated Idempotency-Key is told from a reused one."""
        canonical = json.dumps(
            {"items": [list(line) for line in self.lines], "paymentToken": self.payment_token},
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    name: str
    unit_price: Decimal
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Order:
    id: str
    user_id: str
    status: OrderStatus
    status_reason: str | None
    lines: tuple[OrderLine, ...]
    payment_token: str
    created_at: str
    updated_at: str
    currency: str = CURRENCY

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    def message(self, event: OrderEvent, correlation_id: str | None = None) -> dict[str, str]:
        return order_message(event, self.id, self.user_id, correlation_id)

    def to_json(self) -> dict[str, Any]:
        """The order as clients see it (the payment token stays inside)."""
        return {
            "id": self.id,
            "userId": self.user_id,
            "status": self.status.value,
            "statusReason": self.status_reason,
            "items": [
                {
                    "productId": line.product_id,
                    "name": line.name,
                    "unitPrice": line.unit_price,
                    "quantity": line.quantity,
                    "lineTotal": line.line_total,
                }
                for line in self.lines
            ],
            "total": self.total,
            "currency": self.currency,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True)
class StoredResponse:
    """The first answer to an idempotent request, returned again to its repeats."""

    status: int
    body: dict[str, Any]
    order_id: str


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    order_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Placement:
    response: StoredResponse
    replayed: bool


class OrderNotFound(NotFound):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"No order of yours has the id {order_id!r}.")


class UnknownProducts(ValidationFailed):
    def __init__(self, positions: dict[int, str]) -> None:
        super().__init__(
            [
                FieldError(f"items.{index}.productId", f"no product has the id {product_id}")
                for index, product_id in sorted(positions.items())
            ],
            detail="The order names products that do not exist.",
        )


class IdempotencyKeyReused(ValidationFailed):
    def __init__(self) -> None:
        super().__init__(
            [FieldError("Idempotency-Key", "was already used with a different request")],
            detail="This Idempotency-Key was used with a different body; use a new key.",
        )


class RequestInFlight(Conflict):
    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed; retry.")


class InvalidTransition(Conflict):
    def __init__(self, current: OrderStatus, target: OrderStatus) -> None:
        super().__init__(f"An order that is {current.value} cannot become {target.value}.")
        self.current = current
        self.target = target


class InvalidCursor(BadRequest):
    def __init__(self) -> None:
        super().__init__("The cursor is not one this API issued; start again without it.")
