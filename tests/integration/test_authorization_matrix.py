"""Object-level authorization of the orders API, driven by the route table: an order is its
owner's. Anyone else, an admin included, gets the very 404 an absent order gets (a 403 would
confirm that the order exists); only admins move an order along, and a customer who tries changes
nothing. Each refusal is paired with the rightful caller succeeding on the same order, so that it
is the caller that was refused, not the order's state.

Who may reach a route at all (tokens, scopes) is the e2e matrix's subject
(tests/e2e/test_authorization_matrix.py); this file starts where the authorizer let a caller in.
"""

import uuid
from typing import Any

import pytest

from services.routes import ROUTES, Access, Route
from tests.integration.conftest import ADMIN_CLAIMS, CUSTOMER_CLAIMS, Api, OrdersStack, Reply

OWNER = CUSTOMER_CLAIMS
ANOTHER_CUSTOMER = {
    **CUSTOMER_CLAIMS,
    "sub": "0d9c8b7a-6f5e-4d3c-8b2a-190817161514",
    "username": "0d9c8b7a-6f5e-4d3c-8b2a-190817161514",
}
assert ADMIN_CLAIMS["sub"] != OWNER["sub"]  # the admin is someone else too

ORDER_ROUTES = tuple(
    route for route in ROUTES if route.function == "orders" and "{id}" in route.path
)
# The state from which each route's action may be taken by the rightful caller.
READY_FOR = {
    "GET /orders/{id}": "CONFIRMED",
    "POST /orders/{id}/cancel": "CONFIRMED",
    "POST /orders/{id}/ship": "CONFIRMED",
    "POST /orders/{id}/deliver": "SHIPPED",
}
OWNERS_ROUTES = [route for route in ORDER_ROUTES if route.access is Access.USER]
ADMIN_ROUTES = [route for route in ORDER_ROUTES if route.access is Access.ADMIN]


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


@pytest.fixture
def order_id(orders: OrdersStack, api: Api) -> str:
    """An order of OWNER's, its queue message already taken off the queue."""
    reply = place(api, orders.add_product("Trail shoe", "129.99"), OWNER)
    orders.received()
    return str(reply.json()["id"])


def place(api: Api, product_id: str, claims: dict[str, str], **extra: Any) -> Reply:
    body = {"items": [{"productId": product_id, "quantity": 1}], **extra}
    return api.post("/orders", body=body, claims=claims)


def set_status(orders: OrdersStack, order_id: str, status: str) -> None:
    """What fulfilment or an admin would have done, directly, to reach each state."""
    orders.sql.rows("UPDATE orders SET status = %s WHERE id = %s RETURNING id", (status, order_id))


def snapshot(orders: OrdersStack) -> tuple[Any, ...]:
    """Everything a request could change in the orders database."""
    rows = orders.sql.rows(
        "SELECT id::text, user_id, status, status_reason, total, updated_at FROM orders ORDER BY id"
    )
    return tuple(rows), orders.sql.counts()


def call(api: Api, route: Route, order_id: str, claims: dict[str, str]) -> Reply:
    path = route.path.replace("{id}", order_id)
    return api.call(route.method, path, claims=claims, content_type=None)


def test_every_order_route_says_when_its_action_may_be_taken() -> None:
    """A new route on an order joins the tables below only once it is listed here."""
    assert sorted(READY_FOR) == sorted(route.key for route in ORDER_ROUTES)
    assert OWNERS_ROUTES
    assert ADMIN_ROUTES


@pytest.mark.parametrize(
    "intruder", [ANOTHER_CUSTOMER, ADMIN_CLAIMS], ids=["another-customer", "an-admin"]
)
@pytest.mark.parametrize("route", OWNERS_ROUTES, ids=lambda route: route.key)
def test_only_the_owner_reaches_an_order_and_anyone_else_gets_the_404_of_an_absent_one(
    orders, api, order_id, route, intruder
):
    set_status(orders, order_id, READY_FOR[route.key])
    before = snapshot(orders)
    absent = str(uuid.uuid4())

    refused = call(api, route, order_id, intruder)
    missing = call(api, route, absent, intruder)

    document = refused.problem(404)
    assert document == {**missing.problem(404), "detail": document["detail"]}
    assert document["detail"].replace(order_id, "<id>") == missing.json()["detail"].replace(
        absent, "<id>"
    )
    assert refused.headers == missing.headers
    assert snapshot(orders) == before
    assert orders.received() == []  # nothing was started for the intruder's request
    allowed = call(api, route, order_id, OWNER)
    assert allowed.status == 200, allowed.text
    assert allowed.json()["id"] == order_id


@pytest.mark.parametrize("caller", [OWNER, ANOTHER_CUSTOMER], ids=["the-owner", "another-customer"])
@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=lambda route: route.key)
def test_a_customer_cannot_move_any_order_along_and_changes_nothing(
    orders, api, order_id, route, caller
):
    set_status(orders, order_id, READY_FOR[route.key])
    before = snapshot(orders)

    refused = call(api, route, order_id, caller)

    refused.problem(403)
    assert snapshot(orders) == before
    assert orders.received() == []
    allowed = call(api, route, order_id, ADMIN_CLAIMS)
    assert allowed.status == 200, allowed.text
    assert allowed.json()["status"] != READY_FOR[route.key]


def test_a_cursor_from_another_customers_listing_shows_only_the_callers_own_orders(orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    theirs = place(api, shoe, ANOTHER_CUSTOMER).json()["id"]  # older than every order of OWNER
    mine = [place(api, shoe, OWNER).json()["id"] for _ in range(3)]
    first = api.get("/orders", query={"limit": "1"}, claims=OWNER).json()
    assert [order["id"] for order in first["items"]] == mine[-1:]

    reply = api.get(
        "/orders", query={"limit": "5", "cursor": first["nextCursor"]}, claims=ANOTHER_CUSTOMER
    )

    assert reply.status == 200, reply.text
    assert [order["id"] for order in reply.json()["items"]] == [theirs]
    admins = api.get("/orders", query={"limit": "100"}, claims=ADMIN_CLAIMS).json()["items"]
    assert admins == []  # an admin's listing is their own orders too


@pytest.mark.parametrize(
    "field",
    [{"userId": ANOTHER_CUSTOMER["sub"]}, {"status": "CONFIRMED"}],
    ids=["userId", "status"],
)
def test_an_order_cannot_be_placed_for_someone_else_or_in_another_state(orders, api, field):
    before = snapshot(orders)

    reply = place(api, orders.add_product("Trail shoe", "129.99"), OWNER, **field)

    assert set(reply.field_errors()) == set(field)
    assert snapshot(orders) == before
