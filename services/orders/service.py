"""The order rules. Ports come in as arguments; nothing here knows HTTP, SQL or SQS."""

import logging
import uuid
from collections.abc import Callable, Sequence

from services.common.clock import Clock, timestamp, utc_now
from services.common.errors import DependencyUnavailable
from services.orders.domain import (
    CancelReason,
    Order,
    OrderEvent,
    OrderLine,
    OrderRequest,
    OrderStatus,
    OutboxMessage,
    Placement,
    StoredResponse,
    UnknownProducts,
    order_id_of,
    order_message,
)
from services.orders.fulfilment import Steps, move
from services.orders.ports import Catalogue, OrderPage, Publisher, UnitOfWork

logger = logging.getLogger(__name__)

ACCEPTED = 202


def place_order(
    new_unit_of_work: Callable[[], UnitOfWork],
    catalogue: Catalogue,
    publisher: Publisher,
    *,
    user_id: str,
    request: OrderRequest,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    clock: Clock = utc_now,
) -> Placement:
    """Write the order, its lines and its message in one transaction, then send the message.

    Once this returns, the order is durable and its message will reach the queue: sent here
    when the queue answers, otherwise by the relay from the outbox.
    """
    with new_unit_of_work() as uow:
        # A repeat gets its first answer, even if the catalogue has changed since.
        if idempotency_key is not None:
            earlier = uow.idempotency.claim(user_id, idempotency_key, request.fingerprint())
            if earlier is not None:
                return Placement(earlier, replayed=True)
        order = _priced_order(catalogue, user_id, request, timestamp(clock()))
        response = StoredResponse(ACCEPTED, order.to_json(), order.id)
        uow.orders.add(order)
        if idempotency_key is not None:
            uow.idempotency.complete(user_id, idempotency_key, request.fingerprint(), response)
        uow.outbox.add(order.id, order.message(OrderEvent.PLACED, correlation_id))
        messages = uow.commit()
    _send_after_commit(new_unit_of_work, publisher, messages)
    return Placement(response, replayed=False)


def _priced_order(catalogue: Catalogue, user_id: str, request: OrderRequest, now: str) -> Order:
    """A new order with names and prices from the catalogue, read once for all its lines."""
    products = catalogue.prices([product_id for product_id, _ in request.lines])
    unknown = {i: pid for i, (pid, _) in enumerate(request.lines) if pid not in products}
    if unknown:
        raise UnknownProducts(unknown)
    return Order(
        id=str(uuid.uuid4()),
        user_id=user_id,
        status=OrderStatus.PENDING,
        status_reason=None,
        lines=tuple(
            OrderLine(pid, products[pid].name, products[pid].price, quantity)
            for pid, quantity in request.lines
        ),
        payment_token=request.payment_token,
        created_at=now,
        updated_at=now,
    )


def _send_after_commit(
    new_unit_of_work: Callable[[], UnitOfWork],
    publisher: Publisher,
    messages: Sequence[OutboxMessage],
) -> None:
    """Best effort: the order is already committed, and the relay sends whatever is left."""
    if not messages:
        return
    try:
        sent = publisher.publish(messages)
        if sent:
            with new_unit_of_work() as uow:
                uow.outbox.mark_sent(sent)
                uow.commit()
    except DependencyUnavailable as exc:
        ids = ", ".join(str(message.id) for message in messages)
        logger.warning("outbox message %s left for the relay: %s", ids, exc.detail)


def get_order(new_unit_of_work: Callable[[], UnitOfWork], user_id: str, order_id: str) -> Order:
    with new_unit_of_work() as uow:
        return uow.orders.get(user_id, order_id)


def list_orders(
    new_unit_of_work: Callable[[], UnitOfWork], user_id: str, limit: int, cursor: str | None
) -> OrderPage:
    with new_unit_of_work() as uow:
        return uow.orders.list(user_id, limit, cursor)


def advance_order(
    new_unit_of_work: Callable[[], UnitOfWork],
    order_id: str,
    target: OrderStatus,
    clock: Clock = utc_now,
) -> Order:
    """An administrator's move along the table (ship, deliver); 409 from anywhere else."""
    return move(new_unit_of_work, order_id, target, None, clock)


def relay_outbox(
    new_unit_of_work: Callable[[], UnitOfWork], publisher: Publisher, batch_size: int = 100
) -> int:
    """Send what the API could not; returns how many messages reached the queue."""
    with new_unit_of_work() as uow:
        pending = uow.outbox.pending(batch_size)
        sent = publisher.publish(pending) if pending else []
        uow.outbox.mark_sent(sent)
        uow.commit()
    return len(sent)


def cancel_order(
    steps: Steps,
    publisher: Publisher,
    user_id: str,
    order_id: str,
    correlation_id: str | None = None,
) -> Order:
    """The customer cancels their own order: 404 for anyone else's, 409 unless PENDING or
    CONFIRMED. Stock is given back and any payment refunded.

    The status change and the message that guarantees the undo are one write, so they exist
    together or not at all. The undo is then done at once, so the answer already reflects it; if
    the stock or payment store is down, the message's workflow run does it later (both are at
    most once, so doing it twice is safe). Whatever else goes wrong in the undo, the cancel stands
    and is answered as done: its message is sent all the same.
    """
    order_id = order_id_of(order_id)  # as the message names it
    with steps.new_unit_of_work() as uow:
        uow.next_is_last()
        order = uow.orders.transition(
            order_id, OrderStatus.CANCELLED, CancelReason.CANCELLED_BY_CUSTOMER,
            timestamp(steps.clock()),
            owner=user_id,  # someone else's order is not found
            message=order_message(OrderEvent.CANCELLED, order_id, user_id, correlation_id),
        )  # fmt: skip
        messages = uow.commit()
    try:
        steps.undo(order.id)
    except DependencyUnavailable as exc:
        logger.warning("undo of cancelled order %s left to its workflow: %s", order.id, exc.detail)
    except Exception:  # the cancel is committed: the client is told so, the workflow undoes it
        logger.exception("undo of cancelled order %s failed; left to its workflow", order.id)
    _send_after_commit(steps.new_unit_of_work, publisher, messages)
    return order
