"""The customer's cancel: only their own order, only before it ships; stock and money go back at
once, and the message that makes the workflow undo them commits with the status change."""

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.common.clock import Clock
from services.common.errors import Conflict, NotFound
from services.orders import service
from services.orders.domain import (
    CancelReason,
    InvalidTransition,
    Order,
    OrderLine,
    OrderNotFound,
    OrderStatus,
)
from services.orders.fulfilment import Steps
from services.orders.payments import ChargeStatus
from tests.unit.fakes import FakeInventory, FakeOrdersDatabase, FakePaymentProvider, FakePublisher

ANA = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
BEN = "9f8e7d6c-5b4a-4c3d-9e2f-1a0b9c8d7e6f"
LAMP = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
ORDER_ID = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CANCELLED_MESSAGE = {"type": "OrderCancelled", "orderId": ORDER_ID, "userId": ANA}


def at(moment: datetime) -> Clock:
    return lambda: moment


@pytest.fixture
def database() -> FakeOrdersDatabase:
    return FakeOrdersDatabase()


@pytest.fixture
def inventory() -> FakeInventory:
    return FakeInventory({LAMP: 10})


@pytest.fixture
def payments() -> FakePaymentProvider:
    return FakePaymentProvider(at(NOW))


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def steps(database, inventory, payments) -> Steps:
    return Steps(database.new_unit_of_work, inventory, payments, clock=at(NOW))


def stored(database: FakeOrdersDatabase, status: OrderStatus = OrderStatus.PENDING) -> Order:
    order = Order(
        id=ORDER_ID,
        user_id=ANA,
        status=status,
        status_reason=CancelReason.FAILED.value if status is OrderStatus.CANCELLED else None,
        lines=(OrderLine(LAMP, "Lamp", Decimal("25.00"), 4),),
        payment_token="tok_visa",
        created_at="2026-03-01T09:00:00.000Z",
        updated_at="2026-03-01T09:00:00.000Z",
    )
    database.orders[order.id] = order
    return order


def held(database: FakeOrdersDatabase, steps: Steps, status: OrderStatus) -> Order:
    """An order whose stock is reserved and whose total is charged, as fulfilment leaves it."""
    order = stored(database)
    steps.reserve(order.id)
    steps.pay(order.id)
    if status is OrderStatus.CONFIRMED:
        return steps.confirm(order.id)
    return order


def cancel(steps: Steps, publisher: FakePublisher, user: str = ANA) -> Order:
    return service.cancel_order(steps, publisher, user, ORDER_ID)


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.CONFIRMED])
def test_the_customer_cancels_and_gets_stock_and_money_back(
    database, inventory, payments, publisher, steps, status
):
    held(database, steps, status)

    cancelled = cancel(steps, publisher)

    assert database.orders[ORDER_ID] == cancelled
    assert (cancelled.status, cancelled.status_reason, cancelled.updated_at) == (
        OrderStatus.CANCELLED,
        "CANCELLED_BY_CUSTOMER",
        "2026-03-02T08:00:00.000Z",
    )
    assert inventory.stock == {LAMP: 10}
    assert inventory.given_back == [ORDER_ID]
    charge = payments.get(ORDER_ID)
    assert charge is not None
    assert (charge.status, charge.amount) == (ChargeStatus.REFUNDED, Decimal("100.00"))
    assert len(payments.refunds) == 1


def test_the_cancelled_message_is_published_once_committed(database, publisher, steps):
    stored(database)

    cancel(steps, publisher)

    assert [message.body for message in publisher.sent] == [CANCELLED_MESSAGE]
    assert database.sent() == publisher.sent
    assert database.pending() == []


def test_the_status_and_the_message_commit_together(database, steps):
    stored(database)
    queue_down = FakePublisher(failing=True)

    cancel(steps, queue_down)

    assert database.commits == 1  # one transaction held both: neither can exist alone
    assert database.orders[ORDER_ID].status is OrderStatus.CANCELLED
    assert [message.body for message in database.pending()] == [CANCELLED_MESSAGE]


