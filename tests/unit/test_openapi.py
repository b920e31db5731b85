"""The OpenAPI document: generated from the code, committed, valid, and naming every route."""

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from openapi_spec_validator import validate
from pydantic import StringConstraints, TypeAdapter, ValidationError

from services import openapi
from services.routes import ROUTES, Access

METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.document()


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_committed_document_is_what_the_code_generates(doc: dict[str, Any]) -> None:
    assert openapi.DOCUMENT.read_text() == openapi.render(doc), "stale: run make openapi"


def test_it_is_a_valid_openapi_3_1_document(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    validate(doc)


def test_every_route_is_documented_once_with_its_security(doc: dict[str, Any]) -> None:
    documented = operations(doc)
    assert set(documented) == {route.key for route in ROUTES}
    for route in ROUTES:
        operation = documented[route.key]
        expected: list[dict[str, list[str]]] | None = (
            [{openapi.BEARER: []}] if route.access is not Access.PUBLIC else None
        )
        assert operation.get("security") == expected, route.key
        assert operation["tags"] == [route.function]
    assert doc["components"]["securitySchemes"][openapi.BEARER]["scheme"] == "bearer"


def test_errors_are_problems_and_the_gateway_answers_in_its_own_shape(
    doc: dict[str, Any],
) -> None:
    assert "ValidationError" not in doc["components"]["schemas"]
    for key, operation in operations(doc).items():
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if status.startswith("2"):
                assert openapi.PROBLEM_JSON not in content, key
                continue
            refs = {
                media: body["schema"]["$ref"].rsplit("/", 1)[1] for media, body in content.items()
            }
            assert refs.get(openapi.PROBLEM_JSON, "Problem") == "Problem", key
            assert refs.get("application/json", "GatewayMessage") == "GatewayMessage", key
        route = next(route for route in ROUTES if route.key == key)
        if route.protected:
            assert operation["responses"]["401"]["content"] == {
                "application/json": {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}
            }
        for status in ("429", "503"):
            assert "Retry-After" in operation["responses"][status]["headers"], key


def test_each_operation_documents_the_statuses_the_contract_names(doc: dict[str, Any]) -> None:
    documented = operations(doc)

    def statuses(key: str) -> set[str]:
        return set(documented[key]["responses"])

    assert {"200", "400", "422"} <= statuses("GET /products")
    assert {"201", "400", "401", "403", "413", "415", "422"} <= statuses("POST /products")
    assert {"200", "404", "412", "422"} <= statuses("PUT /products/{id}")
    assert {"204", "400", "404", "412"} <= statuses("DELETE /products/{id}")
    assert "422" not in statuses("DELETE /products/{id}")
    assert {"201", "409", "422"} <= statuses("POST /users/signup")
    assert {"200", "401", "403"} <= statuses("POST /users/login")
    assert {"202", "409", "422", "401"} <= statuses("POST /orders")
    assert {"200", "404", "409"} <= statuses("POST /orders/{id}/cancel")


def test_headers_and_links_where_they_apply(doc: dict[str, Any]) -> None:
    documented = operations(doc)
    created = documented["POST /products"]["responses"]["201"]
    assert set(created["headers"]) == {"Location", "ETag"}
    assert created["links"]["GetProduct"]["parameters"] == {"id": "$response.body#/id"}
    assert "ETag" in documented["GET /products/{id}"]["responses"]["200"]["headers"]
    accepted = documented["POST /orders"]["responses"]["202"]
    assert set(accepted["headers"]) == {"Location", "Idempotent-Replayed"}
    assert accepted["links"]["GetOrder"]["operationId"] == "getOrder"
    header_names = {p["name"] for p in documented["POST /orders"]["parameters"]}
    assert header_names == {"Idempotency-Key"}
    if_match = [p for p in documented["PATCH /products/{id}"]["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in if_match] == ["If-Match"]
    operation_ids = {operation["operationId"] for operation in documented.values()}
    for operation in documented.values():
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in operation_ids


def test_request_bodies_are_the_models_the_views_validate_with(doc: dict[str, Any]) -> None:
    from services.orders.schemas import PlaceOrderIn
    from services.products.schemas import ProductIn

    schemas = doc["components"]["schemas"]
    body = operations(doc)["POST /products"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/ProductIn"}
    assert schemas["ProductIn"]["additionalProperties"] is False
    assert set(schemas["ProductIn"]["properties"]) == set(ProductIn.model_fields)
    assert set(schemas["PlaceOrderIn"]["properties"]) == {"items", "paymentToken"}
    assert set(PlaceOrderIn.model_fields) == {"items", "payment_token"}
    # Money is a number with at most two decimals, never a string.
    assert schemas["ProductIn"]["properties"]["price"]["type"] == "number"
    assert schemas["ProductIn"]["properties"]["price"]["multipleOf"] == 0.01


def test_the_command_writes_the_document(tmp_path, capsys) -> None:
    target = tmp_path / "openapi.json"
    assert openapi.main(["openapi", "--check"], target) == 1
    assert openapi.main(["openapi"], target) == 0
    assert json.loads(target.read_text())["info"]["title"] == openapi.TITLE
    assert openapi.main(["openapi", "--check"], target) == 0
    assert "up to date" in capsys.readouterr().out


def patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from patterns(value)


# Strings on which regex engines part ways: non-ASCII space and digits, a final newline.
PROBES = [
    "abc",
    "tok_visa",
    "a\u00a0b",
    "a\u3000",
    "\u0663",
    "x\n",
    '"12"',
    "12",
    "2026-11-25T10:00:00Z",
    "\u0662\u0660\u0662\u0666-11-25T10:00:00Z",
    "a@b.co",
    "a@b\u2003.co",
    "/problems/not-found",
]


def readings(pattern: str, probe: str) -> dict[str, bool]:
    """Whether `probe` matches, as pydantic validates it and as schema-driven clients read it."""
    python_end = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    try:
        TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)]).validate_python(probe)
        server = True
    except ValidationError:
        server = False
    return {
        "pydantic": server,
        "ascii": re.search(python_end, probe, re.ASCII) is not None,
        "unicode": re.search(python_end, probe) is not None,
    }


def test_every_pattern_reads_the_same_in_every_engine(doc: dict[str, Any]) -> None:
    """The server (pydantic's Rust regex, Unicode), fuzzers (Python `re`, ASCII) and clients
    (ECMA-262) must agree on what a pattern admits, or a documented-valid value gets a 422:
    `\\S` read over ASCII admits a no-break space that the server refuses."""
    found = set(patterns(doc))
    assert found, "the document states no patterns"
    for pattern in found:
        assert not re.search(r"(?<!\\)(?:\\\\)*\\[sSdDwWbB]", pattern), pattern
        for probe in PROBES:
            assert len(set(readings(pattern, probe).values())) == 1, (pattern, probe)


def test_every_field_a_validator_narrows_states_it_as_a_pattern() -> None:
    """A field whose validator refuses what its type allows (NUL, blank text) must say so in a
    pattern, or the document calls valid what the server refuses with a 422."""
    import inspect

    from pydantic import BaseModel, BeforeValidator

    from services.common.validation import text, unicode
    from services.orders import schemas as orders_schemas
    from services.products import schemas as products_schemas
    from services.users import schemas as users_schemas

    narrowing = {text, unicode}
    checked = []
    for module in (orders_schemas, products_schemas, users_schemas):
        for model in vars(module).values():
            if not (inspect.isclass(model) and issubclass(model, BaseModel)):
                continue
            for name, field in model.model_fields.items():
                validators = {
                    m.func for m in field.metadata if isinstance(m, BeforeValidator)
                } & narrowing
                if validators:
                    checked.append(f"{model.__name__}.{name}")
                    patterns = [getattr(m, "pattern", None) for m in field.metadata]
                    assert any(patterns), f"{model.__name__}.{name} has no pattern"
    assert {"SignUpIn.password", "SignUpIn.name", "ProductIn.name"} <= set(checked)


@pytest.mark.parametrize(("reader", "field"), [("read_json", "json"), ("read_query", "query")])
def test_every_view_validates_with_the_models_it_documents(reader: str, field: str) -> None:
    """The document's request models are the ones the views read: a view that documents one model
    and validates with another (or documents none) would mislead clients and the fuzzer."""
    import inspect

    import services.orders.api
    import services.products.api
    import services.users.api  # noqa: F401  (their views record themselves on import)
    from services.common.openapi import PENDING

    call = re.compile(rf"\b{reader}\((\w+)\)")
    mismatched = {}
    for view, arguments in PENDING.items():
        names = call.findall(inspect.getsource(view))
        read = {view.__globals__[name] for name in names}
        documented = {arguments[field]} - {None}
        if read != documented:
            mismatched[view.__name__] = (read, documented)

    assert len(PENDING) == len(ROUTES)
    assert mismatched == {}
