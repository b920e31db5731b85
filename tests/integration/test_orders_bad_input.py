"""Bad input to POST /orders through the Lambda handler: a 4xx problem naming what is wrong, no row
in any orders table and no message on the queue. No input is ever a 500."""

import json
from typing import Any

import pytest

from tests.integration.conftest import CUSTOMER_CLAIMS, Api, OrdersStack, Reply

UNKNOWN = "00000000-0000-4000-8000-000000000000"
ALSO_UNKNOWN = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


@pytest.fixture
def products(orders: OrdersStack) -> list[str]:
    return [orders.add_product(f"Piece {n}", "5.00") for n in range(3)]


def items(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"productId": pid, "quantity": quantity} for pid, quantity in pairs]


def assert_nothing_happened(orders: OrdersStack) -> None:
    assert orders.sql.counts() == {
        "orders": 0,
        "order_items": 0,
        "idempotency_keys": 0,
        "outbox": 0,
    }
    assert orders.received() == []


# Each case builds a body from the three known products: (id, body, the fields a 422 names).
BAD_BODIES: list[tuple[str, Any, set[str]]] = [
    ("no-items", lambda p: {}, {"items"}),
    ("empty-items", lambda p: {"items": []}, {"items"}),
    ("51-items", lambda p: {"items": items(*[(p[0], 1)] * 51)}, {"items"}),
    ("duplicate", lambda p: {"items": items((p[0], 1), (p[1], 1), (p[0], 2))}, {"items"}),
    ("duplicate-case", lambda p: {"items": items((p[0], 1), (p[0].upper(), 1))}, {"items"}),
    ("quantity-0", lambda p: {"items": items((p[0], 0))}, {"items.0.quantity"}),
    ("quantity-negative", lambda p: {"items": items((p[0], -1))}, {"items.0.quantity"}),
    ("quantity-101", lambda p: {"items": items((p[0], 101))}, {"items.0.quantity"}),
    ("quantity-fraction", lambda p: {"items": items((p[0], 1.5))}, {"items.0.quantity"}),
    ("quantity-string", lambda p: {"items": items((p[0], "2"))}, {"items.0.quantity"}),
    ("quantity-bool", lambda p: {"items": items((p[0], True))}, {"items.0.quantity"}),
    ("quantity-huge", lambda p: {"items": items((p[0], 10**30))}, {"items.0.quantity"}),
    ("product-not-uuid", lambda p: {"items": items(("shoe", 1))}, {"items.0.productId"}),
    ("unknown-field", lambda p: {"items": items((p[0], 1)), "total": 0}, {"total"}),
    ("unknown-line-field", lambda p: {"items": [{"productId": p[0], "quantity": 1, "price": 0}]},
     {"items.0.price"}),
    ("token-space", lambda p: {"items": items((p[0], 1)), "paymentToken": "tok visa"},
     {"paymentToken"}),
    ("token-256", lambda p: {"items": items((p[0], 1)), "paymentToken": "t" * 256},
     {"paymentToken"}),
    ("token-empty", lambda p: {"items": items((p[0], 1)), "paymentToken": ""}, {"paymentToken"}),
    ("body-array", lambda p: items((p[0], 1)), {"body"}),
    ("body-string", lambda p: '"order"', {"body"}),
    ("unknown-product", lambda p: {"items": items((UNKNOWN, 1))}, {"items.0.productId"}),
    ("unknown-products", lambda p: {"items": items((p[0], 1), (UNKNOWN, 1), (p[1], 1),
                                                   (ALSO_UNKNOWN, 2))},
     {"items.1.productId", "items.3.productId"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "fields"),
    [(build, fields) for _, build, fields in BAD_BODIES],
    ids=[name for name, *_ in BAD_BODIES],
)
def test_a_bad_body_is_422_naming_the_fields_and_nothing_is_written_or_sent(
    orders, api, products, build, fields
):
    reply = api.post(
        "/orders",
        body=build(products),
        claims=CUSTOMER_CLAIMS,
        headers={"Idempotency-Key": "k-1"},
    )

    assert set(reply.field_errors()) == fields
    assert_nothing_happened(orders)


def test_an_unknown_product_is_named_with_its_id(orders, api, products):
    reply = api.post(
        "/orders", body={"items": items((products[0], 1), (UNKNOWN, 1))}, claims=CUSTOMER_CLAIMS
    )

    assert UNKNOWN in reply.field_errors()["items.1.productId"]
    assert_nothing_happened(orders)


def test_a_payment_token_with_a_nul_character_is_refused(orders, api, products):
    """JSON allows "\\u0000"; PostgreSQL text cannot hold it, so it must be refused as input."""
    body = {"items": items((products[0], 1)), "paymentToken": "tok\u0000visa"}

    reply = api.post("/orders", body=body, claims=CUSTOMER_CLAIMS)

    assert set(reply.field_errors()) == {"paymentToken"}
    assert_nothing_happened(orders)


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "with space", "bell\x07", "tab\tkey", "ключ"],
    ids=["empty", "256", "space", "control", "tab", "non-ascii"],
)
def test_a_bad_idempotency_key_is_422_and_nothing_is_written(orders, api, products, key):
    reply = api.post(
        "/orders",
        body={"items": items((products[0], 1))},
        claims=CUSTOMER_CLAIMS,
        headers={"Idempotency-Key": key},
    )

    assert set(reply.field_errors()) == {"Idempotency-Key"}
    assert_nothing_happened(orders)


def send_raw(api: Api, raw: Any, content_type: str | None = "application/json") -> Reply:
    return api.post("/orders", body=raw, content_type=content_type, claims=CUSTOMER_CLAIMS)


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        ('{"items": [', "application/json", 400),
        ("{'items': []}", "application/json", 400),
        ('{"items": [{"productId": "x", "quantity": NaN}]}', "application/json", 400),
        ("", "application/json", 400),
        ("   ", "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        ('{"items": []}', "text/plain", 415),
        ('{"items": []}', "application/x-www-form-urlencoded", 415),
        ('{"items": []}', None, 415),
        ("x" * (64 * 1024 + 1), "application/json", 413),
    ],
    ids=[
        "truncated",
        "single-quotes",
        "nan",
        "empty",
        "blank",
        "not-utf8",
        "text",
        "form",
        "no-content-type",
        "too-large",
    ],
)
def test_a_body_that_is_not_a_json_order_is_a_problem_and_nothing_is_written(
    orders, api, raw, content_type, status
):
    send_raw(api, raw, content_type).problem(status)

    assert_nothing_happened(orders)


def test_a_valid_body_in_a_base64_event_is_accepted(orders, api, products):
    """API Gateway base64-encodes some bodies; the same order must still be read."""
    raw = json.dumps({"items": items((products[0], 2))}).encode()

    reply = api.post("/orders", body=raw, claims=CUSTOMER_CLAIMS)

    assert reply.status == 202, reply.text
    assert orders.sql.counts()["orders"] == 1


def test_deep_nesting_is_a_problem_not_a_crash(orders, api):
    send_raw(api, "[" * 100_000 + "]" * 100_000).problem(413)
    send_raw(api, '{"items": ' + "[" * 5_000 + "]" * 5_000 + "}").problem(400)

    assert_nothing_happened(orders)
