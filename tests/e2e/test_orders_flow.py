"""Placing and reading orders over HTTP on the local stack, with the queue and the database real."""

import time
import uuid
from typing import Any

import boto3
import psycopg2
import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def customer(stack: RunningStack) -> dict[str, str]:
    email, password = f"buyer-{uuid.uuid4().hex[:8]}@example.com", "Buyer-pass1!"
    requests.post(
        f"{stack.api}/users/signup",
        json={"email": email, "password": password, "name": "Buyer"},
        timeout=10,
    ).raise_for_status()
    code = stack.last_code(email, "verify-email")
    requests.post(
        f"{stack.api}/users/confirm", json={"email": email, "code": code}, timeout=10
    ).raise_for_status()
    return {"Authorization": f"Bearer {stack.login(email, password)}"}


@pytest.fixture(scope="module")
def products(stack: RunningStack) -> list[dict[str, Any]]:
    """Products of this module's own, with known stock: other tests of the session (fuzzing,
    smoke) order the seeded ones, so their stock is whatever those left."""
    admin = {
        "Authorization": "Bearer "
        + stack.login(stack.info["admin"]["email"], stack.info["admin"]["password"])
    }
    created: list[dict[str, Any]] = []
    for n in range(6):
        body = {"name": f"Flow item {n}", "price": 10.5 + n, "stock": 50, "category": "e2e"}
        response = requests.post(f"{stack.api}/products", json=body, headers=admin, timeout=10)
        response.raise_for_status()
        created.append(response.json())
    return created


def order_rows(stack: RunningStack) -> int:
    connection = psycopg2.connect(stack.info["databaseUrl"])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders")
            row = cursor.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        connection.close()


def stock_of(stack: RunningStack, product_id: str) -> int:
    return int(requests.get(f"{stack.api}/products/{product_id}", timeout=10).json()["stock"])


def settled(stack: RunningStack, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    """Poll the order until fulfilment has moved it out of PENDING (a few seconds at most)."""
    deadline = time.monotonic() + 30
    while True:
        order: dict[str, Any] = requests.get(
            f"{stack.api}/orders/{order_id}", headers=headers, timeout=10
        ).json()
        if order["status"] != "PENDING" or time.monotonic() > deadline:
            return order
        time.sleep(0.2)


def test_an_order_is_accepted_then_confirmed(
    stack: RunningStack, customer: dict[str, str], products: list[dict[str, Any]]
) -> None:
    stock = stock_of(stack, products[3]["id"])
    body = {"items": [{"productId": products[3]["id"], "quantity": 2}]}
    placed = requests.post(f"{stack.api}/orders", json=body, headers=customer, timeout=10)
    assert placed.status_code == 202
    order = placed.json()
    assert order["status"] == "PENDING"
    assert order["total"] == round(products[3]["price"] * 2, 2)
    assert placed.headers["Location"] == f"/orders/{order['id']}"
    listed = requests.get(f"{stack.api}/orders", headers=customer, timeout=10).json()
    assert listed["items"][0]["id"] == order["id"]

    confirmed = settled(stack, customer, order["id"])

    assert (confirmed["status"], confirmed["statusReason"]) == ("CONFIRMED", None)
    assert stock_of(stack, products[3]["id"]) == stock - 2
    sfn = boto3.client(
        "stepfunctions", endpoint_url=stack.info["awsEndpoint"], region_name=stack.info["region"]
    )
    names = [
        execution["name"]
        for execution in sfn.list_executions(stateMachineArn=stack.info["stateMachineArn"])[
            "executions"
        ]
    ]
    assert order["id"] in names


def test_a_declined_order_is_cancelled_and_its_stock_is_back(
    stack: RunningStack, customer: dict[str, str], products: list[dict[str, Any]]
) -> None:
    stock = stock_of(stack, products[4]["id"])
    body = {
        "items": [{"productId": products[4]["id"], "quantity": 3}],
        "paymentToken": "tok_decline",
    }
    placed = requests.post(f"{stack.api}/orders", json=body, headers=customer, timeout=10).json()

    cancelled = settled(stack, customer, placed["id"])

    assert (cancelled["status"], cancelled["statusReason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert stock_of(stack, products[4]["id"]) == stock


def test_a_customer_cancels_a_confirmed_order_and_the_stock_is_back(
    stack: RunningStack, customer: dict[str, str], products: list[dict[str, Any]]
) -> None:
    stock = stock_of(stack, products[5]["id"])
    body = {"items": [{"productId": products[5]["id"], "quantity": 1}]}
    placed = requests.post(f"{stack.api}/orders", json=body, headers=customer, timeout=10).json()
    assert settled(stack, customer, placed["id"])["status"] == "CONFIRMED"

    cancel = requests.post(
        f"{stack.api}/orders/{placed['id']}/cancel", headers=customer, timeout=10
    )

    assert cancel.status_code == 200
    assert cancel.json()["statusReason"] == "CANCELLED_BY_CUSTOMER"
    assert stock_of(stack, products[5]["id"]) == stock
    again = requests.post(f"{stack.api}/orders/{placed['id']}/cancel", headers=customer, timeout=10)
    assert again.status_code == 409


def test_a_repeated_request_creates_one_order(
    stack: RunningStack, customer: dict[str, str], products: list[dict[str, Any]]
) -> None:
    headers = {**customer, "Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    body = {"items": [{"productId": products[1]["id"], "quantity": 1}]}
    before = order_rows(stack)
    first = requests.post(f"{stack.api}/orders", json=body, headers=headers, timeout=10)
    again = requests.post(f"{stack.api}/orders", json=body, headers=headers, timeout=10)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert order_rows(stack) == before + 1
    other = {"items": [{"productId": products[1]["id"], "quantity": 3}]}
    assert (
        requests.post(f"{stack.api}/orders", json=other, headers=headers, timeout=10).status_code
        == 422
    )


def test_bad_orders_are_refused_and_write_nothing(
    stack: RunningStack, customer: dict[str, str], products: list[dict[str, Any]]
) -> None:
    before = order_rows(stack)
    unknown = str(uuid.uuid4())
    cases = [
        ({"items": []}, 422),
        ({"items": [{"productId": unknown, "quantity": 1}]}, 422),
        ({"items": [{"productId": products[0]["id"], "quantity": 0}]}, 422),
        (
            {"items": [{"productId": products[0]["id"], "quantity": 1}] * 2},
            422,
        ),
    ]
    for body, status in cases:
        response = requests.post(f"{stack.api}/orders", json=body, headers=customer, timeout=10)
        assert response.status_code == status, body
        assert response.headers["Content-Type"] == "application/problem+json"
    missing = requests.post(
        f"{stack.api}/orders",
        json={"items": [{"productId": unknown, "quantity": 1}]},
        headers=customer,
        timeout=10,
    ).json()
    assert [error["field"] for error in missing["errors"]] == ["items.0.productId"]
    assert order_rows(stack) == before


def test_orders_need_a_signed_in_customer_and_stay_private(
    stack: RunningStack, customer: dict[str, str], products: list[dict[str, Any]]
) -> None:
    body = {"items": [{"productId": products[2]["id"], "quantity": 1}]}
    assert requests.post(f"{stack.api}/orders", json=body, timeout=10).status_code == 401
    placed = requests.post(f"{stack.api}/orders", json=body, headers=customer, timeout=10).json()
    admin = {
        "Authorization": "Bearer "
        + stack.login(stack.info["admin"]["email"], stack.info["admin"]["password"])
    }
    response = requests.get(f"{stack.api}/orders/{placed['id']}", headers=admin, timeout=10)
    assert response.status_code == 404
