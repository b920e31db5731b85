"""The products API through the real Lambda handler and serverless-wsgi, against moto's DynamoDB."""

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from services.common.aws import AwsClients
from services.common.lambda_entry import http_handler
from services.common.settings import Settings
from services.products.app import create_app
from tests.integration.conftest import (
    ADMIN_CLAIMS,
    CUSTOMER_CLAIMS,
    JSON,
    TABLE,
    Api,
    Reply,
    load_event,
)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PRODUCT_FIELDS = {
    "id",
    "name",
    "price",
    "stock",
    "category",
    "description",
    "createdAt",
    "updatedAt",
    "version",
}
SHOE = {"name": "Trail shoe", "price": 129.99, "stock": 10, "category": "shoes"}
Items = Callable[[], list[dict[str, Any]]]


@pytest.fixture(autouse=True)
def _no_response_is_a_500(api: Api) -> Iterator[None]:
    """API.md: no input ever produces a 500. Every reply in this file is checked."""
    yield
    failures = [(reply.status, reply.text) for reply in api.replies if reply.status >= 500]
    assert failures == []


def create(api: Api, **fields: Any) -> dict[str, Any]:
    reply = api.post("/products", body={**SHOE, **fields}, claims=ADMIN_CLAIMS)
    assert reply.status == 201, reply.text
    product: dict[str, Any] = reply.json()
    return product


def path_of(product: dict[str, Any]) -> str:
    return f"/products/{product['id']}"


def assert_product(reply: Reply, status: int = 200) -> dict[str, Any]:
    """A single-product reply: status, JSON, every field, and an ETag that is the version."""
    assert reply.status == status, reply.text
    assert reply.content_type == JSON
    product: dict[str, Any] = reply.json()
    assert set(product) == PRODUCT_FIELDS
    assert reply.headers["etag"] == f'"{product["version"]}"'
    assert str(uuid.UUID(product["id"])) == product["id"]
    assert TIMESTAMP.match(product["createdAt"])
    assert TIMESTAMP.match(product["updatedAt"])
    return product


# --- the happy path -------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_the_product(api):
    reply = api.post("/products", body={**SHOE, "description": "Grippy."}, claims=ADMIN_CLAIMS)

    product = assert_product(reply, 201)
    assert reply.headers["location"] == f"/products/{product['id']}"
    assert product["version"] == 1
    assert product["createdAt"] == product["updatedAt"]
    assert {k: product[k] for k in ("name", "price", "stock", "category", "description")} == {
        "name": "Trail shoe",
        "price": Decimal("129.99"),
        "stock": 10,
        "category": "shoes",
        "description": "Grippy.",
    }


def test_create_without_description_gives_null(api):
    assert create(api)["description"] is None


def test_get_returns_what_create_returned(api):
    created = create(api, description="Grippy.")

    reply = api.get(path_of(created))

    assert assert_product(reply) == created


def test_get_accepts_an_id_in_another_uuid_spelling(api):
    created = create(api)

    reply = api.get(f"/products/{created['id'].upper()}")

    assert assert_product(reply) == created


def test_put_replaces_every_field_and_bumps_the_version(api):
    created = create(api, description="Grippy.")
    replacement = {"name": "Road shoe", "price": 99.5, "stock": 3, "category": "running"}

    reply = api.put(path_of(created), body=replacement, claims=ADMIN_CLAIMS)

    product = assert_product(reply)
    assert {k: product[k] for k in replacement} == {
        "name": "Road shoe",
        "price": Decimal("99.5"),
        "stock": 3,
        "category": "running",
    }
    assert product["description"] is None
    assert product["version"] == 2
    assert product["id"] == created["id"]
    assert product["createdAt"] == created["createdAt"]
    assert product["updatedAt"] >= created["updatedAt"]
    assert assert_product(api.get(path_of(created))) == product


def test_put_without_description_removes_it_from_the_table(api, dynamodb):
    created = create(api, description="Grippy.")

    api.put(path_of(created), body=SHOE, claims=ADMIN_CLAIMS)

    assert assert_product(api.get(path_of(created)))["description"] is None
    item = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"PRODUCT#{created['id']}"}, "sk": {"S": "PRODUCT"}}
    )["Item"]
    assert "description" not in item


