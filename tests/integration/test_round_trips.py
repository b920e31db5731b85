"""Round trips per request, counted: AWS calls from botocore's own events, and PostgreSQL's from a
cursor and a connection that count what they send (statements, BEGIN, COMMIT and ROLLBACK).

A count is not a timing: these pin the minimum each route needs. Every products route makes one
DynamoDB call; placing an order reads every price in one BatchGetItem, writes the order in one
transaction of a fixed number of statements however many lines it has, and sends one message.
bench/round_trips.py reports the same counts for every route.
"""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import psycopg2.extensions
import pytest

from services.common.aws import AwsClients
from services.common.lambda_entry import http_handler
from services.common.settings import Settings
from services.orders.database import Database, secret_connector
from services.orders.domain import CancelReason
from services.orders.service import relay_outbox
from services.orders.wiring import ports_from, steps_from
from services.products.app import create_app as create_products_app
from tests.integration.conftest import (
    ADMIN_CLAIMS,
    CUSTOMER_CLAIMS,
    Api,
    OrdersStack,
)

_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE
_OPEN = (
    psycopg2.extensions.TRANSACTION_STATUS_INTRANS,
    psycopg2.extensions.TRANSACTION_STATUS_INERROR,
)
_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}
OTHER_CUSTOMER_CLAIMS = {
    **CUSTOMER_CLAIMS,
    "sub": "0d9c8b7a-6f5e-4d3c-8b2a-190817161514",
    "username": "0d9c8b7a-6f5e-4d3c-8b2a-190817161514",
}


def split_statements(sent: str) -> list[str]:
    """The statements of one multi-statement query: split at semicolons outside quotes."""
    statements: list[str] = []
    current: list[str] = []
    quoted = False
    for character in sent:
        if character == "'":
            quoted = not quoted  # '' inside a literal toggles twice
        if character == ";" and not quoted:
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(character)
    statements.append("".join(current).strip())
    return [statement for statement in statements if statement]


@dataclass
class RoundTrips:
    """What one or more requests sent: AWS operations, and what reached PostgreSQL."""

    aws: Counter[str] = field(default_factory=Counter)  # "dynamodb.GetItem" -> calls
    sent: list[list[str]] = field(default_factory=list)  # each round trip's statements
    commits: int = 0  # by the connection's commit(), not in a query
    rollbacks: int = 0
    connections: int = 0

    @property
    def statements(self) -> list[str]:
        """Every SQL statement sent, BEGIN, COMMIT and ROLLBACK aside."""
        return [one for trip in self.sent for one in trip if one not in _CONTROL]

    @property
    def transactions(self) -> int:
        """Transactions opened with BEGIN (a query of its own is a transaction without one)."""
        return sum(trip.count("BEGIN") for trip in self.sent)

    @property
    def database(self) -> int:
        """Round trips to PostgreSQL: every query sent, and the connection's COMMIT/ROLLBACK."""
        return len(self.sent) + self.commits + self.rollbacks

    def reset(self) -> None:
        self.aws.clear()
        self.sent.clear()
        self.commits = self.rollbacks = self.connections = 0


def count_aws_calls(client: Any, counts: RoundTrips) -> Any:
    """Count every operation this client sends, from botocore's before-call event."""

    def record(model: Any, **_: Any) -> None:
        counts.aws[f"{model.service_model.service_name}.{model.name}"] += 1

    client.meta.events.register("before-call", record)
    return client


class _CountingCursor(psycopg2.extensions.cursor):
    counts: RoundTrips

    def execute(self, query: Any, vars: Any = None) -> None:
        if not self.connection.autocommit and self.connection.info.transaction_status == _IDLE:
            self.counts.sent.append(["BEGIN"])  # psycopg2 sends it first, a round trip of its own
        self.counts.sent.append(split_statements(self.mogrify(query, vars).decode()))
        super().execute(query, vars)


