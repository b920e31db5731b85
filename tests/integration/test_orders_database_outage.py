"""PostgreSQL going away and coming back, on a dedicated server this module starts and stops (the
session's shared server is never touched): 503 with Retry-After while it is down, nothing written
or sent, and the same app answers again once it is back, on a re-opened connection. The server
also goes down in the middle of a placement, between its writes and their COMMIT."""

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import psycopg2.extensions
import pytest
from psycopg2.extensions import TRANSACTION_STATUS_INTRANS as INTRANS

from local.database import Endpoint, LocalDatabase
from local.resources import ensure_secret
from services.common.settings import Settings
from services.orders.database import Database, secret_connector
from services.orders.wiring import database_from, ports_from
from tests.integration.conftest import (
    CUSTOMER_CLAIMS,
    ORDER_TABLES,
    Api,
    OrdersStack,
    Reply,
    Sql,
    data_directory,
    start_database,
    unreachable_client,
)


@pytest.fixture
def own_server() -> Iterator[LocalDatabase]:
    """A second, embedded PostgreSQL that only this test uses, so it may be stopped."""
    with data_directory("outage") as directory:
        server = LocalDatabase(directory)
        try:
            yield server
        finally:
            server.stop()


def body(product: str) -> dict[str, Any]:
    return {"items": [{"productId": product, "quantity": 1}]}


def assert_unavailable(reply: Reply) -> None:
    document = reply.problem(503)
    assert int(reply.headers["retry-after"]) > 0
    assert document["detail"] == "The orders database is unavailable; retry shortly."


def rows(endpoint: Endpoint) -> dict[str, int]:
    """The number of rows of every orders table on that server."""
    with closing(Sql(endpoint)) as sql:
        return sql.counts()


def settings_for(orders: OrdersStack, endpoint: Endpoint) -> Settings:
    """The orders settings, naming this server and a secret of its own."""
    secret_arn = ensure_secret(
        orders.secrets,
        "orders-test/outage",
        {"username": endpoint.user, "password": endpoint.password},
    )
    return dataclasses.replace(
        orders.settings,
        database_host=endpoint.host,
        database_port=endpoint.port,
        database_name=endpoint.dbname,
        database_secret_arn=secret_arn,
    )


def test_a_stopped_server_is_503_and_the_same_app_recovers_when_it_is_back(orders, own_server):
    endpoint = start_database(own_server)
    settings = settings_for(orders, endpoint)
    clients = orders.clients(settings)
    database = database_from(settings, clients)
    orders.databases.append(database)
    api = orders.api(ports_from(settings, clients, database))
    shoe = orders.add_product()
    before = api.post("/orders", body=body(shoe), claims=CUSTOMER_CLAIMS)
    assert before.status == 202, before.text
    assert len(orders.received()) == 1

    own_server.stop()
    # First the connection the container holds fails, then opening a new one fails.
    for _ in range(2):
        assert_unavailable(api.post("/orders", body=body(shoe), claims=CUSTOMER_CLAIMS))
    assert_unavailable(
        api.post(
            "/orders", body=body(shoe), claims=CUSTOMER_CLAIMS, headers={"Idempotency-Key": "k"}
        )
    )
    assert_unavailable(api.get("/orders", claims=CUSTOMER_CLAIMS))
    assert_unavailable(api.get(before.headers["location"], claims=CUSTOMER_CLAIMS))
    assert orders.received() == []

    start_database(own_server)
    after = api.post("/orders", body=body(shoe), claims=CUSTOMER_CLAIMS)

    assert after.status == 202, after.text
    assert len(orders.received()) == 1
    assert rows(endpoint) == {"orders": 2, "order_items": 2, "idempotency_keys": 0, "outbox": 2}
    listed = api.get("/orders", claims=CUSTOMER_CLAIMS).json()["items"]
    assert [order["id"] for order in listed] == [after.json()["id"], before.json()["id"]]


