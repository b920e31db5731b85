"""The steps' Lambda entries over in-memory ports: `{"orderId"}` in, `{"orderId", ...}` out, and
the error names the workflow catches: the domain's own, or TransientFailure for an outage."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.common.errors import DependencyUnavailable
from services.orders import steps as entries
from services.orders.domain import (
    DEFAULT_PAYMENT_TOKEN,
    CancelReason,
    Order,
    OrderLine,
    OrderStatus,
)
from services.orders.fulfilment import OrderSettled, Steps
from services.orders.inventory import OutOfStock
from services.orders.payments import PaymentDeclined, PaymentTemporarilyFailed
from services.orders.ports import UnitOfWork
from services.orders.steps import StepHandler, TransientFailure, step_handler
from tests.unit.fakes import FakeInventory, FakeOrdersDatabase, FakePaymentProvider

ANA = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
LAMP = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
ORDER_ID = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ACTIONS = entries.ACTIONS


class World:
    """The fakes one container's steps work on, and how many times the steps were built."""

    def __init__(self) -> None:
        self.database = FakeOrdersDatabase()
        self.inventory = FakeInventory({LAMP: 10})
        self.payments = FakePaymentProvider(lambda: NOW)
        self.database_down = False
        self.builds = 0

    def new_unit_of_work(self) -> UnitOfWork:
        if self.database_down:
            raise DependencyUnavailable("The orders database is unavailable.")
        return self.database.new_unit_of_work()

    def build(self) -> Steps:
        self.builds += 1
        return Steps(self.new_unit_of_work, self.inventory, self.payments, clock=lambda: NOW)

    def handler(self, step: str) -> StepHandler:
        return step_handler(ACTIONS[step], self.build)

    def store(self, token: str = DEFAULT_PAYMENT_TOKEN, quantity: int = 4) -> Order:
        order = Order(
            id=ORDER_ID,
            user_id=ANA,
            status=OrderStatus.PENDING,
            status_reason=None,
            lines=(OrderLine(LAMP, "Lamp", Decimal("25.00"), quantity),),
            payment_token=token,
            created_at="2026-03-01T09:00:00.000Z",
            updated_at="2026-03-01T09:00:00.000Z",
        )
        self.database.orders[order.id] = order
        return order


@pytest.fixture
def world() -> World:
    return World()


def run(world: World, step: str, **event: Any) -> dict[str, Any]:
    return world.handler(step)({"orderId": ORDER_ID, **event}, None)


def test_reserve_answers_with_the_order_id(world):
    world.store()

    assert run(world, "reserve") == {"orderId": ORDER_ID, "reserved": True}
    assert world.inventory.stock == {LAMP: 6}


def test_pay_answers_with_the_order_id(world):
    world.store()

    assert run(world, "pay") == {"orderId": ORDER_ID, "charged": True}
    assert [charge.amount for charge in world.payments.charges] == [Decimal("100.00")]


def test_confirm_answers_with_the_new_status(world):
    world.store()

    assert run(world, "confirm") == {"orderId": ORDER_ID, "status": "CONFIRMED"}
    assert run(world, "confirm") == {"orderId": ORDER_ID, "status": "CONFIRMED"}


def test_cancel_answers_with_the_status_and_the_first_reason(world):
    world.store()

    first = run(world, "cancel", reason="OUT_OF_STOCK")
    again = run(world, "cancel", reason="FAILED")

    expected = {"orderId": ORDER_ID, "status": "CANCELLED", "statusReason": "OUT_OF_STOCK"}
    assert first == again == expected
    assert world.database.orders[ORDER_ID].status_reason == "OUT_OF_STOCK"


def test_release_answers_whether_stock_went_back(world):
    world.store()
    run(world, "reserve")

    assert run(world, "release") == {"orderId": ORDER_ID, "released": True}
    assert run(world, "release") == {"orderId": ORDER_ID, "released": False}
    assert world.inventory.stock == {LAMP: 10}


def test_refund_answers_whether_the_order_was_charged(world):
    world.store()

    assert run(world, "refund") == {"orderId": ORDER_ID, "refunded": False}
    run(world, "pay")
    assert run(world, "refund") == {"orderId": ORDER_ID, "refunded": True}
    assert len(world.payments.refunds) == 1


