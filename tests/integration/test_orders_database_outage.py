"""PostgreSQL going away and coming back, on a dedicated server this module starts and stops (the
session's shared server is never touched): 503 with Retry-After while it is down, nothing written
or sent, and the same app answers again once it is back, on a re-opened connection."""

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from local.database import Endpoint, LocalDatabase
from local.resources import ensure_secret
from services.orders.database import Database, secret_connector
from services.orders.wiring import database_from, ports_from
from tests.integration.conftest import (
    CUSTOMER_CLAIMS,
    Api,
    Reply,
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
    connection = endpoint.connect()
    try:
        with connection.cursor() as cursor:
            found = {}
            for table in ("orders", "order_items", "outbox"):
                cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed names)
                found[table] = cursor.fetchone()[0]
            return found
    finally:
        connection.close()


def test_a_stopped_server_is_503_and_the_same_app_recovers_when_it_is_back(orders, own_server):
    endpoint = start_database(own_server)
    secret_arn = ensure_secret(
        orders.secrets,
        "orders-test/outage",
        {"username": endpoint.user, "password": endpoint.password},
    )
    settings = dataclasses.replace(
        orders.settings,
        database_host=endpoint.host,
        database_port=endpoint.port,
        database_name=endpoint.dbname,
        database_secret_arn=secret_arn,
    )
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
    assert rows(endpoint) == {"orders": 2, "order_items": 2, "outbox": 2}
    listed = api.get("/orders", claims=CUSTOMER_CLAIMS).json()["items"]
    assert [order["id"] for order in listed] == [after.json()["id"], before.json()["id"]]


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