class _CountingConnection:
    """A psycopg2 connection that counts what it sends; the rest is the connection's own."""

    def __init__(self, connection: Any, counts: RoundTrips) -> None:
        cursor = type("Cursor", (_CountingCursor,), {"counts": counts})
        connection.cursor_factory = cursor
        object.__setattr__(self, "_connection", connection)
        object.__setattr__(self, "_counts", counts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._connection, name, value)

    def commit(self) -> None:
        if not self._connection.autocommit and self._connection.info.transaction_status in _OPEN:
            self._counts.commits += 1
        self._connection.commit()

    def rollback(self) -> None:
        if not self._connection.autocommit and self._connection.info.transaction_status in _OPEN:
            self._counts.rollbacks += 1
        self._connection.rollback()


def counting_database(settings: Settings, clients: AwsClients, counts: RoundTrips) -> Database:
    """The orders Database as on Lambda (credentials from the secret), counting round trips."""
    connect = secret_connector(settings, clients.secrets)

    def counted() -> Any:
        counts.connections += 1
        return _CountingConnection(connect(), counts)

    return Database(counted)


def counted_clients(
    settings: Settings, session: boto3.session.Session, counts: RoundTrips
) -> AwsClients:
    clients = AwsClients(settings, session=session)
    for client in (clients.dynamodb, clients.sqs, clients.secrets):
        count_aws_calls(client, counts)
    return clients


# --- products ---------------------------------------------------------------------------------

PRODUCT = {"name": "Trail shoe", "price": 129.99, "stock": 10, "category": "shoes"}


@pytest.fixture
def counts() -> RoundTrips:
    return RoundTrips()


@pytest.fixture
def products_api(dynamodb: Any, aws_session: boto3.session.Session, counts: RoundTrips) -> Api:
    clients = counted_clients(Settings.from_env(), aws_session, counts)
    return Api(http_handler(lambda: create_products_app(clients=clients)))


def _created(api: Api) -> str:
    reply = api.post("/products", body=PRODUCT, claims=ADMIN_CLAIMS)
    assert reply.status == 201, reply.text
    return str(reply.json()["id"])


Request = Callable[[Api, str], Any]
PRODUCT_ROUTES: list[tuple[str, Request, str]] = [
    ("GET /products", lambda api, _: api.get("/products"), "dynamodb.Query"),
    (
        "GET /products?category=",
        lambda api, _: api.get("/products", query={"category": "shoes"}),
        "dynamodb.Query",
    ),
    ("POST /products", lambda api, _: _created(api), "dynamodb.PutItem"),
    ("GET /products/{id}", lambda api, pid: api.get(f"/products/{pid}"), "dynamodb.GetItem"),
    (
        "PUT /products/{id}",
        lambda api, pid: api.put(f"/products/{pid}", body=PRODUCT, claims=ADMIN_CLAIMS),
        "dynamodb.UpdateItem",
    ),
    (
        "PATCH /products/{id}",
        lambda api, pid: api.patch(f"/products/{pid}", body={"stock": 3}, claims=ADMIN_CLAIMS),
        "dynamodb.UpdateItem",
    ),
    (
        "DELETE /products/{id}",
        lambda api, pid: api.delete(f"/products/{pid}", claims=ADMIN_CLAIMS, content_type=None),
        "dynamodb.DeleteItem",
    ),
]


@pytest.mark.parametrize(
    ("route", "request_", "operation"), PRODUCT_ROUTES, ids=[route[0] for route in PRODUCT_ROUTES]
)
def test_each_products_route_makes_exactly_one_dynamodb_call(
    products_api: Api, counts: RoundTrips, route: str, request_: Request, operation: str
) -> None:
    product_id = _created(products_api)
    counts.reset()

    request_(products_api, product_id)

    assert all(reply.status < 400 for reply in products_api.replies), products_api.replies[-1]
    assert counts.aws == Counter({operation: 1}), route


def test_a_missing_product_costs_one_call_too(products_api: Api, counts: RoundTrips) -> None:
    reply = products_api.get(f"/products/{uuid.uuid4()}")

    assert reply.status == 404
    assert counts.aws == Counter({"dynamodb.GetItem": 1})


def test_an_id_that_is_no_uuid_is_refused_without_any_call(
    products_api: Api, counts: RoundTrips
) -> None:
    assert products_api.get("/products/not-a-product").status == 404
    assert counts.aws == Counter()