def test_patch_changes_only_the_given_fields(api):
    created = create(api, description="Grippy.")

    reply = api.patch(path_of(created), body={"stock": 0}, claims=ADMIN_CLAIMS)

    product = assert_product(reply)
    assert product == {
        **created,
        "stock": 0,
        "version": 2,
        "updatedAt": product["updatedAt"],
    }


def test_patch_with_description_null_removes_it(api, dynamodb):
    created = create(api, description="Grippy.")

    reply = api.patch(path_of(created), body={"description": None}, claims=ADMIN_CLAIMS)

    assert assert_product(reply)["description"] is None
    assert assert_product(api.get(path_of(created)))["description"] is None
    item = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"PRODUCT#{created['id']}"}, "sk": {"S": "PRODUCT"}}
    )["Item"]
    assert "description" not in item


def test_patch_moves_a_product_between_category_listings(api):
    created = create(api, category="shoes")

    api.patch(path_of(created), body={"category": "sale"}, claims=ADMIN_CLAIMS)

    shoes = api.get("/products", query={"category": "shoes"}).json()["items"]
    sale = api.get("/products", query={"category": "sale"}).json()["items"]
    assert shoes == []
    assert [p["id"] for p in sale] == [created["id"]]


def test_delete_answers_204_then_the_product_is_gone(api):
    created = create(api)

    reply = api.delete(path_of(created), claims=ADMIN_CLAIMS)

    assert reply.status == 204
    assert reply.text == ""
    api.get(path_of(created)).problem(404)
    api.delete(path_of(created), claims=ADMIN_CLAIMS).problem(404)
    assert api.get("/products").json() == {"items": [], "nextCursor": None}


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", SHOE), ("PATCH", {"stock": 1}), ("DELETE", None)],
)
def test_an_absent_product_is_a_404_problem(api, method, body):
    claims = None if method == "GET" else ADMIN_CLAIMS

    reply = api.call(method, f"/products/{uuid.uuid4()}", body=body, claims=claims)

    reply.problem(404)


def test_the_recorded_events_run_unchanged(dynamodb):
    """The JSON files under tests/events, through the entry exactly as Lambda builds it."""
    handler = http_handler(create_app)
    created = Reply.of(handler(load_event("apigw_v2_jwt.json"), None))
    missing = Reply.of(handler(load_event("apigw_v2_public.json"), None))

    assert assert_product(created, 201)["name"] == "Trail shoe"
    missing.problem(404)


def test_a_base64_encoded_body_is_read(api):
    reply = api.post("/products", body=SHOE, base64_body=True, claims=ADMIN_CLAIMS)

    assert assert_product(reply, 201)["name"] == "Trail shoe"


def test_a_json_content_type_with_charset_is_accepted(api):
    reply = api.post(
        "/products", body=SHOE, content_type="application/json; charset=utf-8", claims=ADMIN_CLAIMS
    )

    assert reply.status == 201


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal", ["1299.99", "0.1", "0.01", "1000000", "0", "999999.99", "19.9", "100"]
)
def test_money_round_trips_exactly_as_a_json_number(api, dynamodb, literal):
    body = f'{{"name": "Lamp", "price": {literal}, "stock": 1, "category": "home"}}'

    created = api.post("/products", body=body, claims=ADMIN_CLAIMS)
    fetched = api.get(f"/products/{created.json()['id']}")
    listed = api.get("/products")

    for reply in (created, fetched, listed):
        assert re.search(rf'"price":{re.escape(literal)}[,}}]', reply.text), reply.text
    product = fetched.json()
    assert isinstance(product["price"], int | Decimal)
    assert product["price"] == Decimal(literal)
    stored = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"PRODUCT#{product['id']}"}, "sk": {"S": "PRODUCT"}}
    )["Item"]["price"]
    assert stored.keys() == {"N"}
    assert Decimal(stored["N"]) == Decimal(literal)


def test_a_patched_price_round_trips_exactly(api):
    created = create(api)

    reply = api.patch(path_of(created), body='{"price": 0.3}', claims=ADMIN_CLAIMS)

    assert '"price":0.3,' in reply.text
    assert api.get(path_of(created)).json()["price"] == Decimal("0.3")


