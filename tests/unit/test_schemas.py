"""What a client may send: every bad field is named, and money stays a two-place Decimal."""

from decimal import Decimal
from typing import Any

import pytest

from services.common.errors import ValidationFailed
from services.common.http import loads, validate
from services.products.schemas import ListQuery, ProductIn, ProductPatch

VALID: dict[str, Any] = {
    "name": "Trail shoe",
    "price": Decimal("129.99"),
    "stock": 10,
    "category": "shoes",
    "description": "Grippy.",
}


def bad_fields(model: type[Any], data: Any, where: str = "body") -> dict[str, str]:
    with pytest.raises(ValidationFailed) as failure:
        validate(model, data, where=where)
    return {error.field: error.message for error in failure.value.errors}


# (field, bad value) pairs that ProductIn and ProductPatch must both refuse.
BAD_VALUES = [
    ("name", ""),
    ("name", "   "),
    ("name", "\t\n"),
    ("name", "x" * 201),
    ("name", 5),
    ("name", ["Trail shoe"]),
    ("price", "129.99"),
    ("price", True),
    ("price", False),
    ("price", 129.99),
    ("price", Decimal("-0.01")),
    ("price", -1),
    ("price", Decimal("1000000.01")),
    ("price", 1_000_001),
    ("price", Decimal("1.001")),
    ("price", Decimal("0.005")),
    ("price", Decimal("NaN")),
    ("price", Decimal("Infinity")),
    ("price", {"amount": 1}),
    ("stock", "10"),
    ("stock", Decimal("10.5")),
    ("stock", 10.0),
    ("stock", True),
    ("stock", -1),
    ("stock", 1_000_001),
    ("stock", 10**40),
    ("category", ""),
    ("category", " "),
    ("category", "c" * 101),
    ("category", 7),
    ("description", "d" * 2001),
    ("description", 3),
    ("description", {"text": "x"}),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_product_in_names_the_bad_field(field, value):
    assert set(bad_fields(ProductIn, {**VALID, field: value})) == {field}


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_product_patch_names_the_bad_field(field, value):
    assert set(bad_fields(ProductPatch, {field: value})) == {field}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("price", 0, Decimal("0.00")),
        ("price", 1_000_000, Decimal("1000000.00")),
        ("price", Decimal("1299.99"), Decimal("1299.99")),
        ("price", Decimal("0.1"), Decimal("0.10")),
        ("price", Decimal("12.500"), Decimal("12.50")),
        ("price", Decimal("1E+2"), Decimal("100.00")),
        ("stock", 0, 0),
        ("stock", 1_000_000, 1_000_000),
        ("name", "x" * 200, "x" * 200),
        ("category", "c" * 100, "c" * 100),
        ("description", "d" * 2000, "d" * 2000),
        ("description", "", ""),
        ("description", None, None),
    ],
)
def test_product_in_accepts_the_edges(field, value, expected):
    fields = validate(ProductIn, {**VALID, field: value}).fields()

    assert fields[field] == expected  # type: ignore[literal-required]
    if field == "price":
        assert fields["price"].as_tuple().exponent == -2


def test_product_in_names_every_bad_field_at_once():
    data = {
        "name": "",
        "price": "1",
        "stock": -1,
        "category": "c" * 101,
        "description": "d" * 2001,
        "colour": "red",
    }

    errors = bad_fields(ProductIn, data)

    assert set(errors) == {"name", "price", "stock", "category", "description", "colour"}
    assert errors["colour"] == "unknown field"


def test_product_in_names_every_missing_field():
    assert set(bad_fields(ProductIn, {"description": "only this"})) == {
        "name",
        "price",
        "stock",
        "category",
    }


@pytest.mark.parametrize("field", ["name", "price", "stock", "category"])
def test_product_in_refuses_null_for_required_fields(field):
    assert set(bad_fields(ProductIn, {**VALID, field: None})) == {field}


def test_product_in_without_description_means_none():
    fields = validate(ProductIn, {k: v for k, v in VALID.items() if k != "description"}).fields()

    assert fields["description"] is None


@pytest.mark.parametrize("model", [ProductIn, ProductPatch])
@pytest.mark.parametrize("unknown", ["colour", "id", "version", "createdAt", "Name"])
def test_unknown_fields_are_named(model, unknown):
    errors = bad_fields(model, {**VALID, unknown: "x"})

    assert errors == {unknown: "unknown field"}


@pytest.mark.parametrize("field", ["name", "price", "stock", "category"])
def test_patch_refuses_null_for_anything_but_description(field):
    errors = bad_fields(ProductPatch, {field: None})

    assert set(errors) == {field}
    assert "null" in errors[field]


def test_patch_with_null_description_means_remove_it():
    assert validate(ProductPatch, {"description": None}).changes() == {"description": None}


def test_patch_changes_hold_only_the_fields_sent():
    patch = validate(ProductPatch, {"stock": 3, "price": Decimal("2.5")})

    assert patch.changes() == {"stock": 3, "price": Decimal("2.50")}


@pytest.mark.parametrize("sent", [Decimal("10.0"), Decimal("1E+1")])
def test_a_whole_stock_written_with_a_fraction_is_that_integer(sent):
    # JSON has one number type: 10.0 is the integer 10 (and JSON Schema's integer says so).
    assert validate(ProductIn, {**VALID, "stock": sent}).stock == 10


def test_empty_patch_is_refused_as_a_whole():
    assert set(bad_fields(ProductPatch, {})) == {"body"}


def test_patch_names_every_bad_field_at_once():
    errors = bad_fields(ProductPatch, {"name": None, "stock": "1", "price": Decimal("0.001")})

    assert set(errors) == {"name", "stock", "price"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": "9" * 5000}, "limit"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "c" * 1025}, "cursor"),
        ({"category": ""}, "category"),
        ({"category": "  "}, "category"),
        ({"category": "c" * 101}, "category"),
    ],
)
def test_list_query_names_the_bad_parameter(query, field):
    assert set(bad_fields(ListQuery, query, where="query")) == {field}


def test_list_query_names_every_bad_parameter_at_once():
    errors = bad_fields(ListQuery, {"limit": "0", "category": "", "cursor": ""}, where="query")

    assert set(errors) == {"limit", "category", "cursor"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ListQuery(category=None, limit=20, cursor=None)),
        ({"limit": "1"}, ListQuery(category=None, limit=1, cursor=None)),
        ({"limit": "100"}, ListQuery(category=None, limit=100, cursor=None)),
        ({"category": "shoes", "cursor": "abc"}, ListQuery(category="shoes", cursor="abc")),
        ({"utm_source": "mail"}, ListQuery()),
    ],
)
def test_list_query_defaults_and_edges(query, expected):
    assert validate(ListQuery, query, where="query") == expected


@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "-Infinity", '{"price": NaN}', '{"price": Infinity}']
)
def test_the_json_loader_refuses_nan_and_infinity(text):
    with pytest.raises(ValueError, match="not valid JSON"):
        loads(text)


def test_the_json_loader_reads_fractions_as_exact_decimals():
    data = loads('{"price": 1299.99, "small": 0.1, "big": 1e6, "stock": 10}')

    assert data == {
        "price": Decimal("1299.99"),
        "small": Decimal("0.1"),
        "big": Decimal("1E+6"),
        "stock": 10,
    }
    assert isinstance(data["price"], Decimal)
    assert isinstance(data["stock"], int)


def test_the_json_loader_accepts_bytes():
    assert loads(b'{"price": 0.10}') == {"price": Decimal("0.10")}
