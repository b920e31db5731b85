"""The fulfilment steps and the customer's cancel: the order rules of the workflow. No I/O here.

Each step is safe to repeat, because a store enforces it: the reservation record makes reserving
happen at most once per order, the charge record makes charging happen at most once, the
conditional status change makes confirming and cancelling happen at most once. The workflow
(`workflow.py`) runs them in order and compensates; this module says what each one does.

Confirming is the point where the race with a customer's cancel is decided: whichever
conditional status change commits first wins. The loser compensates what it did.
"""

from collections.abc import Callable
from dataclasses import dataclass

from services.common.clock import Clock, timestamp, utc_now
from services.orders.domain import CancelReason, InvalidTransition, Order, OrderStatus
from services.orders.inventory import Inventory
from services.orders.payments import ChargeStatus, PaymentProvider
from services.orders.ports import UnitOfWork


class OrderNotPending(Exception):
    """The order left PENDING while the workflow ran; the subclass says what the run does."""

    def __init__(self, order_id: str, status: OrderStatus) -> None:
        super().__init__(f"Order {order_id} is {status.value}; fulfilment stops here.")
        self.order_id = order_id
        self.status = status


class OrderSettled(OrderNotPending):
    """The order was cancelled while the workflow ran (the customer's cancel won the race): the
    workflow gives back whatever it took, even in an attempt whose answer was lost, and leaves
    the status alone."""


class OrderFulfilled(OrderNotPending):
    """The order is already CONFIRMED or beyond: a run that finds it so does nothing at all."""


class OrderUndone(Exception):
    """A PENDING order whose stock an earlier run gave back, or whose charge it refunded, before
    it could cancel the order (say the database stayed down through every retry). Fulfilling it
    now would confirm an order holding no stock or no money, so the run fails it instead: its
    undo finds nothing left to do, and the order is cancelled as FAILED."""

    def __init__(self, order_id: str, what: str) -> None:
        super().__init__(
            f"Order {order_id}: {what} by an earlier run; it is failed, not fulfilled."
        )
        self.order_id = order_id


@dataclass(frozen=True)
class Steps:
    """What the steps work on: the orders database, the stock and the payment provider."""

    new_unit_of_work: Callable[[], UnitOfWork]
    inventory: Inventory
    payments: PaymentProvider
    clock: Clock = utc_now

    def _pending(self, order_id: str) -> Order:
        with self.new_unit_of_work() as uow:
            order = uow.orders.find(order_id)
        if order.status is OrderStatus.CANCELLED:
            raise OrderSettled(order.id, order.status)
        if order.status is not OrderStatus.PENDING:
            raise OrderFulfilled(order.id, order.status)
        return order

    def reserve(self, order_id: str) -> None:
        """Take the stock of every line, or raise OutOfStock having taken none; OrderUndone if
        an earlier run took it and gave it back."""
        order = self._pending(order_id)
        lines = [(line.product_id, line.quantity) for line in order.lines]
        if self.inventory.reserve(order.id, lines).released:
            self._pending(order.id)  # a customer's cancel gave it back meanwhile: OrderSettled
            raise OrderUndone(order.id, "its stock was given back")

    def pay(self, order_id: str) -> None:
        """Charge the order's total once; PaymentDeclined or PaymentTemporarilyFailed otherwise,
        and OrderUndone if an earlier run charged it and refunded it."""
        order = self._pending(order_id)
        charge = self.payments.charge(order.id, order.total, order.currency, order.payment_token)
        if charge.status is ChargeStatus.REFUNDED:
            self._pending(order.id)  # a customer's cancel refunded it meanwhile: OrderSettled
            raise OrderUndone(order.id, "its charge was refunded")

    def confirm(self, order_id: str) -> Order:
        """PENDING to CONFIRMED; a cancelled order raises OrderSettled. An order already
        CONFIRMED, SHIPPED or DELIVERED is a repeat whose first answer was lost: a success."""
        try:
            return self._move(order_id, OrderStatus.CONFIRMED, None)
        except InvalidTransition as exc:
            if exc.current is OrderStatus.CANCELLED:
                raise OrderSettled(order_id, exc.current) from exc
            return self._find(order_id)

    def cancel(self, order_id: str, reason: CancelReason) -> Order:
        """To CANCELLED with `reason`; an order cancelled before keeps its first reason."""
        try:
            return self._move(order_id, OrderStatus.CANCELLED, reason)
        except InvalidTransition as exc:
            if exc.current is OrderStatus.CANCELLED:
                return self._find(order_id)
            raise

    def release(self, order_id: str) -> bool:
        """Give the order's stock back, at most once; False when none was held."""
        return self.inventory.release(order_id)

    def refund(self, order_id: str) -> bool:
        """Refund the order's charge, at most once; False when it was never charged."""
        return self.payments.refund(order_id) is not None

    def undo(self, order_id: str) -> None:
        """Refund, then release: what a cancelled order must not keep."""
        self.refund(order_id)
        self.release(order_id)

    def _move(self, order_id: str, target: OrderStatus, reason: CancelReason | None) -> Order:
        return move(self.new_unit_of_work, order_id, target, reason, self.clock)

    def _find(self, order_id: str) -> Order:
        with self.new_unit_of_work() as uow:
            return uow.orders.find(order_id)


def move(
    new_unit_of_work: Callable[[], UnitOfWork],
    order_id: str,
    target: OrderStatus,
    reason: CancelReason | None,
    clock: Clock,
) -> Order:
    """A status change alone in its unit of work: one statement that commits as it runs."""
    with new_unit_of_work() as uow:
        uow.next_is_last()
        order = uow.orders.transition(order_id, target, reason, timestamp(clock()))
        uow.commit()
    return order