# --- lists ----------------------------------------------------------------------------------


def walk(api: Api, limit: int, category: str | None = None) -> list[list[dict[str, Any]]]:
    """Every page, following nextCursor until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {"limit": str(limit)}
        if category is not None:
            query["category"] = category
        if cursor is not None:
            query["cursor"] = cursor
        reply = api.get("/products", query=query)
        assert reply.status == 200, reply.text
        assert reply.content_type == JSON
        page = reply.json()
        assert set(page) == {"items", "nextCursor"}
        pages.append(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor does not advance"


def newest_first(products: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(products, key=lambda p: (p["createdAt"], p["id"]), reverse=True)
    return [p["id"] for p in ordered]


def test_pages_walk_every_product_exactly_once_newest_first(api):
    made = [create(api, name=f"p{n}", category="odd" if n % 2 else "even") for n in range(7)]

    pages = walk(api, limit=3)

    assert [len(page) for page in pages] == [3, 3, 1]
    seen = [p["id"] for page in pages for p in page]
    assert seen == newest_first(made)
    assert all(set(p) == PRODUCT_FIELDS for page in pages for p in page)


def test_a_last_page_that_is_exactly_full_has_no_cursor(api):
    for n in range(4):
        create(api, name=f"p{n}")

    assert [len(page) for page in walk(api, limit=2)] == [2, 2]


def test_category_pages_walk_that_category_exactly_once(api):
    made = [create(api, name=f"p{n}", category="odd" if n % 2 else "even") for n in range(9)]

    pages = walk(api, limit=2, category="even")

    seen = [p["id"] for page in pages for p in page]
    assert seen == newest_first([p for p in made if p["category"] == "even"])
    assert [len(page) for page in pages] == [2, 2, 1]


def test_the_default_limit_is_20(api):
    for n in range(21):
        create(api, name=f"p{n}")

    first = api.get("/products").json()
    second = api.get("/products", query={"cursor": first["nextCursor"]}).json()

    assert len(first["items"]) == 20
    assert len(second["items"]) == 1
    assert second["nextCursor"] is None


def test_an_unknown_category_is_an_empty_page(api):
    create(api, category="shoes")

    reply = api.get("/products", query={"category": "hats"})

    assert reply.status == 200
    assert reply.json() == {"items": [], "nextCursor": None}


def test_a_category_lists_through_the_index_and_never_scans(dynamodb, aws_session, api):
    """Observe the SDK's own events on a client handed to create_app: no patching."""
    clients = AwsClients(Settings(region="us-east-1", products_table=TABLE), session=aws_session)
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    clients.dynamodb.meta.events.register("before-parameter-build.dynamodb.*", record)
    observed = Api(http_handler(lambda: create_app(clients=clients)), replies=api.replies)
    for n in range(3):
        observed.post("/products", body={**SHOE, "name": f"s{n}"}, claims=ADMIN_CLAIMS)
    observed.post("/products", body={**SHOE, "category": "hats"}, claims=ADMIN_CLAIMS)
    calls.clear()

    page = observed.get("/products", query={"category": "shoes", "limit": "2"}).json()
    observed.get("/products", query={"category": "shoes", "cursor": page["nextCursor"]})

    assert [name for name, _ in calls] == ["Query", "Query"]
    for _, params in calls:
        assert params["IndexName"] == "byCategory"
        assert params["ExpressionAttributeValues"] == {":p": {"S": "shoes"}}
        assert "FilterExpression" not in params
    assert [p["category"] for p in page["items"]] == ["shoes", "shoes"]


def test_the_whole_catalogue_lists_through_the_entity_index(dynamodb, aws_session, api):
    clients = AwsClients(Settings(region="us-east-1", products_table=TABLE), session=aws_session)
    calls: list[tuple[str, str | None]] = []
    clients.dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.*",
        lambda params, model, **_: calls.append((model.name, params.get("IndexName"))),
    )
    observed = Api(http_handler(lambda: create_app(clients=clients)), replies=api.replies)

    observed.get("/products")

    assert calls == [("Query", "byEntity")]


