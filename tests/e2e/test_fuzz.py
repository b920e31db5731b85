"""Schemathesis fuzzes every operation of the running local stack against the served document.

Every check runs on every answer (no 500, documented statuses, content types, headers and
schemas, invalid input refused, valid input accepted, auth not ignored, deleted resources
gone), operation by operation and then statefully along the document's links. A customer's
access token calls the user routes and an admin's the admin routes. FUZZ_EXAMPLES sets the
examples per operation: a few here, many in `make fuzz`.
"""

import http.client
import os
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from services.routes import ROUTES, Access
from tests.e2e.conftest import ROOT, RunningStack

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
PASSWORD = "Fuzz-pass1!"

# The deployed API is an API Gateway HTTP API: a method a path does not have matches no route
# and gets API Gateway's 404 {"message":"Not Found"}, never a 405, and the local gateway answers
# the same. This check asks for 405, which no HTTP API without catch-all routes can give.
NOT_APPLICABLE = {"unsupported_method": {"enabled": False}}

POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
# Well-formed input the contract refuses for what it means, which no schema can say: a cursor
# this API never issued (400), a product id naming no product (422), a wrong or expired e-mailed
# code (400), a password outside the pool's policy (422).
SEMANTIC_REFUSALS = {
    "listProducts": ["400"],
    "listOrders": ["400"],
    "placeOrder": ["422"],
    "confirm": ["400"],
    "resetPassword": ["400", "422"],
    "signUp": ["422"],
}


def _access_token(stack: RunningStack, email: str, password: str) -> str:
    login = requests.post(
        f"{stack.api}/users/login", json={"email": email, "password": password}, timeout=10
    )
    login.raise_for_status()
    return str(login.json()["accessToken"])


@pytest.fixture(scope="module")
def stack_log(stack: RunningStack) -> deque[str]:
    """The stack's last output lines, shown when a check fails."""
    return stack.log


@pytest.fixture(scope="module")
def tokens(stack: RunningStack, stack_log: deque[str]) -> dict[Access, str]:
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
    requests.post(
        f"{stack.api}/users/signup",
        json={"email": email, "password": PASSWORD, "name": "Fuzz"},
        timeout=10,
    ).raise_for_status()
    requests.post(
        f"{stack.api}/users/confirm",
        json={"email": email, "code": stack.last_code(email, "verify-email")},
        timeout=10,
    ).raise_for_status()
    admin = stack.info["admin"]
    return {
        Access.USER: _access_token(stack, email, PASSWORD),
        Access.ADMIN: _access_token(stack, admin["email"], admin["password"]),
    }


def _config(stack: RunningStack, tokens: dict[Access, str]) -> SchemathesisConfig:
    operations = [
        {
            "include-operation-id": operation_id,
            "headers": {"Authorization": f"Bearer {tokens[access]}"},
        }
        for operation_id, access in _operation_access(stack).items()
        if access is not Access.PUBLIC
    ]
    operations += [
        {
            "include-operation-id": operation_id,
            "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE + statuses}},
        }
        for operation_id, statuses in SEMANTIC_REFUSALS.items()
    ]
    return SchemathesisConfig.from_dict(
        {
            "base-url": stack.api,
            "checks": NOT_APPLICABLE,
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "operations": operations,
        }
    )


def _operation_access(stack: RunningStack) -> dict[str, Access]:
    doc = _document(stack)
    access = {route.key: route.access for route in ROUTES}
    return {
        operation["operationId"]: access[f"{method.upper()} {path}"]
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def _document(stack: RunningStack) -> dict[str, Any]:
    served = requests.get(f"{stack.api}/openapi.json", timeout=10)
    served.raise_for_status()
    document: dict[str, Any] = served.json()
    return document


@pytest.fixture(scope="module")
def api(stack: RunningStack, tokens: dict[Access, str]) -> Any:
    return schemathesis.openapi.from_dict(_document(stack), config=_config(stack, tokens))


schema = schemathesis.pytest.from_fixture("api")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's lazy schemas read `node._nodeid`, which pytest 9 renamed (`_id`)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any) -> None:
    case.call_and_validate()


def test_operation_chains_follow_the_links(api: Any) -> None:
    machine = api.as_state_machine()
    machine.run(
        settings=settings(
            max_examples=max(EXAMPLES // 3, 5),
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_the_gateway_serves_the_document_and_its_explorer(stack: RunningStack) -> None:
    document = _document(stack)
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": stack.api}]
    page = requests.get(f"{stack.api}/docs", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "/docs/swagger-ui-bundle.js" in page.text
    script = requests.get(f"{stack.api}/docs/swagger-ui-bundle.js", timeout=10)
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.text


def _get_as_written(stack: RunningStack, path: str) -> tuple[int, str]:
    """GET `path` byte for byte: requests (urllib3) resolves "../" before sending, http.client
    does not."""
    api = urlsplit(stack.api)
    connection = http.client.HTTPConnection(api.hostname or "127.0.0.1", api.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


@pytest.mark.parametrize("up", ["../", "%2e%2e%2f"], ids=["dot-dot", "percent-encoded"])
def test_the_explorer_serves_no_file_outside_its_own(stack: RunningStack, up: str) -> None:
    # Enough steps up to reach / from wherever the explorer's files are installed, then down
    # to a file that exists, so a gateway that followed the path would find and serve it.
    target = ROOT / "services" / "routes.py"
    status, body = _get_as_written(stack, "/docs/" + up * 32 + target.as_posix().lstrip("/"))
    assert status == 404
    assert "def routes_of" in target.read_text()
    assert "def routes_of" not in body