def test_someone_elses_order_is_not_found_and_left_alone(database, publisher, steps):
    order = stored(database)

    with pytest.raises(OrderNotFound) as refused:
        cancel(steps, publisher, user=BEN)

    assert isinstance(refused.value, NotFound)  # 404 at the edge
    assert database.orders[ORDER_ID] == order
    assert (database.commits, database.outbox, publisher.calls) == (0, {}, 0)


def test_an_unknown_order_is_not_found(database, publisher, steps):
    with pytest.raises(OrderNotFound):
        cancel(steps, publisher)

    assert (database.commits, database.outbox, publisher.calls) == (0, {}, 0)


@pytest.mark.parametrize(
    "status", [OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED]
)
def test_an_order_past_confirmed_cannot_be_cancelled_and_nothing_moves(
    database, inventory, payments, publisher, steps, status
):
    held(database, steps, OrderStatus.CONFIRMED)
    database.orders[ORDER_ID] = moved = dataclasses.replace(
        database.orders[ORDER_ID], status=status
    )

    with pytest.raises(InvalidTransition) as refused:
        cancel(steps, publisher)

    assert isinstance(refused.value, Conflict)  # 409 at the edge
    assert (refused.value.current, refused.value.target) == (status, OrderStatus.CANCELLED)
    assert database.orders[ORDER_ID] == moved
    assert database.outbox == {}
    assert publisher.calls == 0
    assert (inventory.stock, inventory.given_back) == ({LAMP: 6}, [])
    assert payments.refunds == []


def test_with_the_stock_store_down_the_cancel_stands_and_the_workflow_is_told(
    database, inventory, payments, publisher, steps
):
    held(database, steps, OrderStatus.CONFIRMED)
    inventory.failing = True

    cancelled = cancel(steps, publisher)

    assert database.orders[ORDER_ID] == cancelled
    assert cancelled.status is OrderStatus.CANCELLED
    assert [message.body for message in publisher.sent] == [CANCELLED_MESSAGE]
    inventory.failing = False
    assert inventory.get(ORDER_ID) is not None
    assert inventory.given_back == []  # left to the OrderCancelled run
    assert len(payments.refunds) == 1  # the refund comes first and went through


def test_with_the_payment_provider_down_the_cancel_stands_and_the_workflow_is_told(
    database, payments, publisher, steps
):
    held(database, steps, OrderStatus.PENDING)
    payments.failing = True

    cancelled = cancel(steps, publisher)

    assert database.orders[ORDER_ID] == cancelled
    assert [message.body for message in publisher.sent] == [CANCELLED_MESSAGE]
    payments.failing = False
    assert payments.refunds == []  # left to the OrderCancelled run


def test_an_undo_failing_unexpectedly_still_answers_the_committed_cancel_and_tells_the_workflow(
    database, inventory, payments, publisher, steps, monkeypatch
):
    held(database, steps, OrderStatus.CONFIRMED)

    def broken(order_id: str) -> bool:
        raise RuntimeError("a bug in the stock adapter")

    monkeypatch.setattr(inventory, "release", broken)

    cancelled = cancel(steps, publisher)

    assert cancelled.status is OrderStatus.CANCELLED
    assert database.orders[ORDER_ID] == cancelled
    assert [message.body for message in publisher.sent] == [CANCELLED_MESSAGE]


def test_with_the_queue_down_too_the_message_waits_in_the_outbox(database, inventory, steps):
    held(database, steps, OrderStatus.PENDING)
    inventory.failing = True

    cancel(steps, FakePublisher(failing=True))

    assert database.orders[ORDER_ID].status is OrderStatus.CANCELLED
    assert [message.body for message in database.pending()] == [CANCELLED_MESSAGE]


def test_an_id_spelled_otherwise_cancels_the_order_and_the_message_names_it_as_stored(
    database, publisher, steps
):
    stored(database)

    cancelled = service.cancel_order(steps, publisher, ANA, "{" + ORDER_ID.upper() + "}")

    assert cancelled.id == ORDER_ID
    assert [message.body for message in publisher.sent] == [CANCELLED_MESSAGE]
