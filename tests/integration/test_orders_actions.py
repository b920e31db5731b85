"""Admin actions on orders through the Lambda handler, each move checked by the transition table."""

from typing import Any

import pytest

from tests.integration.conftest import ADMIN_CLAIMS, CUSTOMER_CLAIMS, Api, OrdersStack, Reply


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


@pytest.fixture
def order_id(orders: OrdersStack, api: Api) -> str:
    shoe = orders.add_product("Trail shoe", "129.99")
    body = {"items": [{"productId": shoe, "quantity": 1}]}
    reply = api.post("/orders", body=body, claims=CUSTOMER_CLAIMS)
    assert reply.status == 202, reply.text
    order: dict[str, Any] = reply.json()
    return str(order["id"])


def status_of(orders: OrdersStack, order_id: str) -> tuple[str, str | None]:
    row = orders.sql.rows("SELECT status, status_reason FROM orders WHERE id = %s", (order_id,))
    return row[0][0], row[0][1]


def set_status(orders: OrdersStack, order_id: str, status: str) -> None:
    """What fulfilment will do; here directly, to reach each state."""
    orders.sql.rows("UPDATE orders SET status = %s WHERE id = %s RETURNING id", (status, order_id))


def act(api: Api, order_id: str, action: str, claims: dict[str, str] = ADMIN_CLAIMS) -> Reply:
    return api.post(f"/orders/{order_id}/{action}", claims=claims, content_type=None)


def test_a_confirmed_order_is_shipped_then_delivered(orders, api, order_id):
    set_status(orders, order_id, "CONFIRMED")

    shipped = act(api, order_id, "ship")
    assert shipped.status == 200, shipped.text
    assert shipped.json()["status"] == "SHIPPED"
    assert shipped.json()["updatedAt"] >= shipped.json()["createdAt"]
    delivered = act(api, order_id, "deliver")
    assert delivered.status == 200, delivered.text
    assert delivered.json()["status"] == "DELIVERED"
    assert status_of(orders, order_id) == ("DELIVERED", None)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("PENDING", "ship"),
        ("PENDING", "deliver"),
        ("CONFIRMED", "deliver"),
        ("SHIPPED", "ship"),
        ("DELIVERED", "ship"),
        ("DELIVERED", "deliver"),
    ],
)
def test_any_other_move_is_409_and_changes_nothing(orders, api, order_id, status, action):
    set_status(orders, order_id, status)

    reply = act(api, order_id, action)

    assert reply.status == 409, reply.text
    assert status in reply.problem(409)["detail"]
    assert status_of(orders, order_id) == (status, None)


def test_a_cancelled_order_cannot_be_shipped(orders, api, order_id):
    orders.sql.rows(
        "UPDATE orders SET status = 'CANCELLED', status_reason = 'FAILED' WHERE id = %s"
        " RETURNING id",
        (order_id,),
    )

    assert act(api, order_id, "ship").status == 409
    assert status_of(orders, order_id) == ("CANCELLED", "FAILED")


def test_only_admins_act(orders, api, order_id):
    set_status(orders, order_id, "CONFIRMED")

    reply = act(api, order_id, "ship", claims=CUSTOMER_CLAIMS)

    reply.problem(403)
    assert status_of(orders, order_id) == ("CONFIRMED", None)


@pytest.mark.parametrize("order", ["6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f", "not-an-id"])
def test_an_unknown_order_is_404(api, order):
    act(api, order, "ship").problem(404)
