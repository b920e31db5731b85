"""The fulfilment steps over in-memory ports: each does its part once, however often it is run,
and none acts on an order that has left PENDING."""

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.common.clock import Clock
from services.common.errors import DependencyUnavailable
from services.orders.domain import (
    DEFAULT_PAYMENT_TOKEN,
    CancelReason,
    InvalidTransition,
    Order,
    OrderLine,
    OrderNotFound,
    OrderStatus,
)
from services.orders.fulfilment import (
    OrderFulfilled,
    OrderNotPending,
    OrderSettled,
    OrderUndone,
    Steps,
)
from services.orders.inventory import OutOfStock, Reservation
from services.orders.payments import ChargeStatus, PaymentDeclined, PaymentTemporarilyFailed
from tests.unit.fakes import FakeInventory, FakeOrdersDatabase, FakePaymentProvider

ANA = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
SHOE = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
SOCK = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
ORDER_ID = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
NOW = datetime(2026, 3, 1, 9, 5, tzinfo=UTC)
LATER = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SETTLED = [OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED]


def at(moment: datetime) -> Clock:
    return lambda: moment


def stored(
    database: FakeOrdersDatabase,
    *,
    status: OrderStatus = OrderStatus.PENDING,
    token: str = DEFAULT_PAYMENT_TOKEN,
    shoes: int = 2,
    socks: int = 3,
) -> Order:
    """A committed order for 2 shoes at 129.99 and 3 socks at 0.10: 260.28 in all."""
    order = Order(
        id=ORDER_ID,
        user_id=ANA,
        status=status,
        status_reason=CancelReason.FAILED.value if status is OrderStatus.CANCELLED else None,
        lines=(
            OrderLine(SHOE, "Trail shoe", Decimal("129.99"), shoes),
            OrderLine(SOCK, "Wool sock", Decimal("0.10"), socks),
        ),
        payment_token=token,
        created_at="2026-03-01T09:00:00.000Z",
        updated_at="2026-03-01T09:00:00.000Z",
    )
    database.orders[order.id] = order
    return order


@pytest.fixture
def database() -> FakeOrdersDatabase:
    return FakeOrdersDatabase()


@pytest.fixture
def inventory() -> FakeInventory:
    return FakeInventory({SHOE: 5, SOCK: 10})


@pytest.fixture
def payments() -> FakePaymentProvider:
    return FakePaymentProvider(at(NOW))


@pytest.fixture
def steps(database, inventory, payments) -> Steps:
    return Steps(database.new_unit_of_work, inventory, payments, clock=at(NOW))


# --- reserve --------------------------------------------------------------------------------


def test_reserving_takes_the_stock_of_every_line(database, inventory, steps):
    order = stored(database)

    steps.reserve(order.id)

    assert inventory.stock == {SHOE: 3, SOCK: 7}
    assert inventory.get(order.id) == Reservation(order.id, ((SHOE, 2), (SOCK, 3)), False)


def test_one_short_line_takes_no_stock_for_any_line(database, inventory, steps):
    order = stored(database, socks=11)

    with pytest.raises(OutOfStock) as refused:
        steps.reserve(order.id)

    assert refused.value.product_ids == (SOCK,)
    assert inventory.stock == {SHOE: 5, SOCK: 10}
    assert inventory.get(order.id) is None


def test_reserving_again_takes_nothing_more(database, inventory, steps):
    order = stored(database)

    steps.reserve(order.id)
    steps.reserve(order.id)

    assert inventory.stock == {SHOE: 3, SOCK: 7}
    assert inventory.taken == [order.id]


@pytest.mark.parametrize("status", SETTLED)
def test_an_order_no_longer_pending_is_settled_and_takes_no_stock(
    database, inventory, steps, status
):
    order = stored(database, status=status)

    with pytest.raises(OrderNotPending) as settled:
        steps.reserve(order.id)

    expected = OrderSettled if status is OrderStatus.CANCELLED else OrderFulfilled
    assert type(settled.value) is expected
    assert (settled.value.order_id, settled.value.status) == (order.id, status)
    assert inventory.stock == {SHOE: 5, SOCK: 10}
    assert inventory.get(order.id) is None