# --- If-Match -------------------------------------------------------------------------------

WRITES = [("PUT", {**SHOE, "name": "Changed"}), ("PATCH", {"stock": 99}), ("DELETE", None)]


@pytest.mark.parametrize(("method", "body"), WRITES)
def test_a_stale_if_match_is_412_and_changes_nothing(api, table_items, method, body):
    created = create(api)
    api.patch(path_of(created), body={"stock": 5}, claims=ADMIN_CLAIMS)
    before = table_items()

    reply = api.call(
        method, path_of(created), body=body, headers={"If-Match": '"1"'}, claims=ADMIN_CLAIMS
    )

    reply.problem(412)
    assert table_items() == before


@pytest.mark.parametrize(("method", "body"), WRITES)
# An empty If-Match lists no entity tag (HTTP ignores empty list members): no precondition.
@pytest.mark.parametrize("if_match", ['"2"', "*", ' "2" ', ""])
def test_a_current_or_any_if_match_is_accepted(api, method, body, if_match):
    created = create(api)
    api.patch(path_of(created), body={"stock": 5}, claims=ADMIN_CLAIMS)

    reply = api.call(
        method, path_of(created), body=body, headers={"If-Match": if_match}, claims=ADMIN_CLAIMS
    )

    if method == "DELETE":
        assert reply.status == 204
        api.get(path_of(created)).problem(404)
    else:
        assert assert_product(reply)["version"] == 3


@pytest.mark.parametrize(("method", "body"), WRITES)
@pytest.mark.parametrize("if_match", ["1", 'W/"1"', '"one"', '"1", "2"', '""', '"-1"'])
def test_a_malformed_if_match_is_400_and_changes_nothing(api, table_items, method, body, if_match):
    created = create(api)
    before = table_items()

    reply = api.call(
        method, path_of(created), body=body, headers={"If-Match": if_match}, claims=ADMIN_CLAIMS
    )

    reply.problem(400)
    assert table_items() == before


def test_two_writers_with_the_same_version_cannot_both_win(api):
    created = create(api)

    first = api.patch(
        path_of(created), body={"stock": 1}, headers={"If-Match": '"1"'}, claims=ADMIN_CLAIMS
    )
    second = api.put(path_of(created), body=SHOE, headers={"If-Match": '"1"'}, claims=ADMIN_CLAIMS)

    assert first.status == 200
    second.problem(412)
    assert api.get(path_of(created)).json()["stock"] == 1


def test_if_match_on_an_absent_product_is_404(api):
    reply = api.patch(
        f"/products/{uuid.uuid4()}",
        body={"stock": 1},
        headers={"If-Match": '"1"'},
        claims=ADMIN_CLAIMS,
    )

    reply.problem(404)


# --- who may write --------------------------------------------------------------------------


@pytest.fixture
def existing(api: Api) -> dict[str, Any]:
    return create(api, description="Grippy.")


