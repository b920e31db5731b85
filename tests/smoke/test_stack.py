"""A deployed stack end to end, the way a client app uses it: catalogue, sign-in, the admin's
catalogue changes, and orders through fulfilment to each of their ends.

Each test leaves the stack as it found it, apart from the orders (kept, as orders are).
"""

import uuid
from typing import Any

import pytest
import requests

from tests.smoke.conftest import SETTLE_SECONDS, WAKE_SECONDS, Account, Api, eventually

# The payment provider's test token that is always declined.
DECLINED = "tok_decline"


def stock_of(api: Api, product_id: str) -> int:
    response = api.get(f"/products/{product_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


def stock_becomes(api: Api, product_id: str, expected: int) -> int:
    stock: int = eventually(lambda: stock_of(api, product_id), lambda s: s == expected, 30)
    return stock


def place(api: Api, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """Place an order; retried with the same Idempotency-Key while the orders API wakes up."""
    headers = {"Idempotency-Key": f"smoke-{uuid.uuid4()}"}
    response = eventually(
        lambda: api.post("/orders", token, json=body, headers=headers),
        lambda r: r.status_code not in (502, 503, 504),
        WAKE_SECONDS,
    )
    assert response.status_code == 202, response.text
    order: dict[str, Any] = response.json()
    assert order["status"] == "PENDING"
    return order


def settled(api: Api, token: str, order_id: str) -> dict[str, Any]:
    """The order once fulfilment has moved it out of PENDING."""
    response: requests.Response = eventually(
        lambda: api.get(f"/orders/{order_id}", token),
        lambda r: r.status_code == 200 and r.json()["status"] != "PENDING",
        SETTLE_SECONDS,
    )
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def test_anyone_reads_the_catalogue(api: Api) -> None:
    listed = api.get("/products?limit=5")
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert isinstance(page["items"], list)
    assert len(page["items"]) <= 5
    missing = api.get(f"/products/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"


def test_a_customer_signs_in_and_reads_their_profile(
    api: Api, customer: dict[str, Any], account: Account
) -> None:
    assert customer["tokenType"] == "Bearer"
    profile = api.get("/users/me", customer["accessToken"])
    assert profile.status_code == 200, profile.text
    assert profile.json()["email"] == account.email
    assert profile.json()["groups"] == []


def test_the_authorizer_refuses_missing_and_id_tokens(api: Api, customer: dict[str, Any]) -> None:
    unsigned = api.get("/users/me")
    assert (unsigned.status_code, unsigned.json()) == (401, {"message": "Unauthorized"})
    # An ID token lacks the access scope the protected routes require.
    id_token = api.get("/users/me", customer["idToken"])
    assert (id_token.status_code, id_token.json()) == (403, {"message": "Forbidden"})


def test_only_an_admin_changes_the_catalogue(
    api: Api, customer: dict[str, Any], admin: str, product: dict[str, Any]
) -> None:
    body = {"name": "Not allowed", "price": 1, "stock": 1, "category": "smoke-tests"}
    refused = api.post("/products", customer["accessToken"], json=body)
    assert refused.status_code == 403, refused.text
    assert api.get("/users/me", admin).json()["groups"] == ["admin"]
    shown = api.get(f"/products/{product['id']}")
    assert shown.status_code == 200
    assert (shown.json()["name"], shown.json()["stock"]) == (product["name"], 20)


@pytest.mark.usefixtures("orders_ready")
def test_an_order_is_confirmed_and_takes_its_stock(
    api: Api, customer: dict[str, Any], product: dict[str, Any]
) -> None:
    token = customer["accessToken"]
    stock = stock_of(api, product["id"])
    order = place(api, token, {"items": [{"productId": product["id"], "quantity": 2}]})
    assert order["total"] == 25.0

    confirmed = settled(api, token, order["id"])

    assert (confirmed["status"], confirmed["statusReason"]) == ("CONFIRMED", None)
    assert stock_becomes(api, product["id"], stock - 2) == stock - 2
    listed = api.get("/orders", token).json()["items"]
    assert order["id"] in [item["id"] for item in listed]


@pytest.mark.usefixtures("orders_ready")
def test_a_declined_payment_cancels_the_order_and_gives_the_stock_back(
    api: Api, customer: dict[str, Any], product: dict[str, Any]
) -> None:
    token = customer["accessToken"]
    stock = stock_of(api, product["id"])
    body = {"items": [{"productId": product["id"], "quantity": 3}], "paymentToken": DECLINED}
    order = place(api, token, body)

    cancelled = settled(api, token, order["id"])

    assert (cancelled["status"], cancelled["statusReason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert stock_becomes(api, product["id"], stock) == stock


@pytest.mark.usefixtures("orders_ready")
def test_a_customer_cancels_a_confirmed_order_and_the_stock_is_back(
    api: Api, customer: dict[str, Any], product: dict[str, Any]
) -> None:
    token = customer["accessToken"]
    stock = stock_of(api, product["id"])
    order = place(api, token, {"items": [{"productId": product["id"], "quantity": 1}]})
    assert settled(api, token, order["id"])["status"] == "CONFIRMED"
    assert stock_becomes(api, product["id"], stock - 1) == stock - 1

    cancel = api.post(f"/orders/{order['id']}/cancel", token)

    assert cancel.status_code == 200, cancel.text
    assert (cancel.json()["status"], cancel.json()["statusReason"]) == (
        "CANCELLED",
        "CANCELLED_BY_CUSTOMER",
    )
    assert stock_becomes(api, product["id"], stock) == stock