# --- orders -----------------------------------------------------------------------------------


@dataclass
class CountedOrders:
    stack: OrdersStack
    counts: RoundTrips
    api: Api
    database: Database

    def products(self, number: int) -> list[str]:
        return [self.stack.add_product(f"Product {n}", "2.50") for n in range(number)]

    def place(self, product_ids: list[str], **options: Any) -> str:
        body = {"items": [{"productId": pid, "quantity": 1} for pid in product_ids]}
        reply = self.api.post("/orders", body=body, claims=CUSTOMER_CLAIMS, **options)
        assert reply.status == 202, reply.text
        return str(reply.json()["id"])

    def warm(self) -> None:
        """One request first: the container's connection and secret are not per request."""
        self.place(self.products(1))
        self.counts.reset()


@pytest.fixture
def counted_orders(orders: OrdersStack, counts: RoundTrips) -> CountedOrders:
    clients = counted_clients(orders.settings, orders.session, counts)
    database = counting_database(orders.settings, clients, counts)
    orders.databases.append(database)
    api = orders.api(ports_from(orders.settings, clients, database))
    return CountedOrders(orders, counts, api, database)


def kinds(trip: list[str]) -> list[str]:
    """Each statement of a round trip by its first words: "INSERT INTO orders", "COMMIT"."""
    return [" ".join(statement.split()[:3]) if statement[:6] == "INSERT" else
            " ".join(statement.split()[:1]) for statement in trip]  # fmt: skip


@pytest.mark.parametrize("lines", [1, 20])
def test_placing_an_order_is_two_round_trips_whatever_its_number_of_lines(
    counted_orders: CountedOrders, lines: int
) -> None:
    """The order, all its lines and its message in one query (one transaction without BEGIN or
    COMMIT), then the message's acknowledgement once the queue has it."""
    counted_orders.warm()
    product_ids = counted_orders.products(lines)

    counted_orders.place(product_ids)

    counts = counted_orders.counts
    assert counts.aws == Counter({"dynamodb.BatchGetItem": 1, "sqs.SendMessageBatch": 1})
    assert [kinds(trip) for trip in counts.sent] == [
        ["INSERT INTO orders", "INSERT INTO order_items", "INSERT INTO outbox"],
        ["UPDATE"],
    ]
    assert counts.database == 2
    assert (counts.transactions, counts.rollbacks, counts.connections) == (0, 0, 0)
    (insert_lines,) = [sql for sql in counts.statements if "INSERT INTO order_items" in sql]
    rows = insert_lines.split(" VALUES ", 1)[1]
    assert rows.count("),(") + 1 == lines  # every line in the one statement


def test_an_idempotency_key_adds_its_lock_and_read_to_the_one_transaction(
    counted_orders: CountedOrders,
) -> None:
    counted_orders.warm()

    counted_orders.place(counted_orders.products(3), headers={"Idempotency-Key": "k-1"})

    counts = counted_orders.counts
    assert [kinds(trip) for trip in counts.sent] == [
        ["BEGIN", "SELECT"],  # the key's lock, held until COMMIT
        ["SELECT"],  # the key's answer, read once the lock is held
        ["INSERT INTO orders", "INSERT INTO order_items", "INSERT INTO idempotency_keys",
         "INSERT INTO outbox"],
        ["COMMIT"],
        ["UPDATE"],
    ]  # fmt: skip
    assert counts.aws == Counter({"dynamodb.BatchGetItem": 1, "sqs.SendMessageBatch": 1})


def test_a_replayed_key_costs_its_lock_and_read_and_writes_nothing(
    counted_orders: CountedOrders,
) -> None:
    counted_orders.warm()
    product_ids = counted_orders.products(2)
    counted_orders.place(product_ids, headers={"Idempotency-Key": "k-2"})
    counted_orders.counts.reset()

    counted_orders.place(product_ids, headers={"Idempotency-Key": "k-2"})

    counts = counted_orders.counts
    assert [kinds(trip) for trip in counts.sent] == [["BEGIN", "SELECT"], ["SELECT"], ["ROLLBACK"]]
    assert counts.aws == Counter()


