"""The orders API through the real Lambda handler and serverless-wsgi, against a real PostgreSQL
(credentials from moto's Secrets Manager), moto's products table and moto's SQS queue."""

import base64
import json
import re
import uuid
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest

from services.orders.database import Database
from tests.integration.conftest import (
    CUSTOMER_CLAIMS,
    JSON,
    Api,
    OrdersStack,
    Reply,
    placed_message,
)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ORDER_FIELDS = {
    "id",
    "userId",
    "status",
    "statusReason",
    "items",
    "total",
    "currency",
    "createdAt",
    "updatedAt",
}
CUSTOMER = CUSTOMER_CLAIMS["sub"]
OTHER_CLAIMS = {
    **CUSTOMER_CLAIMS,
    "sub": "5c4b3a29-1807-4f6e-8d5c-4b3a29180706",
    "username": "5c4b3a29-1807-4f6e-8d5c-4b3a29180706",
}


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


def lines(*pairs: tuple[str, int]) -> dict[str, Any]:
    return {"items": [{"productId": pid, "quantity": quantity} for pid, quantity in pairs]}


def place(api: Api, *pairs: tuple[str, int], claims: dict[str, str] = CUSTOMER_CLAIMS) -> Reply:
    reply = api.post("/orders", body=lines(*pairs), claims=claims)
    assert reply.status == 202, reply.text
    return reply


def assert_order(reply: Reply, status: int = 200) -> dict[str, Any]:
    assert reply.status == status, reply.text
    assert reply.content_type == JSON
    order: dict[str, Any] = reply.json()
    assert set(order) == ORDER_FIELDS
    assert str(uuid.UUID(order["id"])) == order["id"]
    assert TIMESTAMP.match(order["createdAt"])
    assert TIMESTAMP.match(order["updatedAt"])
    return order


# --- placing an order ---------------------------------------------------------------------------


def test_placing_an_order_answers_202_with_location_and_the_pending_order(orders, api, shoe, sock):
    reply = api.post("/orders", body=lines((shoe, 2), (sock, 3)), claims=CUSTOMER_CLAIMS)

    order = assert_order(reply, 202)
    assert reply.headers["location"] == f"/orders/{order['id']}"
    assert "idempotent-replayed" not in reply.headers
    assert order["userId"] == CUSTOMER
    assert (order["status"], order["statusReason"], order["currency"]) == ("PENDING", None, "USD")
    assert order["items"] == [
        {
            "productId": shoe,
            "name": "Trail shoe",
            "unitPrice": Decimal("129.99"),
            "quantity": 2,
            "lineTotal": Decimal("259.98"),
        },
        {
            "productId": sock,
            "name": "Wool sock",
            "unitPrice": Decimal("0.10"),
            "quantity": 3,
            "lineTotal": Decimal("0.30"),
        },
    ]
    assert order["total"] == Decimal("260.28")
    assert order["createdAt"] == order["updatedAt"]
    # Money is JSON numbers, never strings.
    raw = json.loads(reply.text)
    assert isinstance(raw["total"], float)
    assert all(isinstance(item["unitPrice"], int | float) for item in raw["items"])
    assert all(isinstance(item["lineTotal"], int | float) for item in raw["items"])


def test_the_order_its_lines_and_one_outbox_row_are_stored(orders, api, shoe, sock):
    order = place(api, (shoe, 2), (sock, 3)).json()

    stored = orders.sql.rows(
        "SELECT user_id, status, status_reason, total, currency, payment_token FROM orders"
        " WHERE id = %s",
        (order["id"],),
    )
    assert stored == [(CUSTOMER, "PENDING", None, Decimal("260.28"), "USD", "tok_visa")]
    assert orders.sql.rows(
        "SELECT line_no, product_id::text, name, unit_price, quantity, line_total"
        " FROM order_items WHERE order_id = %s ORDER BY line_no",
        (order["id"],),
    ) == [
        (1, shoe, "Trail shoe", Decimal("129.99"), 2, Decimal("259.98")),
        (2, sock, "Wool sock", Decimal("0.10"), 3, Decimal("0.30")),
    ]
    outbox = orders.sql.rows("SELECT order_id::text, body, sent_at IS NOT NULL FROM outbox")
    assert outbox == [(order["id"], placed_message(order["id"]), True)]
    assert orders.sql.counts() == {
        "orders": 1,
        "order_items": 2,
        "idempotency_keys": 0,
        "outbox": 1,
    }


def test_the_message_reaches_the_queue_and_its_outbox_row_is_marked_sent(orders, api, shoe):
    order = place(api, (shoe, 1)).json()

    (message,) = orders.received()
    assert json.loads(message["Body"]) == placed_message(order["id"])
    outbox_id, sent = orders.sql.rows("SELECT id, sent_at IS NOT NULL FROM outbox")[0]
    assert message["MessageAttributes"]["outboxId"]["StringValue"] == str(outbox_id)
    assert sent