class StopBeforeCommit:
    """Stops the server when a unit of work is about to send COMMIT with its writes sent: they
    reached the server, and it goes down before they commit. `pending` is what the transaction
    held at that moment, counted from inside it."""

    def __init__(self, server: LocalDatabase) -> None:
        self.server = server
        self.pending: dict[str, int] | None = None

    def connector(self, connect: Callable[[], Any]) -> Callable[[], Any]:
        """`connect`, with cursors that stop the server before the first COMMIT of a transaction."""
        stop = self

        class Cursor(psycopg2.extensions.cursor):
            def execute(self, query: Any, vars: Any = None) -> Any:
                in_transaction = self.connection.info.transaction_status == INTRANS
                if stop.pending is None and in_transaction and _commits(query):
                    stop.before_commit(self.connection)
                return super().execute(query, vars)

        def connecting() -> Any:
            connection = connect()
            connection.cursor_factory = Cursor
            return connection

        return connecting

    def before_commit(self, connection: Any) -> None:
        counts = ", ".join(f"(SELECT count(*) FROM {t})" for t in ORDER_TABLES)  # noqa: S608
        with psycopg2.extensions.cursor(connection) as cursor:
            cursor.execute(f"SELECT {counts}")
            (row,) = cursor.fetchall()
            self.pending = dict(zip(ORDER_TABLES, row, strict=True))
        self.server.stop()


def _commits(query: Any) -> bool:
    text = query if isinstance(query, bytes) else str(query).encode()
    return text.rstrip().upper().endswith(b"COMMIT")


def test_the_server_stopping_before_commit_leaves_nothing_and_the_retry_is_fulfilled(
    own_server, fulfilment, orders, monkeypatch
):
    endpoint = start_database(own_server)
    settings = settings_for(orders, endpoint)
    clients = orders.clients(settings)
    stop = StopBeforeCommit(own_server)
    database = Database(stop.connector(secret_connector(settings, clients.secrets)))
    orders.databases.append(database)
    api = orders.api(ports_from(settings, clients, database))
    shoe = orders.add_product()
    key = {"Idempotency-Key": "7d1c0b8e-retry-after-outage"}

    cut = api.post("/orders", body=body(shoe), claims=CUSTOMER_CLAIMS, headers=key)

    assert_unavailable(cut)
    # Everything the placement writes had reached the server, uncommitted, when it stopped.
    assert stop.pending == dict.fromkeys(ORDER_TABLES, 1)
    assert orders.received() == []
    start_database(own_server)
    assert rows(endpoint) == dict.fromkeys(ORDER_TABLES, 0)

    placed = api.post("/orders", body=body(shoe), claims=CUSTOMER_CLAIMS, headers=key)
    assert placed.status == 202, placed.text
    order_id = placed.json()["id"]
    replayed = api.post("/orders", body=body(shoe), claims=CUSTOMER_CLAIMS, headers=key)
    assert (replayed.status, replayed.json()["id"]) == (202, order_id)

    here = dataclasses.replace(orders, settings=settings, endpoint=endpoint)
    for name, value in here.environment().items():  # the steps' functions use this server too
        monkeypatch.setenv(name, value)
    fulfilment.settle()

    assert api.get(f"/orders/{order_id}", claims=CUSTOMER_CLAIMS).json()["status"] == "CONFIRMED"
    with closing(Sql(endpoint)) as sql:
        checked = dataclasses.replace(fulfilment, orders=dataclasses.replace(here, sql=sql))
        checked.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


def test_secrets_manager_unreachable_is_503_and_nothing_is_written(orders):
    secrets = unreachable_client(orders.session, "secretsmanager")
    database = Database(secret_connector(orders.settings, secrets))
    api = orders.api(orders.ports(database=database))
    shoe = orders.add_product()

    assert_unavailable(api.post("/orders", body=body(shoe), claims=CUSTOMER_CLAIMS))
    assert_unavailable(api.get("/orders", claims=CUSTOMER_CLAIMS))

    assert orders.sql.counts() == dict.fromkeys(orders.sql.counts(), 0)
    assert orders.received() == []


def test_a_secret_that_is_not_there_is_503(orders):
    settings = dataclasses.replace(
        orders.settings,
        database_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf",
    )
    clients = orders.clients(settings)
    database = database_from(settings, clients)
    api: Api = orders.api(ports_from(settings, clients, database))

    assert_unavailable(api.get("/orders", claims=CUSTOMER_CLAIMS))
