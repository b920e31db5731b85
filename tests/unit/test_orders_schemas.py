"""What a client may send to the orders routes, parsed as the app parses it (JSON numbers that are
not integers arrive as Decimal): every bad field is named, nothing malformed reaches the rules."""

import json
import uuid
from typing import Any

import pytest

from services.common.http import loads, validate
from services.orders.domain import DEFAULT_PAYMENT_TOKEN, OrderRequest
from services.orders.schemas import HeadersIn, ListQuery, PlaceOrderIn
from tests.unit.test_schemas import bad_fields

SHOE = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
SOCK = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"


def as_sent(value: Any) -> Any:
    """The value as the app sees it after a round trip through JSON text."""
    return loads(json.dumps(value))


def order(*lines: tuple[Any, Any], **fields: Any) -> Any:
    return as_sent({"items": [{"productId": pid, "quantity": qty} for pid, qty in lines], **fields})


def ids(count: int) -> list[str]:
    return [str(uuid.UUID(int=number + 1, version=4)) for number in range(count)]


def test_a_valid_order_becomes_a_request_with_lower_case_ids_and_the_default_token():
    body = validate(PlaceOrderIn, order((SHOE.upper(), 2), (SOCK, 100)))

    assert body.request() == OrderRequest(((SHOE, 2), (SOCK, 100)), DEFAULT_PAYMENT_TOKEN)
    assert DEFAULT_PAYMENT_TOKEN == "tok_visa"


def test_a_payment_token_is_kept():
    body = validate(PlaceOrderIn, order((SHOE, 1), paymentToken="tok_decline"))

    assert body.request().payment_token == "tok_decline"


@pytest.mark.parametrize("count", [1, 50])
def test_one_to_fifty_lines_are_accepted(count):
    body = validate(PlaceOrderIn, order(*[(pid, 1) for pid in ids(count)]))

    assert len(body.request().lines) == count


@pytest.mark.parametrize("quantity", [1, 100])
def test_quantity_edges_are_accepted(quantity):
    body = validate(PlaceOrderIn, order((SHOE, quantity)))

    assert body.request().lines == ((SHOE, quantity),)


def test_a_whole_quantity_written_with_a_fraction_is_that_integer():
    # JSON has one number type: 2.0 is the integer 2 (and JSON Schema's integer says so).
    body = validate(PlaceOrderIn, order((SHOE, 2.0)))

    assert body.request().lines == ((SHOE, 2),)


@pytest.mark.parametrize("token", ["t", "t" * 255, "tok_visa", "tok_1A2b-3C4d.!~"])
def test_payment_token_edges_are_accepted(token):
    assert validate(PlaceOrderIn, order((SHOE, 1), paymentToken=token)).payment_token == token