def test_the_payment_token_is_stored_and_never_answered(orders, api, shoe):
    body = {**lines((shoe, 1)), "paymentToken": "tok_decline"}

    reply = api.post("/orders", body=body, claims=CUSTOMER_CLAIMS)

    assert reply.status == 202, reply.text
    assert "tok_decline" not in reply.text
    assert orders.sql.value("SELECT payment_token FROM orders") == "tok_decline"


def test_upper_case_product_ids_are_the_same_products(orders, api, shoe):
    order = place(api, (shoe.upper(), 1)).json()

    assert order["items"][0]["productId"] == shoe


def test_prices_are_snapshotted_when_the_order_is_placed(orders, api, shoe):
    order = place(api, (shoe, 1)).json()
    orders.dynamodb.update_item(
        TableName=orders.settings.products_table,
        Key={"pk": {"S": f"PRODUCT#{shoe}"}, "sk": {"S": "PRODUCT"}},
        UpdateExpression="SET price = :p",
        ExpressionAttributeValues={":p": {"N": "1.00"}},
    )

    again = assert_order(api.get(f"/orders/{order['id']}", claims=CUSTOMER_CLAIMS))

    assert again["items"][0]["unitPrice"] == Decimal("129.99")
    assert again["total"] == Decimal("129.99")


def test_an_order_of_fifty_lines_of_a_hundred_at_the_highest_price(orders, api):
    products = [orders.add_product(f"Piece {n}", "1000000") for n in range(50)]

    order = place(api, *[(pid, 100) for pid in products]).json()

    assert order["total"] == Decimal("5000000000")
    assert [item["productId"] for item in order["items"]] == products


# --- reading ------------------------------------------------------------------------------------


def test_an_order_is_read_back_as_it_was_answered(orders, api, shoe, sock):
    placed = place(api, (shoe, 2), (sock, 3))

    reply = api.get(placed.headers["location"], claims=CUSTOMER_CLAIMS)

    assert assert_order(reply) == placed.json()


def test_another_users_order_is_404_never_403(orders, api, shoe):
    order = place(api, (shoe, 1)).json()

    document = api.get(f"/orders/{order['id']}", claims=OTHER_CLAIMS).problem(404)

    assert order["id"] in document["detail"]


@pytest.mark.parametrize(
    "order_id",
    [
        "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        "not-a-uuid",
        "1" * 300,
        "urn:uuid:0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        "-0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        "0b1c2d3e--4f5a-4b6c-8d7e-9f0a1b2c3d4e",
    ],
    ids=["absent", "not-uuid", "long", "urn", "leading-hyphen", "double-hyphen"],
)
def test_an_order_that_is_not_there_is_404(orders, api, order_id):
    api.get(f"/orders/{order_id}", claims=CUSTOMER_CLAIMS).problem(404)


def test_an_upper_case_id_finds_the_order(orders, api, shoe):
    order = place(api, (shoe, 1)).json()

    assert assert_order(api.get(f"/orders/{order['id'].upper()}", claims=CUSTOMER_CLAIMS)) == order


def test_the_list_holds_only_the_callers_orders_newest_first(orders, api, shoe):
    mine = [place(api, (shoe, n)).json()["id"] for n in range(1, 4)]
    place(api, (shoe, 1), claims=OTHER_CLAIMS)

    reply = api.get("/orders", claims=CUSTOMER_CLAIMS)

    assert reply.status == 200, reply.text
    page = reply.json()
    assert [order["id"] for order in page["items"]] == mine[::-1]
    assert page["nextCursor"] is None
    assert [order["items"][0]["quantity"] for order in page["items"]] == [3, 2, 1]
    assert all(set(order) == ORDER_FIELDS for order in page["items"])


def test_a_user_without_orders_gets_an_empty_page(orders, api):
    assert api.get("/orders", claims=CUSTOMER_CLAIMS).json() == {"items": [], "nextCursor": None}


def walk(api: Api, limit: int, between_pages: Any = None) -> list[str]:
    seen: list[str] = []
    query = {"limit": str(limit)}
    while True:
        reply = api.get("/orders", query=query, claims=CUSTOMER_CLAIMS)
        assert reply.status == 200, reply.text
        page = reply.json()
        assert len(page["items"]) <= limit
        seen += [order["id"] for order in page["items"]]
        if page["nextCursor"] is None:
            return seen
        query = {"limit": str(limit), "cursor": page["nextCursor"]}
        if between_pages is not None:
            between_pages()


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_pages_walk_every_order_exactly_once_newest_first(orders, api, shoe, limit):
    placed = [place(api, (shoe, 1)).json()["id"] for _ in range(7)]

    assert walk(api, limit) == placed[::-1]