def test_an_unknown_order_is_not_found(inventory, steps):
    with pytest.raises(OrderNotFound):
        steps.reserve(ORDER_ID)

    assert inventory.taken == []


# --- pay ------------------------------------------------------------------------------------


def test_paying_charges_the_total_once(database, payments, steps):
    order = stored(database)

    steps.pay(order.id)
    steps.pay(order.id)

    assert [(c.order_id, c.amount, c.currency, c.token) for c in payments.charges] == [
        (order.id, Decimal("260.28"), "USD", "tok_visa")
    ]


def test_a_declined_token_charges_nothing(database, payments, steps):
    order = stored(database, token="tok_decline")

    with pytest.raises(PaymentDeclined):
        steps.pay(order.id)

    assert payments.charges == []
    assert payments.get(order.id) is None


def test_a_transient_failure_charges_nothing_and_a_retry_charges_once(database, payments, steps):
    order = stored(database, token="tok_flaky")

    with pytest.raises(PaymentTemporarilyFailed):
        steps.pay(order.id)
    assert payments.charges == []

    steps.pay(order.id)
    steps.pay(order.id)

    assert [(c.amount, c.attempts) for c in payments.charges] == [(Decimal("260.28"), 2)]


@pytest.mark.parametrize("status", SETTLED)
def test_an_order_no_longer_pending_is_not_charged(database, payments, steps, status):
    order = stored(database, status=status)

    with pytest.raises(OrderSettled if status is OrderStatus.CANCELLED else OrderFulfilled):
        steps.pay(order.id)

    assert payments.charges == []


# --- confirm --------------------------------------------------------------------------------


def test_confirming_moves_a_pending_order_to_confirmed(database, steps):
    order = stored(database)

    confirmed = steps.confirm(order.id)

    assert database.orders[order.id] == confirmed
    assert (confirmed.status, confirmed.status_reason, confirmed.updated_at) == (
        OrderStatus.CONFIRMED,
        None,
        "2026-03-01T09:05:00.000Z",
    )


def test_confirming_again_answers_the_confirmed_order_unchanged(database, steps):
    order = stored(database)
    first = steps.confirm(order.id)
    later = dataclasses.replace(steps, clock=at(LATER))

    again = later.confirm(order.id)

    assert again == first == database.orders[order.id]


def test_a_cancelled_order_is_settled_and_not_confirmed(database, steps):
    order = stored(database, status=OrderStatus.CANCELLED)

    with pytest.raises(OrderSettled) as settled:
        steps.confirm(order.id)

    assert settled.value.status is OrderStatus.CANCELLED
    assert database.orders[order.id] == order


# --- cancel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.CONFIRMED])
@pytest.mark.parametrize("reason", list(CancelReason))
def test_cancelling_records_the_reason(database, steps, status, reason):
    order = stored(database, status=status)

    cancelled = steps.cancel(order.id, reason)

    assert database.orders[order.id] == cancelled
    assert (cancelled.status, cancelled.status_reason, cancelled.updated_at) == (
        OrderStatus.CANCELLED,
        reason.value,
        "2026-03-01T09:05:00.000Z",
    )


def test_cancelling_again_keeps_the_first_reason(database, steps):
    order = stored(database)
    first = steps.cancel(order.id, CancelReason.CANCELLED_BY_CUSTOMER)

    again = dataclasses.replace(steps, clock=at(LATER)).cancel(order.id, CancelReason.FAILED)

    assert again == first == database.orders[order.id]
    assert again.status_reason == "CANCELLED_BY_CUSTOMER"


@pytest.mark.parametrize("status", [OrderStatus.SHIPPED, OrderStatus.DELIVERED])
def test_a_shipped_order_cannot_be_cancelled(database, steps, status):
    order = stored(database, status=status)

    with pytest.raises(InvalidTransition):
        steps.cancel(order.id, CancelReason.FAILED)

    assert database.orders[order.id] == order


# --- release, refund, undo ------------------------------------------------------------------


def test_release_gives_the_stock_back_once(database, inventory, steps):
    order = stored(database)
    steps.reserve(order.id)

    assert steps.release(order.id) is True
    assert steps.release(order.id) is False

    assert inventory.stock == {SHOE: 5, SOCK: 10}
    assert inventory.given_back == [order.id]