def test_a_state_input_carrying_more_fields_is_fine(world):
    world.store()

    answer = world.handler("reserve")({"orderId": ORDER_ID, "type": "OrderPlaced"}, None)

    assert answer == {"orderId": ORDER_ID, "reserved": True}


def short_of_stock(world: World) -> None:
    world.store(quantity=11)


def declined(world: World) -> None:
    world.store(token="tok_decline")


def cancelled_meanwhile(world: World) -> None:
    world.store()
    run(world, "cancel", reason=CancelReason.CANCELLED_BY_CUSTOMER.value)


@pytest.mark.parametrize(
    ("step", "prepare", "error"),
    [
        ("reserve", short_of_stock, OutOfStock),
        ("pay", declined, PaymentDeclined),
        ("reserve", cancelled_meanwhile, OrderSettled),
        ("pay", cancelled_meanwhile, OrderSettled),
        ("confirm", cancelled_meanwhile, OrderSettled),
    ],
)
def test_domain_errors_reach_the_workflow_under_their_own_names(world, step, prepare, error):
    prepare(world)

    with pytest.raises(error) as raised:
        run(world, step)

    assert type(raised.value) is error  # Lambda reports the class name, which the workflow catches


@pytest.mark.parametrize(
    ("step", "outage"),
    [
        ("reserve", lambda world: setattr(world.inventory, "failing", True)),
        ("release", lambda world: setattr(world.inventory, "failing", True)),
        ("pay", lambda world: setattr(world.payments, "failing", True)),
        ("refund", lambda world: setattr(world.payments, "failing", True)),
        ("confirm", lambda world: setattr(world, "database_down", True)),
        ("cancel", lambda world: setattr(world, "database_down", True)),
    ],
)
def test_an_outage_is_a_transient_failure(world, step, outage):
    world.store()
    outage(world)

    with pytest.raises(TransientFailure) as raised:
        run(world, step, reason="FAILED")

    assert isinstance(raised.value.__cause__, DependencyUnavailable)
    assert world.database.orders[ORDER_ID].status is OrderStatus.PENDING


def test_a_provider_failing_for_now_is_transient_and_a_retry_charges_once(world):
    world.store(token="tok_flaky")

    with pytest.raises(TransientFailure) as raised:
        run(world, "pay")

    assert isinstance(raised.value.__cause__, PaymentTemporarilyFailed)
    assert run(world, "pay") == {"orderId": ORDER_ID, "charged": True}
    assert len(world.payments.charges) == 1


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"orderId": None},
        {"orderId": 42},
        {"orderId": ""},
        {"orderId": "not-an-order"},
        {"orderId": ORDER_ID + "0"},
        {"order_id": ORDER_ID},
        [ORDER_ID],
        None,
    ],
)
@pytest.mark.parametrize("step", list(ACTIONS))
def test_an_input_without_a_valid_order_id_is_refused_before_any_work(world, step, event):
    world.store()

    with pytest.raises(ValueError, match=r"orderId|UUID|hexadecimal"):
        world.handler(step)(event, None)

    assert world.builds == 0
    assert world.inventory.taken == []
    assert world.database.orders[ORDER_ID].status is OrderStatus.PENDING


@pytest.mark.parametrize(
    "event",
    [
        {"orderId": ORDER_ID},
        {"orderId": ORDER_ID, "reason": None},
        {"orderId": ORDER_ID, "reason": "LOST_IN_TRANSIT"},
        {"orderId": ORDER_ID, "reason": "out_of_stock"},
        {"orderId": ORDER_ID, "reason": ""},
    ],
)
def test_cancel_with_no_valid_reason_is_refused_and_the_order_kept(world, event):
    world.store()

    with pytest.raises(ValueError, match="CancelReason"):
        world.handler("cancel")(event, None)

    assert world.database.orders[ORDER_ID].status is OrderStatus.PENDING


def test_every_reason_the_workflow_sends_is_accepted(world):
    for reason in CancelReason:
        world.database.orders.clear()
        world.store()
        assert run(world, "cancel", reason=reason.value)["statusReason"] == reason.value


def test_the_steps_are_built_on_the_first_event_and_reused(world):
    world.store()
    handler = world.handler("release")

    assert world.builds == 0
    for _ in range(3):
        handler({"orderId": ORDER_ID}, None)

    assert world.builds == 1
