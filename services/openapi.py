"""The OpenAPI 3.1 document of the whole HTTP API, generated from the Flask views and their models.

The views record what they take and answer with `services.common.openapi.operation`; spectree
turns the records into the document (`skip_validation`: it only documents), and `document()`
adds what spectree cannot say (problem media types, API Gateway's own answers, response headers,
links). No function ships this module: `python -m services.openapi` writes docs/openapi.json, and
the local stack serves the document.
"""

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.common.openapi import (
    ANSWER,
    BEARER,
    EXTRAS,
    PENDING,
    PROBLEM_JSON,
    Extras,
    Problem,
)
from services.routes import Access, Route

__all__ = ["BEARER", "DOCUMENT", "PROBLEM_JSON", "TITLE", "document", "main", "render"]

TITLE = "Serverless e-commerce API"
VERSION = "1.0.0"
LOCAL_URL = "http://127.0.0.1:3000"
DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


class GatewayMessage(BaseModel):
    """API Gateway's own answer, given before any function runs (authorizer, unknown route)."""

    model_config = ANSWER

    message: str


RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The product\'s version as a strong entity tag ("3"), for If-Match',
        "schema": {"type": "string", "pattern": r'^"[0-9]+"$'},
        "required": True,
    },
    "Location": {
        "description": "The path of the resource created or accepted",
        "schema": {"type": "string", "pattern": "^/"},
        "required": True,
    },
    "Idempotent-Replayed": {
        "description": "Present on a repeat of an Idempotency-Key: the first answer, again",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "required": True,
    },
}

TAGS = [
    {"name": "products", "description": "The catalogue: anyone reads it, admins change it"},
    {"name": "users", "description": "Sign-up, sign-in and the caller's profile (Cognito)"},
    {"name": "orders", "description": "Orders, placed by customers and fulfilled asynchronously"},
]


def _schema_name(model: Any) -> str:
    name: str = model.__name__
    return name


def _spectree() -> Any:
    """The spectree instance that writes the document (imported here only: see the docstring)."""
    from spectree import SecurityScheme, SpecTree
    from spectree.models import SecureType, SecuritySchemeData

    return SpecTree(
        "flask",
        title=TITLE,
        version=VERSION,
        description=(
            "Products, users and orders behind one API Gateway HTTP API. Errors are RFC 9457 "
            "problem documents; API Gateway itself answers unknown routes and refused tokens "
            'with {"message": "..."}. Money is a JSON number with at most two decimals.'
        ),
        mode="strict",
        annotations=False,
        naming_strategy=_schema_name,
        nested_naming_strategy=lambda _parent, child: child,
        validation_error_model=Problem,
        security_schemes=[
            SecurityScheme(
                name=BEARER,
                data=SecuritySchemeData(
                    type=SecureType.HTTP,
                    scheme="bearer",
                    bearer_format="JWT",
                    description="The accessToken from POST /users/login (a Cognito access token)",
                ),
            )
        ],
    )


def _gateway_answers(operation: dict[str, Any], route: Route) -> None:
    """API Gateway answers some statuses itself, with {"message"} rather than a problem."""
    gateway = {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}
    responses = operation["responses"]
    own = ["413"] if "requestBody" in operation else []
    if route.protected:
        own += ["401", "403"]
    if "{" in route.path:
        own.append("404")  # an id that is not one path segment matches no route
    for status in own:
        content = responses[status].setdefault("content", {})
        content["application/json"] = gateway
    if route.access is Access.USER:
        # Only the authorizer refuses a user route (a token without the access scope).
        responses["403"]["content"].pop(PROBLEM_JSON)
        responses["401"]["content"].pop(PROBLEM_JSON)
    elif route.access is Access.ADMIN:
        responses["401"]["content"].pop(PROBLEM_JSON)


def _finish(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn spectree's output into the published document."""
    doc: dict[str, Any] = json.loads(json.dumps(raw))
    doc["servers"] = [{"url": LOCAL_URL, "description": "The local stack (make dev)"}]
    doc["tags"] = TAGS
    doc.pop("security", None)
    schemas = doc["components"]["schemas"]
    schemas.pop("ValidationError", None)
    schemas["GatewayMessage"] = GatewayMessage.model_json_schema()
    for schema in schemas.values():
        for property_schema in schema.get("properties", {}).values():
            property_schema.pop("title", None)  # pydantic's, from the Python name
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            extras = EXTRAS[f"{method.upper()} {path}"]
            _finish_operation(operation, extras)
    doc["paths"] = dict(sorted(doc["paths"].items()))
    doc["components"]["schemas"] = dict(sorted(schemas.items()))  # whatever the views' order
    return doc


def _finish_operation(operation: dict[str, Any], extras: Extras) -> None:
    if not operation.get("description"):
        operation.pop("description", None)
    for parameter in operation["parameters"]:
        if parameter["in"] == "path":
            parameter["schema"] = {"type": "string", "format": "uuid"}
            parameter["description"] = "An id; one that is not a UUID names nothing (404)"
        parameter["schema"].pop("title", None)
        if not parameter.get("description"):
            parameter.pop("description", None)
    # spectree adds its validation status (422) to every operation; keep only what can happen.
    responses = operation["responses"]
    operation["responses"] = {
        code: responses[code] for code in responses if code in extras.statuses
    }
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if schema.get("$ref") == "#/components/schemas/Problem":
            content[PROBLEM_JSON] = content.pop("application/json")
        if status in ("429", "503"):
            response["headers"] = {"Retry-After": RESPONSE_HEADERS["Retry-After"]}
    _gateway_answers(operation, extras.route)
    for status in extras.success:
        response = operation["responses"][str(status)]
        if extras.headers:
            response["headers"] = {name: RESPONSE_HEADERS[name] for name in extras.headers}
        if extras.links:
            response["links"] = {
                f"{target[:1].upper()}{target[1:]}": {
                    "operationId": target,
                    "parameters": dict(parameters),
                }
                for target, parameters in extras.links.items()
            }
    operation["responses"] = dict(sorted(operation["responses"].items()))


def document() -> dict[str, Any]:
    """The document, from the three apps' blueprints on one throwaway app (no stores, no ports)."""
    from flask import Flask
    from spectree import Response

    from services.orders.api import bp as orders
    from services.products.api import bp as products
    from services.users.api import bp as users

    spec = _spectree()
    app = Flask("openapi")
    for blueprint in (products, users, orders):
        app.register_blueprint(blueprint)
    # spectree reads what its decorator attached to each view the app serves.
    for endpoint, view in list(app.view_functions.items()):
        if view in PENDING:
            arguments = dict(PENDING[view])
            arguments["resp"] = Response(**arguments.pop("answers"))
            app.view_functions[endpoint] = spec.validate(**arguments)(view)
    with app.app_context():
        raw = spec._generate_spec()  # spectree 3.0 (pinned): no cache, no doc routes on the app
    return _finish(raw)


def render(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str], target: Path = DOCUMENT) -> int:
    """Write docs/openapi.json, or with --check exit 1 when the committed copy is stale."""
    fresh = render(document())
    if argv[1:2] == ["--check"]:
        stale = not target.exists() or target.read_text() != fresh
        print(f"{target} is {'stale: run make openapi' if stale else 'up to date'}")
        return 1 if stale else 0
    target.write_text(fresh)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    # Run as a script this file is `__main__`; the views register with the imported module.
    from services import openapi

    sys.exit(openapi.main(sys.argv))