def test_reading_an_order_is_one_statement_with_its_lines(counted_orders: CountedOrders) -> None:
    counted_orders.warm()
    order_id = counted_orders.place(counted_orders.products(5))
    counted_orders.counts.reset()

    reply = counted_orders.api.get(f"/orders/{order_id}", claims=CUSTOMER_CLAIMS)

    counts = counted_orders.counts
    assert reply.status == 200
    assert len(reply.json()["items"]) == 5
    assert counts.aws == Counter()
    assert [kinds(trip) for trip in counts.sent] == [["SELECT"]]  # autocommit: no BEGIN
    assert counts.database == 1


def test_a_page_of_orders_is_one_statement(counted_orders: CountedOrders) -> None:
    counted_orders.warm()
    product_ids = counted_orders.products(2)
    for _ in range(3):
        counted_orders.place(product_ids)
    counted_orders.counts.reset()

    reply = counted_orders.api.get("/orders", claims=CUSTOMER_CLAIMS, query={"limit": "2"})

    assert reply.status == 200
    assert [len(order["items"]) for order in reply.json()["items"]] == [2, 2]
    assert [kinds(trip) for trip in counted_orders.counts.sent] == [["SELECT"]]


def _with_status(counted_orders: CountedOrders, status: str) -> str:
    order_id = counted_orders.place(counted_orders.products(2))
    counted_orders.stack.sql.rows(
        "UPDATE orders SET status = %s WHERE id = %s RETURNING id", (status, order_id)
    )
    counted_orders.counts.reset()
    return order_id


@pytest.mark.parametrize(("action", "status"), [("ship", "CONFIRMED"), ("deliver", "SHIPPED")])
def test_shipping_or_delivering_is_the_conditional_update_alone(
    counted_orders: CountedOrders, action: str, status: str
) -> None:
    """Nothing follows the status change, so it goes alone: its own transaction, no BEGIN and no
    COMMIT."""
    counted_orders.warm()
    order_id = _with_status(counted_orders, status)

    reply = counted_orders.api.post(
        f"/orders/{order_id}/{action}", claims=ADMIN_CLAIMS, content_type=None
    )

    counts = counted_orders.counts
    assert reply.status == 200, reply.text
    assert len(reply.json()["items"]) == 2
    assert [kinds(trip) for trip in counts.sent] == [["WITH"]]
    assert (counts.database, counts.transactions, counts.aws) == (1, 0, Counter())


@pytest.mark.parametrize("step", ["confirm", "cancel"])
def test_the_workflows_confirm_and_cancel_are_the_conditional_update_alone(
    counted_orders: CountedOrders, step: str
) -> None:
    """The workflow's status changes end their unit of work too: one statement, committed."""
    counted_orders.warm()
    order_id = _with_status(counted_orders, "PENDING")
    steps = steps_from(counted_orders.stack.settings, database=counted_orders.database)

    if step == "confirm":
        order = steps.confirm(order_id)
    else:
        order = steps.cancel(order_id, CancelReason.OUT_OF_STOCK)

    assert order.status.value == ("CONFIRMED" if step == "confirm" else "CANCELLED")
    assert [kinds(trip) for trip in counted_orders.counts.sent] == [["WITH"]]
    assert (counted_orders.counts.database, counted_orders.counts.transactions) == (1, 0)


def test_a_move_the_table_refuses_adds_one_read_for_the_status_it_names(
    counted_orders: CountedOrders,
) -> None:
    counted_orders.warm()
    order_id = _with_status(counted_orders, "PENDING")

    reply = counted_orders.api.post(
        f"/orders/{order_id}/ship", claims=ADMIN_CLAIMS, content_type=None
    )

    assert reply.status == 409, reply.text
    assert [kinds(trip) for trip in counted_orders.counts.sent] == [["WITH"], ["SELECT"]]