def writes_on(product: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [
        ("POST", "/products", SHOE),
        ("PUT", path_of(product), SHOE),
        ("PATCH", path_of(product), {"stock": 0}),
        ("DELETE", path_of(product), None),
    ]


@pytest.mark.parametrize("route", range(4), ids=["POST", "PUT", "PATCH", "DELETE"])
def test_a_customer_gets_a_403_problem_on_every_write_and_nothing_changes(
    api, table_items, existing, route
):
    method, path, body = writes_on(existing)[route]
    before = table_items()

    reply = api.call(method, path, body=body, claims=CUSTOMER_CLAIMS)

    reply.problem(403)
    assert table_items() == before


@pytest.mark.parametrize("route", range(4), ids=["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_without_claims_is_a_401_problem_and_nothing_changes(
    api, table_items, existing, route
):
    method, path, body = writes_on(existing)[route]
    before = table_items()

    reply = api.call(method, path, body=body, claims=None)

    reply.problem(401)
    assert table_items() == before


def test_a_customer_may_read(api, existing):
    assert api.get(path_of(existing)).status == 200
    assert api.get("/products").status == 200


# --- bad input ------------------------------------------------------------------------------

VALID_TEXT = json.dumps(SHOE)
BAD_BODIES: list[tuple[str, dict[str, Any], int, set[str] | None]] = [
    ("malformed JSON", {"body": '{"name": "x",'}, 400, None),
    ("trailing garbage", {"body": VALID_TEXT + "}"}, 400, None),
    ("NaN price", {"body": '{"name":"x","price":NaN,"stock":1,"category":"c"}'}, 400, None),
    (
        "Infinity price",
        {"body": '{"name":"x","price":Infinity,"stock":1,"category":"c"}'},
        400,
        None,
    ),
    ("invalid UTF-8", {"body": b'{"name": "\xff\xfe"}'}, 400, None),
    ("deeply nested", {"body": "[" * 30_000 + "]" * 30_000}, 400, None),
    ("empty body", {"body": ""}, 400, None),
    ("whitespace body", {"body": "  \n "}, 400, None),
    ("text/plain", {"body": VALID_TEXT, "content_type": "text/plain"}, 415, None),
    ("form", {"body": "name=x", "content_type": "application/x-www-form-urlencoded"}, 415, None),
    ("no content type", {"body": VALID_TEXT, "content_type": None}, 415, None),
    ("JSON array", {"body": [SHOE]}, 422, {"body"}),
    ("JSON null", {"body": "null"}, 422, {"body"}),
    ("JSON string", {"body": '"a product"'}, 422, {"body"}),
    ("unknown field", {"body": {**SHOE, "colour": "red"}}, 422, {"colour"}),
    ("string price", {"body": {**SHOE, "price": "129.99"}}, 422, {"price"}),
    (
        "three decimals",
        {"body": '{"name":"x","price":1.005,"stock":1,"category":"c"}'},
        422,
        {"price"},
    ),
    ("negative price", {"body": {**SHOE, "price": -1}}, 422, {"price"}),
    ("price too high", {"body": {**SHOE, "price": 1_000_000.01}}, 422, {"price"}),
    ("bool stock", {"body": {**SHOE, "stock": True}}, 422, {"stock"}),
    ("half stock", {"body": '{"name":"x","price":1,"stock":1.5,"category":"c"}'}, 422, {"stock"}),
    ("stock too high", {"body": {**SHOE, "stock": 1_000_001}}, 422, {"stock"}),
    ("blank name", {"body": {**SHOE, "name": "  "}}, 422, {"name"}),
    ("huge name", {"body": {**SHOE, "name": "n" * 10_000}}, 422, {"name"}),
    ("huge description", {"body": {**SHOE, "description": "d" * 2001}}, 422, {"description"}),
    (
        "lone surrogate",
        {"body": '{"name":"\\ud800","price":1,"stock":1,"category":"c"}'},
        422,
        {"name"},
    ),
    ("null category", {"body": {**SHOE, "category": None}}, 422, {"category"}),
    ("missing fields", {"body": {"name": "x"}}, 422, {"price", "stock", "category"}),
    (
        "every field bad at once",
        {
            "body": {
                "name": "",
                "price": "1",
                "stock": -1,
                "category": "c" * 101,
                "description": 5,
                "colour": "red",
            }
        },
        422,
        {"name", "price", "stock", "category", "description", "colour"},
    ),
    ("body over 64 KiB", {"body": {**SHOE, "description": "d" * (64 * 1024)}}, 413, None),
]


@pytest.mark.parametrize(
    ("options", "status", "fields"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_a_bad_create_is_refused_and_changes_nothing(
    api, table_items, existing, options, status, fields
):
    before = table_items()

    reply = api.post("/products", claims=ADMIN_CLAIMS, **options)

    problem = reply.problem(status)
    if fields is not None:
        assert set(reply.field_errors()) == fields
        assert set(problem) == {"type", "title", "status", "detail", "errors"}
    assert table_items() == before


@pytest.mark.parametrize(
    ("options", "status", "fields"),
    [case[1:] for case in BAD_BODIES if case[0] != "missing fields"],
    ids=[case[0] for case in BAD_BODIES if case[0] != "missing fields"],
)
def test_a_bad_replace_is_refused_and_changes_nothing(
    api, table_items, existing, options, status, fields
):
    before = table_items()

    reply = api.put(path_of(existing), claims=ADMIN_CLAIMS, **options)

    reply.problem(status)
    if fields is not None:
        assert set(reply.field_errors()) == fields
    assert table_items() == before


BAD_PATCHES: list[tuple[str, Any, set[str]]] = [
    ("empty object", {}, {"body"}),
    ("null name", {"name": None}, {"name"}),
    ("null price", {"price": None}, {"price"}),
    ("null stock", {"stock": None}, {"stock"}),
    ("null category", {"category": None}, {"category"}),
    ("unknown field", {"colour": "red"}, {"colour"}),
    ("read-only field", {"version": 9}, {"version"}),
    ("two bad fields", {"stock": "1", "name": ""}, {"stock", "name"}),
]


@pytest.mark.parametrize(
    ("body", "fields"), [case[1:] for case in BAD_PATCHES], ids=[case[0] for case in BAD_PATCHES]
)
def test_a_bad_patch_names_the_fields_and_changes_nothing(api, table_items, existing, body, fields):
    before = table_items()

    reply = api.patch(path_of(existing), body=body, claims=ADMIN_CLAIMS)

    assert set(reply.field_errors()) == fields
    assert table_items() == before


INVALID_IDS = ["not-a-uuid", "123", "2d2c7d1e-3a8e-4d1c-9a61-0c6f4f1b6a10x", "%00", "a%2Fb"]


@pytest.mark.parametrize("product_id", INVALID_IDS)
@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", SHOE), ("PATCH", {"stock": 1}), ("DELETE", None)],
)
def test_an_invalid_product_id_is_a_404_problem(api, table_items, method, body, product_id):
    before = table_items()
    claims = None if method == "GET" else ADMIN_CLAIMS

    reply = api.call(method, f"/products/{product_id}", body=body, claims=claims)

    reply.problem(404)
    assert table_items() == before


def cursor_of(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


FOREIGN_CURSORS = [
    "garbage!!",
    "%%%",
    "eyJ",
    base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    cursor_of([1, 2]),
    cursor_of("PRODUCT"),
    cursor_of({"p": "PRODUCT"}),
    cursor_of({"p": "PRODUCT", "k": 1}),
    cursor_of({"p": "PRODUCT", "k": "not-a-key"}),
    cursor_of({"p": "PRODUCT", "k": "2026-01-01T00:00:00.000Z#x", "extra": 1}),
    cursor_of({"p": ["PRODUCT"], "k": "2026-01-01T00:00:00.000Z#x"}),
]


@pytest.mark.parametrize("cursor", FOREIGN_CURSORS)
def test_a_cursor_this_api_did_not_issue_is_400(api, cursor):
    create(api)

    api.get("/products", query={"cursor": cursor}).problem(400)
    api.get("/products", query={"cursor": cursor, "category": "shoes"}).problem(400)


def test_a_cursor_from_another_category_or_listing_is_400(api):
    for category in ("shoes", "shoes", "hats", "hats"):
        create(api, category=category)
    shoes = api.get("/products", query={"category": "shoes", "limit": "1"}).json()["nextCursor"]
    everything = api.get("/products", query={"limit": "1"}).json()["nextCursor"]

    api.get("/products", query={"category": "hats", "cursor": shoes}).problem(400)
    api.get("/products", query={"cursor": shoes}).problem(400)
    api.get("/products", query={"category": "hats", "cursor": everything}).problem(400)


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "", "1.5", "9" * 5000])
def test_a_bad_limit_is_a_422_naming_limit(api, limit):
    reply = api.get("/products", query={"limit": limit})

    assert set(reply.field_errors()) == {"limit"}


@pytest.mark.parametrize("category", ["", "   ", "c" * 101])
def test_a_bad_category_is_a_422_naming_category(api, category):
    reply = api.get("/products", query={"category": category})

    assert set(reply.field_errors()) == {"category"}


@pytest.mark.parametrize("limit", ["1", "100"])
def test_the_limit_edges_are_accepted(api, limit):
    create(api)

    assert api.get("/products", query={"limit": limit}).status == 200
