"""The ports the order rules need: prices, the orders database and the queue."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from services.orders.domain import (
    CancelReason,
    Order,
    OrderStatus,
    OutboxMessage,
    PricedProduct,
    StoredResponse,
)


@dataclass(frozen=True)
class OrderPage:
    items: list[Order]
    next_cursor: str | None


class Catalogue(ABC):
    @abstractmethod
    def prices(self, product_ids: Sequence[str]) -> dict[str, PricedProduct]:
        """The current name and price of each product that exists, in one read."""


class OrderRepository(ABC):
    @abstractmethod
    def add(self, order: Order) -> None: ...

    @abstractmethod
    def get(self, user_id: str, order_id: str) -> Order:
        """The user's order, or OrderNotFound (also when it belongs to someone else)."""

    @abstractmethod
    def find(self, order_id: str) -> Order:
        """Any user's order, for the fulfilment steps, never for a caller; or OrderNotFound."""

    @abstractmethod
    def list(self, user_id: str, limit: int, cursor: str | None) -> OrderPage:
        """The user's orders, newest first; InvalidCursor for a cursor not issued here."""

    @abstractmethod
    def transition(
        self,
        order_id: str,
        target: OrderStatus,
        reason: CancelReason | None,
        now: str,
        *,
        owner: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> Order:
        """Move an order to `target` in one conditional write, only from a status the
        transition table allows; InvalidTransition otherwise, OrderNotFound if absent (or, given
        an `owner`, someone else's). A `message` goes to the outbox in that same write, so it
        exists exactly when the move does; commit() returns it with its id."""


class IdempotencyStore(ABC):
    @abstractmethod
    def claim(self, user_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        """None when the key is new and now ours; the stored answer for a repeat.

        Raises RequestInFlight while another request holds the key, and
        IdempotencyKeyReused when the key came with a different request.
        """

    @abstractmethod
    def complete(
        self, user_id: str, key: str, fingerprint: str, response: StoredResponse
    ) -> None: ...


class Outbox(ABC):
    @abstractmethod
    def add(self, order_id: str, body: dict[str, Any]) -> None:
        """A message to send once the unit of work commits; commit() returns it with its id."""

    @abstractmethod
    def pending(self, limit: int) -> list[OutboxMessage]:
        """Unsent messages, oldest first, held for this unit of work only."""

    @abstractmethod
    def mark_sent(self, message_ids: Sequence[int]) -> None: ...


class UnitOfWorkEnded(RuntimeError):
    """Something was done through a unit of work after the operation announced as its last."""

    def __init__(self) -> None:
        super().__init__("this unit of work committed with its last operation; start another")


class UnitOfWork(ABC):
    """One database transaction: everything done through it commits together or not at all."""

    orders: OrderRepository
    idempotency: IdempotencyStore
    outbox: Outbox

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.rollback()  # a no-op after commit

    @abstractmethod
    def next_is_last(self) -> None:
        """Promise that nothing but commit() follows the next operation, so that an adapter can
        commit with it (PostgreSQL sends a lone statement without BEGIN or COMMIT). If that
        operation fails, nothing is committed; anything written after it once it has committed
        raises UnitOfWorkEnded, as it could no longer commit with the rest."""

    @abstractmethod
    def commit(self) -> list[OutboxMessage]:
        """Make everything durable at once; the outbox messages added, with their ids."""

    @abstractmethod
    def rollback(self) -> None: ...


class Publisher(ABC):
    @abstractmethod
    def publish(self, messages: Sequence[OutboxMessage]) -> list[int]:
        """Send the messages; the ids the queue accepted. DependencyUnavailable if it is down."""
