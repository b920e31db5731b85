"""Idempotency-Key on POST /orders through the Lambda handler, on a real PostgreSQL: a repeat is
answered from the database, a reused key is refused, and duplicates racing each other from
separate containers create exactly one order."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.orders.domain import OrderRequest
from services.orders.postgres import PostgresUnitOfWork
from tests.integration.conftest import CUSTOMER_CLAIMS, Api, OrdersStack, Reply

KEY = "7d4c1c52-3f5e-4a53-9c1e-8f0a2b6c4d11"
CUSTOMER = CUSTOMER_CLAIMS["sub"]
OTHER_CLAIMS = {
    **CUSTOMER_CLAIMS,
    "sub": "5c4b3a29-1807-4f6e-8d5c-4b3a29180706",
    "username": "5c4b3a29-1807-4f6e-8d5c-4b3a29180706",
}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


def body(*pairs: tuple[str, int], **fields: Any) -> dict[str, Any]:
    return {"items": [{"productId": p, "quantity": q} for p, q in pairs], **fields}


def post(
    api: Api, order: dict[str, Any], key: str = KEY, claims: dict[str, str] = CUSTOMER_CLAIMS
) -> Reply:
    return api.post("/orders", body=order, claims=claims, headers={"Idempotency-Key": key})


def test_a_repeat_replays_status_location_and_order_and_creates_nothing(orders, api, shoe, sock):
    first = post(api, body((shoe, 2), (sock, 1)))
    assert first.status == 202, first.text
    sent = orders.received()
    counts = orders.sql.counts()

    again = post(api, body((shoe, 2), (sock, 1)))

    assert again.status == 202, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["location"] == first.headers["location"]
    assert again.content_type == first.content_type
    assert again.json() == first.json()
    assert (
        orders.sql.counts()
        == counts
        == {
            "orders": 1,
            "order_items": 2,
            "idempotency_keys": 1,
            "outbox": 1,
        }
    )
    assert len(sent) == 1
    assert orders.received() == []


def test_a_replayed_body_is_byte_identical_to_the_first(orders, api, shoe, sock):
    first = post(api, body((shoe, 2), (sock, 3)))
    assert first.status == 202, first.text

    again = post(api, body((shoe, 2), (sock, 3)))

    assert again.text == first.text


def test_a_repeat_reaching_another_container_is_replayed_too(orders, api, shoe):
    first = post(api, body((shoe, 1)))

    again = post(orders.api(), body((shoe, 1)))

    assert (again.status, again.headers.get("idempotent-replayed")) == (202, "true")
    assert again.json() == first.json()
    assert orders.sql.value("SELECT count(*) FROM orders") == 1


def test_a_repeat_spelling_the_product_in_upper_case_is_the_same_request(orders, api, shoe):
    first = post(api, body((shoe, 1)))

    again = post(api, body((shoe.upper(), 1)))

    assert (again.status, again.headers.get("idempotent-replayed")) == (202, "true")
    assert again.json() == first.json()


def test_a_repeat_after_its_product_was_deleted_is_still_replayed(orders, api, shoe, sock):
    """API.md: a repeat with the same key and body returns the original status and body."""
    first = post(api, body((shoe, 1), (sock, 1)))
    assert first.status == 202, first.text
    orders.dynamodb.delete_item(
        TableName=orders.settings.products_table,
        Key={"pk": {"S": f"PRODUCT#{sock}"}, "sk": {"S": "PRODUCT"}},
    )

    again = post(api, body((shoe, 1), (sock, 1)))

    assert (again.status, again.headers.get("idempotent-replayed")) == (202, "true"), again.text
    assert again.json() == first.json()


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 2},
        {"paymentToken": "tok_decline"},
        {"paymentToken": "tok_visa", "items": "reordered"},
        {"items": "another product"},
    ],
    ids=["quantity", "token", "line-order", "product"],
)
def test_the_same_key_with_another_body_is_422_and_changes_nothing(orders, api, shoe, sock, change):
    assert post(api, body((shoe, 1), (sock, 1))).status == 202
    orders.received()
    counts = orders.sql.counts()
    if change.get("items") == "reordered":
        other = body((sock, 1), (shoe, 1))
    elif change.get("items") == "another product":
        other = body((shoe, 1), (orders.add_product("Cap", "19.99"), 1))
    elif "quantity" in change:
        other = body((shoe, 2), (sock, 1))
    else:
        other = body((shoe, 1), (sock, 1), paymentToken=change["paymentToken"])

    reply = post(api, other)

    assert set(reply.field_errors()) == {"Idempotency-Key"}
    assert "idempotent-replayed" not in reply.headers
    assert orders.sql.counts() == counts
    assert orders.received() == []


def test_the_explicit_default_token_is_the_same_request_as_none(orders, api, shoe):
    post(api, body((shoe, 1)))

    again = post(api, body((shoe, 1), paymentToken="tok_visa"))

    assert (again.status, again.headers.get("idempotent-replayed")) == (202, "true")


def test_keys_belong_to_one_user(orders, api, shoe):
    mine = post(api, body((shoe, 1)))

    theirs = post(api, body((shoe, 1)), claims=OTHER_CLAIMS)

    assert theirs.status == 202, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert orders.sql.counts()["orders"] == 2


def test_another_key_is_another_order(orders, api, shoe):
    post(api, body((shoe, 1)), key="key-1")
    post(api, body((shoe, 1)), key="key-2")

    assert orders.sql.counts()["orders"] == 2


def test_a_refused_request_does_not_use_up_its_key(orders, api, shoe):
    refused = post(api, body((shoe, 1), (UNKNOWN, 1)))
    assert set(refused.field_errors()) == {"items.1.productId"}
    assert post(api, body((shoe, 1), (UNKNOWN, 1))).status == 422
    assert orders.sql.counts() == dict.fromkeys(orders.sql.counts(), 0)

    accepted = post(api, body((shoe, 1)))

    assert accepted.status == 202, accepted.text
    assert "idempotent-replayed" not in accepted.headers


def test_a_repeat_while_the_first_is_in_flight_is_409(orders, api, shoe):
    holder = PostgresUnitOfWork(orders.database())
    with holder:  # another container is between claiming the key and committing
        assert holder.idempotency.claim(CUSTOMER, KEY, "0" * 64) is None

        reply = post(api, body((shoe, 1)))

        reply.problem(409)
        assert orders.sql.counts()["orders"] == 0

    after = post(api, body((shoe, 1)))  # the holder rolled back: the key is free
    assert after.status == 202, after.text
    assert "idempotent-replayed" not in after.headers


def test_concurrent_duplicates_from_separate_containers_create_one_order(orders, shoe, sock):
    containers = 8
    apis = []
    for _ in range(containers):
        clients = orders.clients()
        for client in (clients.dynamodb, clients.sqs, clients.secrets):
            assert client is not None  # built here: creating clients is not thread-safe
        database = orders.database(clients)
        database.connection()  # connected already, so that the requests really race
        apis.append(orders.api(orders.ports(clients, database)))
    start = threading.Barrier(containers)
    order = body((shoe, 2), (sock, 1))

    def send(api: Api) -> Reply:
        start.wait(timeout=10)
        return post(api, order)

    with ThreadPoolExecutor(containers) as pool:
        replies = list(pool.map(send, apis))

    statuses = sorted((r.status, r.headers.get("idempotent-replayed", "")) for r in replies)
    assert {status for status, _ in statuses} <= {202, 409}, [r.text for r in replies]
    originals = [r for r in replies if r.status == 202 and "idempotent-replayed" not in r.headers]
    assert len(originals) == 1, statuses
    replayed = [r for r in replies if r.headers.get("idempotent-replayed") == "true"]
    assert all(r.json() == originals[0].json() for r in replayed)
    for reply in replies:
        if reply.status == 409:
            reply.problem(409)
    assert orders.sql.counts() == {
        "orders": 1,
        "order_items": 2,
        "idempotency_keys": 1,
        "outbox": 1,
    }
    assert len(orders.received()) == 1


def test_the_stored_response_is_the_answer_and_the_fingerprint_is_the_request(orders, api, shoe):
    reply = post(api, body((shoe, 3)))

    stored = orders.sql.rows(
        "SELECT user_id, key, request_hash, order_id::text, response_status, response_body"
        " FROM idempotency_keys"
    )
    fingerprint = OrderRequest(((shoe, 3),), "tok_visa").fingerprint()
    as_json = json.loads(reply.text)
    assert stored == [(CUSTOMER, KEY, fingerprint, as_json["id"], 202, as_json)]
