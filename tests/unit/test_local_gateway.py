"""The local gateway's edge, as a browser meets it: the payload limit and CORS.

The gateway runs under werkzeug's test client with a recording stand-in for the users function;
the routes tried here are public, so the authorizer is never asked and fetches no keys.
"""

import io
from typing import Any

import pytest
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Response

from local.authorizer import JwtAuthorizer
from local.gateway import MAX_PAYLOAD_BYTES, Gateway
from services.routes import ROUTES

ALLOWED = "https://shop.example.com"
SIGNUP = "/users/signup"


class RecordingFunction:
    """The users function, answering 200 and keeping every event it was handed."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture
def users() -> RecordingFunction:
    return RecordingFunction()


@pytest.fixture
def gateway(users: RecordingFunction) -> Gateway:
    authorizer = JwtAuthorizer("https://issuer.invalid", ["client"], "https://issuer.invalid/jwks")
    return Gateway(ROUTES, authorizer, cors_origins=[ALLOWED], handlers={"users": users})


@pytest.fixture
def client(gateway: Gateway) -> Client:
    return Client(gateway)


def chunked(gateway: Gateway, body: bytes) -> Response:
    """POST `body` as a server hands on a chunked request: no Content-Length, a stream the
    server ends (werkzeug's own server marks it with wsgi.input_terminated)."""
    environ = EnvironBuilder(
        path=SIGNUP,
        method="POST",
        input_stream=io.BytesIO(body),
        headers=[("Origin", ALLOWED), ("Transfer-Encoding", "chunked")],
        content_type="application/json",
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    return Response.from_app(gateway, environ)


def assert_too_large(response: Response, users: RecordingFunction) -> None:
    assert response.status_code == 413
    assert response.get_json() == {"message": "Request Entity Too Large"}
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "retry-after" in response.headers["Access-Control-Expose-Headers"]
    assert users.events == []


def test_a_body_over_the_limit_is_refused_with_cors_headers_a_browser_can_read(
    client: Client, users: RecordingFunction
) -> None:
    response = client.post(
        SIGNUP,
        data=b"x" * (MAX_PAYLOAD_BYTES + 1),
        headers={"Origin": ALLOWED},
        content_type="application/json",
    )
    assert_too_large(response, users)


def test_a_chunked_body_over_the_limit_is_refused_though_it_states_no_length(
    gateway: Gateway, users: RecordingFunction
) -> None:
    assert_too_large(chunked(gateway, b"x" * (MAX_PAYLOAD_BYTES + 1)), users)


def test_a_chunked_body_at_the_limit_reaches_the_function_whole(
    gateway: Gateway, users: RecordingFunction
) -> None:
    body = b"x" * MAX_PAYLOAD_BYTES
    assert chunked(gateway, body).status_code == 200
    assert [event["body"].encode() for event in users.events] == [body]


@pytest.mark.parametrize("method", ["OPTIONS", "POST"], ids=["preflight", "request"])
def test_an_origin_that_is_not_configured_gets_no_allow_origin(
    client: Client, users: RecordingFunction, method: str
) -> None:
    headers = {"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
    response = client.open(SIGNUP, method=method, headers=headers, json={})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_a_configured_origin_is_allowed_by_name(client: Client) -> None:
    headers = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
    response = client.options(SIGNUP, headers=headers)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"].split(",")
