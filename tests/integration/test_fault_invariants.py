"""The invariants every fault test ends with (`Fulfilment.check_invariants`) fail on each broken
state they are there to catch, and pass on a good one: a check that cannot fail proves nothing.

The good state is a confirmed order made by the real steps, without the state machine; each case
then breaks one thing, as a faulty pipeline would, and names the check that must catch it.
"""

import uuid
from dataclasses import dataclass, field

import pytest

from services.common.dynamodb import from_item, to_item
from services.products import table
from tests.integration.conftest import Api, Fulfilment, OrdersStack, place

STOCK, QUANTITY = 10, 3


@dataclass
class Confirmed:
    """One order taken through reserve, pay and confirm, and what check_invariants is told of it:
    `products` and `acknowledged`, which a case may change."""

    fulfilment: Fulfilment
    orders: OrdersStack
    api: Api
    order_id: str
    shoe: str
    products: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        self.fulfilment.check_invariants(self.products, self.acknowledged)

    def copy(self, key: dict[str, str], **changes: object) -> None:
        """Another record like the one at `key`, with `changes` (a new key among them)."""
        name = self.orders.settings.products_table
        found = self.orders.dynamodb.get_item(TableName=name, Key=to_item(key))["Item"]
        self.orders.dynamodb.put_item(TableName=name, Item=to_item({**from_item(found), **changes}))

    def execute(self, statement: str) -> None:
        """A change to the order's rows; `%s` is its id."""
        self.orders.sql.rows(statement + " RETURNING 1", (self.order_id,))


@pytest.fixture
def confirmed(fulfilment: Fulfilment, orders: OrdersStack) -> Confirmed:
    api = orders.api()
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: QUANTITY})
    orders.received()  # the steps are run here, not by a workflow run
    steps = fulfilment.steps()
    steps.reserve(order_id)
    steps.pay(order_id)
    steps.confirm(order_id)
    return Confirmed(
        fulfilment, orders, api, order_id, shoe, {shoe: STOCK}, {order_id: "CONFIRMED"}
    )


def test_a_good_state_passes(confirmed):
    confirmed.check()
    confirmed.fulfilment.check_invariants(confirmed.products)  # without what was acknowledged


def test_no_order_at_all_fails_rather_than_passing_vacuously(fulfilment, orders):
    shoe = orders.add_product()
    with pytest.raises(AssertionError, match="vacuously"):
        fulfilment.check_invariants({shoe: STOCK})
    with pytest.raises(AssertionError, match="vacuously"):
        fulfilment.check_invariants({shoe: STOCK}, {})


def acknowledged_order_lost(c: Confirmed) -> None:
    c.acknowledged[str(uuid.uuid4())] = "CONFIRMED"


def order_nobody_was_told_of(c: Confirmed) -> None:
    place(c.api, {c.shoe: 1})  # it is there, but the test forgets it
    c.orders.received()


def status_not_the_expected_one(c: Confirmed) -> None:
    c.acknowledged[c.order_id] = "CANCELLED"


def no_product_to_check(c: Confirmed) -> None:
    c.products.clear()


def product_held_not_checked(c: Confirmed) -> None:
    c.products = {c.orders.add_product(): STOCK}


def order_without_lines(c: Confirmed) -> None:
    c.execute("DELETE FROM order_items WHERE order_id = %s")


def charge_refunded_yet_confirmed(c: Confirmed) -> None:
    c.fulfilment.steps().refund(c.order_id)


def charge_missing(c: Confirmed) -> None:
    key = to_item(table.payment_key(c.order_id))
    c.orders.dynamodb.delete_item(TableName=c.orders.settings.products_table, Key=key)


def charged_another_amount(c: Confirmed) -> None:
    c.copy(table.payment_key(c.order_id), amount=1)


def charged_twice_under_another_key(c: Confirmed) -> None:
    c.copy(table.payment_key(c.order_id), pk=f"PAYMENT#{c.order_id}#2")


def charge_for_no_order(c: Confirmed) -> None:
    other = str(uuid.uuid4())
    c.copy(table.payment_key(c.order_id), **table.payment_key(other), orderId=other)


def stock_released_yet_confirmed(c: Confirmed) -> None:
    c.fulfilment.steps().release(c.order_id)


def reserved_other_lines(c: Confirmed) -> None:
    fewer = [{"productId": c.shoe, "quantity": QUANTITY - 1}]
    c.copy(table.reservation_key(c.order_id), lines=fewer)
    c.fulfilment.set_stock(c.shoe, STOCK - QUANTITY + 1)  # the stock still adds up


def reserved_twice_under_another_key(c: Confirmed) -> None:
    c.copy(table.reservation_key(c.order_id), pk=f"RESERVATION#{c.order_id}#2")


def stock_held_for_no_order(c: Confirmed) -> None:
    other = str(uuid.uuid4())
    c.copy(table.reservation_key(c.order_id), **table.reservation_key(other), orderId=other)


def cancelled_yet_charged_and_holding(c: Confirmed) -> None:
    c.execute("UPDATE orders SET status = 'CANCELLED', status_reason = 'FAILED' WHERE id = %s")
    c.acknowledged[c.order_id] = "CANCELLED"


def stock_taken_twice(c: Confirmed) -> None:
    c.fulfilment.set_stock(c.shoe, STOCK - 2 * QUANTITY)


def stock_negative(c: Confirmed) -> None:
    c.fulfilment.set_stock(c.shoe, -1)
    c.products[c.shoe] = QUANTITY - 1  # it adds up: only the sign is wrong


# Each way to break the good state, and what the check that must catch it says.
CASES = [
    (acknowledged_order_lost, "acknowledged orders missing"),
    (order_nobody_was_told_of, "orders nobody was told of"),
    (status_not_the_expected_one, "not in the status expected"),
    (no_product_to_check, "no product to check"),
    (product_held_not_checked, "held but not checked"),
    (order_without_lines, "without lines"),
    (charge_refunded_yet_confirmed, r"charged \[\]"),
    (charge_missing, r"charged \[\]"),
    (charged_another_amount, r"charged \[Decimal\('1'\)\]"),
    (charged_twice_under_another_key, "charged more than once"),
    (charge_for_no_order, "a charge for an order that does not exist"),
    (stock_released_yet_confirmed, r"holds \[\]"),
    (reserved_other_lines, "not its lines"),
    (reserved_twice_under_another_key, "reserved more than once"),
    (stock_held_for_no_order, "stock held for an order that does not exist"),
    (cancelled_yet_charged_and_holding, "keeps a charge or stock"),
    (stock_taken_twice, "does not add up"),
    (stock_negative, "negative stock"),
]


@pytest.mark.parametrize(("broken", "caught"), CASES, ids=[b.__name__ for b, _ in CASES])
def test_a_broken_state_fails(confirmed, broken, caught):
    confirmed.check()  # good before

    broken(confirmed)

    with pytest.raises(AssertionError, match=caught):
        confirmed.check()