def test_pages_stay_stable_when_orders_are_placed_between_them(orders, api, shoe):
    placed = [place(api, (shoe, 1)).json()["id"] for _ in range(6)]
    later: list[str] = []

    seen = walk(api, 2, between_pages=lambda: later.append(place(api, (shoe, 1)).json()["id"]))

    assert seen == placed[::-1]
    assert len(later) == 2
    assert walk(api, 100) == (placed + later)[::-1]


def test_orders_placed_in_the_same_millisecond_are_ordered_by_id(orders, api, shoe):
    placed = [place(api, (shoe, 1)).json()["id"] for _ in range(4)]
    orders.sql.rows("UPDATE orders SET created_at = '2026-03-01T09:30:15.123Z', updated_at = "
                    "'2026-03-01T09:30:15.123Z' RETURNING id")  # fmt: skip

    assert walk(api, 1) == sorted(placed, reverse=True)


def forged(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


ORDER = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
BAD_CURSORS = {
    "garbage": "not-a-cursor",
    "not-base64": "%%%%",
    "not-json": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "a-list": forged(["2026-03-01T09:30:15.123Z", ORDER]),
    "extra-key": forged({"t": "2026-03-01T09:30:15.123Z", "id": ORDER, "x": 1}),
    "bad-id": forged({"t": "2026-03-01T09:30:15.123Z", "id": "nope"}),
    "bad-time": forged({"t": "yesterday", "id": ORDER}),
    "february-30": forged({"t": "2026-02-30T09:30:15.123Z", "id": ORDER}),
    "hour-25": forged({"t": "2026-03-01T25:30:15.123Z", "id": ORDER}),
    "arabic-digits": forged({"t": "٢٠٢٦-03-01T09:30:15.123Z", "id": ORDER}),
}


@pytest.mark.parametrize("cursor", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
def test_a_cursor_not_issued_by_the_api_is_400(orders, api, shoe, cursor):
    place(api, (shoe, 1))

    reply = api.get("/orders", query={"cursor": cursor}, claims=CUSTOMER_CLAIMS)

    reply.problem(400)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
def test_a_bad_limit_is_422(orders, api, limit):
    errors = api.get("/orders", query={"limit": limit}, claims=CUSTOMER_CLAIMS).field_errors()

    assert set(errors) == {"limit"}


def test_no_token_is_401_for_every_route(orders, api):
    for method, path in [("POST", "/orders"), ("GET", "/orders"), ("GET", f"/orders/{ORDER}")]:
        api.call(method, path, body={} if method == "POST" else None).problem(401)


# --- round trips --------------------------------------------------------------------------------


def test_prices_come_from_one_batch_read_for_all_lines(orders):
    products = [orders.add_product(f"Piece {n}", "1.00") for n in range(12)]
    clients = orders.clients()
    calls: list[str] = []
    clients.dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    api = orders.api(orders.ports(clients))

    place(api, *[(pid, 1) for pid in products])

    assert calls == ["BatchGetItem"]


class Statements:
    """Records every statement sent through the connections a connector opens: a cursor class
    handed to psycopg2.connect, so the adapter runs unchanged."""

    def __init__(self, orders: OrdersStack) -> None:
        self.sent: list[str] = []  # one entry per query: a round trip
        record = self

        class Cursor(psycopg2.extensions.cursor):
            def execute(self, query: Any, vars: Any = None) -> None:
                record.sent.append(query if isinstance(query, str) else query.decode()[:60])
                super().execute(query, vars)

        endpoint = orders.endpoint
        self.database = Database(
            lambda: psycopg2.connect(
                host=endpoint.host,
                port=endpoint.port,
                user=endpoint.user,
                password=endpoint.password,
                dbname=endpoint.dbname,
                cursor_factory=Cursor,
            )
        )
        orders.databases.append(self.database)

    def reset(self) -> None:
        self.sent = []


@pytest.mark.parametrize("key", [None, "7d4c1c52-3f5e-4a53-9c1e-8f0a2b6c4d11"])
def test_placing_an_order_costs_as_many_statements_for_fifty_lines_as_for_one(orders, key):
    products = [orders.add_product(f"Piece {n}", "1.00") for n in range(50)]
    statements = Statements(orders)
    api = orders.api(orders.ports(database=statements.database))
    headers = {"Idempotency-Key": key} if key else None
    costs = []

    for count in (1, 50):
        statements.reset()
        body = lines(*[(pid, 1) for pid in products[:count]])
        if key:
            headers = {"Idempotency-Key": f"{key}-{count}"}
        reply = api.post("/orders", body=body, claims=CUSTOMER_CLAIMS, headers=headers)
        assert reply.status == 202, reply.text
        costs.append(len(statements.sent))

    assert costs[0] == costs[1]
    # The order, its lines and its message in one query, then the message marked sent; a key
    # adds its lock and its read, and the writes then end with a COMMIT of their own.
    assert costs[0] == (5 if key else 2)
    assert orders.sql.value("SELECT count(*) FROM order_items") == 51