def test_a_cancel_is_one_statement_then_the_acknowledgement(counted_orders: CountedOrders) -> None:
    """Ownership, the move and the message that makes the workflow undo the order are one
    statement, alone; the message is acknowledged once the queue has it."""
    counted_orders.warm()
    order_id = _with_status(counted_orders, "CONFIRMED")

    reply = counted_orders.api.post(
        f"/orders/{order_id}/cancel", claims=CUSTOMER_CLAIMS, content_type=None
    )

    counts = counted_orders.counts
    assert reply.status == 200, reply.text
    assert reply.json()["status"] == "CANCELLED"
    assert [kinds(trip) for trip in counts.sent] == [["WITH"], ["UPDATE"]]
    (move, _) = counts.statements
    assert "INSERT INTO outbox" in move
    assert (counts.database, counts.transactions) == (2, 0)
    assert counts.aws["sqs.SendMessageBatch"] == 1


def test_cancelling_someone_elses_order_changes_nothing_and_is_not_found(
    counted_orders: CountedOrders,
) -> None:
    counted_orders.warm()
    order_id = _with_status(counted_orders, "PENDING")
    sql = counted_orders.stack.sql
    before = sql.rows(
        "SELECT xmin::text, status, updated_at FROM orders WHERE id = %s", (order_id,)
    )
    messages = sql.value("SELECT count(*) FROM outbox")

    reply = counted_orders.api.post(
        f"/orders/{order_id}/cancel", claims=OTHER_CUSTOMER_CLAIMS, content_type=None
    )

    assert reply.status == 404, reply.text
    assert [kinds(trip) for trip in counted_orders.counts.sent] == [["WITH"], ["SELECT"]]
    after = sql.rows("SELECT xmin::text, status, updated_at FROM orders WHERE id = %s", (order_id,))
    assert after == before  # not even a new version of the row
    assert sql.value("SELECT count(*) FROM outbox") == messages
    assert counted_orders.counts.aws == Counter()


def _relay(counted_orders: CountedOrders) -> int:
    """One tick of the relay as its entry wires it, on the container's counted connection."""
    stack = counted_orders.stack
    clients = counted_clients(stack.settings, stack.session, counted_orders.counts)
    # Imported here: bench/round_trips.py runs this file in older trees too, which lack it.
    from services.orders.wiring import relay_ports_from

    ports = relay_ports_from(stack.settings, clients, counted_orders.database)
    return relay_outbox(ports.new_unit_of_work, ports.publisher)


@pytest.mark.parametrize("waiting", [0, 3])
def test_a_relay_tick_takes_and_holds_then_marks_and_commits(
    counted_orders: CountedOrders, waiting: int
) -> None:
    """The messages taken stay locked while they are published, so that a second relay skips
    them: BEGIN goes with the take, COMMIT with the acknowledgement. With nothing waiting the
    take still opened the transaction, which COMMIT ends."""
    counted_orders.warm()  # its message sent and acknowledged
    sql = counted_orders.stack.sql
    before = sql.value("SELECT max(id) FROM outbox")
    for _ in range(waiting):
        counted_orders.place(counted_orders.products(1))
    sql.rows("UPDATE outbox SET sent_at = NULL WHERE id > %s RETURNING id", (before,))
    counted_orders.counts.reset()

    assert _relay(counted_orders) == waiting

    acknowledged = [["UPDATE", "COMMIT"]] if waiting else [["COMMIT"]]
    assert [kinds(trip) for trip in counted_orders.counts.sent] == [
        ["BEGIN", "SELECT"],
        *acknowledged,
    ]


def test_a_unit_of_work_that_fails_before_writing_sends_nothing(
    counted_orders: CountedOrders,
) -> None:
    counted_orders.warm()

    reply = counted_orders.api.post(
        "/orders",
        body={"items": [{"productId": str(uuid.uuid4()), "quantity": 1}]},
        claims=CUSTOMER_CLAIMS,
    )

    assert reply.status == 422  # an unknown product: refused before any statement
    assert counted_orders.counts.sent == []


def test_the_first_request_of_a_container_reads_the_secret_once(
    counted_orders: CountedOrders,
) -> None:
    product_ids = counted_orders.products(2)

    counted_orders.place(product_ids)
    counted_orders.place(product_ids)

    counts = counted_orders.counts
    assert counts.aws["secretsmanager.GetSecretValue"] == 1
    assert counts.connections == 1
    assert counts.aws["dynamodb.BatchGetItem"] == 2