def test_release_without_a_reservation_gives_nothing_back(database, inventory, steps):
    stored(database)

    assert steps.release(ORDER_ID) is False
    assert inventory.stock == {SHOE: 5, SOCK: 10}


def test_refund_gives_the_money_back_once(database, payments, steps):
    order = stored(database)
    steps.pay(order.id)

    assert steps.refund(order.id) is True
    steps.refund(order.id)

    assert [(r.order_id, r.amount, r.status) for r in payments.refunds] == [
        (order.id, Decimal("260.28"), ChargeStatus.REFUNDED)
    ]


def test_refund_of_an_order_never_charged_refunds_nothing(database, payments, steps):
    stored(database)

    assert steps.refund(ORDER_ID) is False
    assert payments.refunds == []


def test_undo_refunds_and_releases_once(database, inventory, payments, steps):
    order = stored(database)
    steps.reserve(order.id)
    steps.pay(order.id)

    steps.undo(order.id)
    steps.undo(order.id)

    assert inventory.stock == {SHOE: 5, SOCK: 10}
    assert inventory.given_back == [order.id]
    assert [refund.order_id for refund in payments.refunds] == [order.id]


def test_undo_of_an_order_holding_nothing_moves_nothing(database, inventory, payments, steps):
    stored(database)

    steps.undo(ORDER_ID)

    assert (inventory.given_back, payments.refunds) == ([], [])


# --- the fake inventory ---------------------------------------------------------------------


def test_a_pending_order_whose_stock_was_given_back_is_not_reserved_again(
    database, inventory, steps
):
    stored(database)
    steps.reserve(ORDER_ID)
    steps.release(ORDER_ID)  # an earlier run's undo, whose cancel never committed

    with pytest.raises(OrderUndone):
        steps.reserve(ORDER_ID)

    assert inventory.stock == {SHOE: 5, SOCK: 10}
    assert database.orders[ORDER_ID].status is OrderStatus.PENDING


def test_a_pending_order_whose_charge_was_refunded_is_not_charged_again(database, payments, steps):
    stored(database)
    steps.pay(ORDER_ID)
    steps.refund(ORDER_ID)

    with pytest.raises(OrderUndone):
        steps.pay(ORDER_ID)

    charge = payments.get(ORDER_ID)
    assert charge is not None
    assert (charge.status, len(payments.refunds)) == (ChargeStatus.REFUNDED, 1)


def test_a_charge_refunded_by_a_customers_cancel_during_the_step_is_the_usual_race(
    database, payments, steps, monkeypatch
):
    """Pay found the order PENDING, then the customer's cancel committed and refunded the charge
    an earlier attempt took: the run settles as any run the customer's cancel beat, not as a
    failure."""
    stored(database)
    steps.pay(ORDER_ID)  # an earlier attempt, whose answer was lost
    charge = payments.charge

    def charge_after_the_cancel(*arguments: Any) -> Any:
        steps.cancel(ORDER_ID, CancelReason.CANCELLED_BY_CUSTOMER)
        steps.refund(ORDER_ID)
        return charge(*arguments)

    monkeypatch.setattr(payments, "charge", charge_after_the_cancel)

    with pytest.raises(OrderSettled):
        steps.pay(ORDER_ID)


def test_a_product_the_fake_does_not_stock_is_out_of_stock():
    inventory = FakeInventory({SHOE: 5})

    with pytest.raises(OutOfStock) as refused:
        inventory.reserve(ORDER_ID, [(SHOE, 1), (SOCK, 1)])

    assert refused.value.product_ids == (SOCK,)
    assert inventory.stock == {SHOE: 5}


def test_a_failing_fake_inventory_is_unavailable_and_moves_nothing():
    inventory = FakeInventory({SHOE: 5})
    inventory.reserve(ORDER_ID, [(SHOE, 2)])
    inventory.failing = True

    with pytest.raises(DependencyUnavailable):
        inventory.release(ORDER_ID)
    with pytest.raises(DependencyUnavailable):
        inventory.reserve("another-order", [(SHOE, 1)])

    inventory.failing = False
    assert inventory.stock == {SHOE: 3}
    assert inventory.get(ORDER_ID) == Reservation(ORDER_ID, ((SHOE, 2),), released=False)