# (body, the one field named)
BAD_ORDERS: list[tuple[str, Any, str]] = [
    ("no-items", as_sent({}), "items"),
    ("items-null", as_sent({"items": None}), "items"),
    ("items-empty", order(), "items"),
    ("items-object", as_sent({"items": {"productId": SHOE, "quantity": 1}}), "items"),
    ("51-items", order(*[(pid, 1) for pid in ids(51)]), "items"),
    ("duplicate", order((SHOE, 1), (SOCK, 1), (SHOE, 2)), "items"),
    ("duplicate-any-case", order((SHOE, 1), (SHOE.upper(), 1)), "items"),
    ("quantity-0", order((SHOE, 0)), "items.0.quantity"),
    ("quantity-negative", order((SHOE, -1)), "items.0.quantity"),
    ("quantity-101", order((SHOE, 101)), "items.0.quantity"),
    ("quantity-fraction", order((SHOE, 1.5)), "items.0.quantity"),
    ("quantity-string", order((SHOE, "2")), "items.0.quantity"),
    ("quantity-true", order((SHOE, True)), "items.0.quantity"),
    ("quantity-null", order((SHOE, None)), "items.0.quantity"),
    ("quantity-huge", order((SHOE, 10**40)), "items.0.quantity"),
    ("quantity-missing", as_sent({"items": [{"productId": SHOE}]}), "items.0.quantity"),
    ("product-missing", as_sent({"items": [{"quantity": 1}]}), "items.0.productId"),
    ("product-not-uuid", order(("shoe", 1)), "items.0.productId"),
    ("product-short", order((SHOE[:-1], 1)), "items.0.productId"),
    ("product-braces", order(("{" + SHOE + "}", 1)), "items.0.productId"),
    ("product-no-hyphens", order((SHOE.replace("-", ""), 1)), "items.0.productId"),
    ("product-urn", order(("urn:uuid:" + SHOE, 1)), "items.0.productId"),
    ("product-trailing-newline", order((SHOE + "\n", 1)), "items.0.productId"),
    ("product-number", order((7, 1)), "items.0.productId"),
    ("second-line", order((SHOE, 1), (SOCK, 0)), "items.1.quantity"),
    ("unknown-field", order((SHOE, 1), note="gift"), "note"),
    ("unknown-line-field", as_sent({"items": [{"productId": SHOE, "quantity": 1, "x": 1}]}),
     "items.0.x"),
    ("token-empty", order((SHOE, 1), paymentToken=""), "paymentToken"),
    ("token-space", order((SHOE, 1), paymentToken="tok visa"), "paymentToken"),
    ("token-leading-space", order((SHOE, 1), paymentToken=" tok_visa"), "paymentToken"),
    ("token-newline", order((SHOE, 1), paymentToken="tok_visa\n"), "paymentToken"),
    ("token-tab", order((SHOE, 1), paymentToken="tok\tvisa"), "paymentToken"),
    ("token-nbsp", order((SHOE, 1), paymentToken="tok\u00a0visa"), "paymentToken"),
    ("token-256", order((SHOE, 1), paymentToken="t" * 256), "paymentToken"),
    ("token-null", order((SHOE, 1), paymentToken=None), "paymentToken"),
    ("token-number", order((SHOE, 1), paymentToken=42), "paymentToken"),
    ("token-nul", order((SHOE, 1), paymentToken="tok\u0000visa"), "paymentToken"),
    ("token-control", order((SHOE, 1), paymentToken="tok\u0007visa"), "paymentToken"),
    ("token-non-ascii", order((SHOE, 1), paymentToken="tok_ünïcode"), "paymentToken"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [(body, field) for _, body, field in BAD_ORDERS],
    ids=[n for n, *_ in BAD_ORDERS],
)
def test_a_bad_order_names_the_one_bad_field(body, field):
    errors = bad_fields(PlaceOrderIn, body)

    assert set(errors) == {field}, errors


def test_unknown_fields_are_called_unknown():
    errors = bad_fields(PlaceOrderIn, order((SHOE, 1), userId="someone-else", total=0))

    assert errors == {"userId": "unknown field", "total": "unknown field"}


def test_a_snake_case_name_is_unknown_and_the_json_name_missing():
    errors = bad_fields(PlaceOrderIn, as_sent({"items": [{"product_id": SHOE, "quantity": 1}]}))

    assert errors == {"items.0.product_id": "unknown field", "items.0.productId": "Field required"}


def test_every_bad_line_is_named_at_once():
    errors = bad_fields(PlaceOrderIn, order((SHOE, 0), ("nope", 1), (SOCK, "3")))

    assert set(errors) == {"items.0.quantity", "items.1.productId", "items.2.quantity"}


def test_a_duplicate_says_so():
    errors = bad_fields(PlaceOrderIn, order((SHOE, 1), (SHOE, 1)))

    assert "once" in errors["items"]


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["k", "k" * 255, "7d4c1c52-3f5e-4a53-9c1e-8f0a2b6c4d11", "order:42/retry#1", "!~"],
)
def test_an_idempotency_key_of_printable_ascii_is_accepted(key):
    assert validate(HeadersIn, {"Idempotency-Key": key}, where="header").idempotency_key == key


def test_no_idempotency_key_is_none():
    assert validate(HeadersIn, {"Idempotency-Key": None}, where="header").idempotency_key is None


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "with space", "tab\there", "new\nline", "nul\x00", "bell\x07", "del\x7f",
     "clé", "ключ", " leading", "trailing "],
    ids=["empty", "256", "space", "tab", "newline", "nul", "bell", "del", "accent", "cyrillic",
         "leading-space", "trailing-space"],
)  # fmt: skip
def test_a_bad_idempotency_key_is_named(key):
    errors = bad_fields(HeadersIn, {"Idempotency-Key": key}, where="header")

    assert set(errors) == {"Idempotency-Key"}


# --- list query ---------------------------------------------------------------------------------


def test_the_list_query_defaults_to_twenty_and_no_cursor():
    query = validate(ListQuery, {}, where="query")

    assert (query.limit, query.cursor) == (20, None)


@pytest.mark.parametrize(
    ("raw", "expected"), [({"limit": "1"}, 1), ({"limit": "100"}, 100), ({"limit": "020"}, 20)]
)
def test_limit_edges_are_accepted(raw, expected):
    assert validate(ListQuery, raw, where="query").limit == expected


def test_a_cursor_up_to_1024_characters_is_passed_on():
    assert validate(ListQuery, {"cursor": "c" * 1024}, where="query").cursor == "c" * 1024


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": "9" * 5000}, "limit"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "c" * 1025}, "cursor"),
    ],
)
def test_bad_list_queries_name_the_field(raw, field):
    assert set(bad_fields(ListQuery, raw, where="query")) == {field}


def test_other_query_parameters_are_ignored():
    assert validate(ListQuery, {"status": "PENDING"}, where="query").limit == 20
