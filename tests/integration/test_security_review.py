"""The security review, as tests: request bodies are bounded, and logs carry no secret and no
personal data, through the real Lambda handlers.

Bodies: API Gateway's HTTP API accepts payloads up to 10 MB (the local gateway's
MAX_PAYLOAD_BYTES); the apps refuse much less than that, with a 413 problem, on every route that
reads a body.

Logs: every line a function writes reaches CloudWatch Logs, where more people can read it than can
read the data itself. Ids are welcome (user and order ids, request ids); passwords, e-mail
addresses, names, tokens and payment tokens never are, whatever the configured level.
"""

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.gateway import MAX_PAYLOAD_BYTES
from services.common import observability
from services.common.http import MAX_BODY_BYTES
from services.routes import ROUTES, Route, routes_of
from tests.integration.conftest import (
    ADMIN_BEARER,
    ADMIN_CLAIMS,
    CUSTOMER_CLAIMS,
    Api,
    Fulfilment,
    OrdersStack,
    Reply,
    rendered_claims,
)

MIB = 1024 * 1024
SENSIBLE_LIMIT = 1 * MIB  # what an API of small JSON documents ever needs, with room to spare

EMAIL = "Zelda.Quill@example.com"
NAME = "Zelda Quill"
PASSWORD = "Corr3ct-Horse!"
NEW_PASSWORD = "N3w-Battery-Staple"
PAYMENT_TOKEN = "tok_live_4242424242424242"  # a made-up card token, which is charged
MOTO_CODE_HEADER = "x-moto-forgot-password-confirmation-code"


# --- request bodies -------------------------------------------------------------------------


def test_the_apps_limit_is_sensible_and_far_below_api_gateways() -> None:
    assert 0 < MAX_BODY_BYTES <= SENSIBLE_LIMIT < MAX_PAYLOAD_BYTES


def concrete(route: Route) -> str:
    return route.path.replace("{id}", str(uuid.uuid4()))


def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    skeleton = b'{"pad":""}'
    body = b'{"pad":"' + b"p" * (size - len(skeleton)) + b'"}'
    assert len(body) == size
    return body


def send(api: Api, route: Route, path: str, body: bytes | str) -> Reply:
    claims = ADMIN_CLAIMS if route.protected else None
    raw = body if isinstance(body, str) else body.decode()
    return api.call(route.method, path, body=raw, claims=claims)


def reads_a_body(api: Api, route: Route, path: str) -> bool:
    """Whether the route parses a JSON body: a JSON array is refused as not being an object."""
    reply = send(api, route, path, "[]")
    return reply.status == 422 and "body" in reply.field_errors()


@pytest.fixture
def app_of(request: pytest.FixtureRequest) -> Any:
    """The Lambda entry of a function of the route table, over its own fakes."""

    def build(function: str) -> Api:
        if function == "products":
            api: Api = request.getfixturevalue("api")
            return api
        if function == "users":
            users: Api = request.getfixturevalue("users_api")
            return users
        if function == "orders":
            orders: OrdersStack = request.getfixturevalue("orders")
            return orders.api()
        raise AssertionError(f"a new function behind the API: build its app here: {function}")

    return build


@pytest.mark.parametrize("function", sorted({route.function for route in ROUTES}))
def test_every_route_that_reads_a_body_refuses_one_over_the_limit_with_a_413_problem(
    app_of, function
):
    api = app_of(function)
    checked = []
    for route in routes_of(function):
        path = concrete(route)
        if not reads_a_body(api, route, path):
            continue
        checked.append(route.key)

        for size in (MAX_BODY_BYTES + 1, SENSIBLE_LIMIT + 1):
            over = send(api, route, path, padded(size))
            assert "Content Too Large" in over.problem(413)["title"], route.key
        at_the_limit = send(api, route, path, padded(MAX_BODY_BYTES))
        assert at_the_limit.status != 413, route.key  # the limit is the one the code states

    assert checked, f"no route of {function} reads a body"


# --- logs -----------------------------------------------------------------------------------


class Captured(logging.Handler):
    """Every record, formatted as the functions' lines reach CloudWatch, with its logger's name."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(observability.logger.registered_formatter)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, self.format(record)))


@pytest.fixture
def services_logs() -> Iterator[Captured]:
    """What the `services` loggers write, at DEBUG: the lowest level a stack may configure."""
    services = logging.getLogger("services")
    handler, level = Captured(), services.level
    services.addHandler(handler)
    services.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        services.removeHandler(handler)
        services.setLevel(level)


@pytest.fixture
def process_logs(services_logs: Captured) -> Iterator[Captured]:
    """What the whole process writes when Lambda runs it at DEBUG.

    Lambda's Python runtime sets the root logger to the function's application log level
    (awslambdaric's `_setup_logging`), which the stack sets to DEBUG when its logLevel is DEBUG
    (infra/functions.py, LOG_LEVELS). Every library logger that propagates to the root (botocore,
    urllib3) then writes to CloudWatch Logs too. Moto's own loggers run only in these tests.
    """
    root = logging.getLogger()
    level = root.level
    root.addHandler(services_logs)
    root.setLevel(logging.DEBUG)
    try:
        yield services_logs
    finally:
        root.removeHandler(services_logs)
        root.setLevel(level)


def assert_no_leak(logs: Captured, personal: list[str], secrets: list[str]) -> None:
    """No line holds personal data (in any case) or a secret (as it is)."""
    lines = [(name, line) for name, line in logs.lines if not name.startswith("moto")]
    found = [
        (value, name, line[:200])
        for name, line in lines
        for value in personal
        if value.lower() in line.lower()
    ] + [(value, name, line[:200]) for name, line in lines for value in secrets if value in line]
    assert found == [], f"{len(found)} leaks, the first: {found[:3]}"


# -- users -----------------------------------------------------------------------------------


@pytest.fixture
def reset_codes(users_clients: Any) -> list[str]:
    """The codes moto "emails": it answers each in a header of ForgotPassword."""
    codes: list[str] = []

    def observe(http_response: Any, **_: Any) -> None:
        if code := http_response.headers.get(MOTO_CODE_HEADER):
            codes.append(code)

    users_clients.cognito.meta.events.register("after-call.cognito-idp.ForgotPassword", observe)
    return codes


def tokens(reply: Reply) -> dict[str, str]:
    """The tokens of a login or refresh answer, by name."""
    assert reply.status == 200, reply.text
    return {key: value for key, value in reply.json().items() if key.endswith("Token")}


def drive_the_users_api(api: Api, reset_codes: list[str]) -> list[str]:
    """Every users route, failures included, as a customer would; the secrets it handled."""
    account = {"email": EMAIL, "password": PASSWORD, "name": NAME}
    weak = "weakpassword"
    wrong = "Wr0ng-Password!"
    assert api.post("/users/signup", body={**account, "password": weak}).status == 422
    assert api.post("/users/signup", body=account).status == 201
    assert api.post("/users/signup", body=account).status == 409
    assert api.post("/users/confirm", body={"email": EMAIL, "code": "123456"}).status == 200
    assert api.post("/users/login", body={"email": EMAIL, "password": wrong}).status == 401
    first = tokens(api.post("/users/login", body={"email": EMAIL, "password": PASSWORD}))
    access, refresh = first["accessToken"], first["refreshToken"]
    refreshed = tokens(api.post("/users/refresh", body={"refreshToken": refresh}))
    assert api.post("/users/refresh", body={"refreshToken": f"{refresh[:-8]}x"}).status == 401
    me = api.get(
        "/users/me", claims=rendered_claims(access), headers={"authorization": f"Bearer {access}"}
    )
    assert me.status == 200, me.text
    assert api.post("/users/forgot-password", body={"email": EMAIL}).status == 202
    reset = {"email": EMAIL, "code": reset_codes[-1], "newPassword": NEW_PASSWORD}
    wrong_code = {**reset, "code": "moto-confirmation-code:000000"}
    assert api.post("/users/reset-password", body=wrong_code).status == 400
    assert api.post("/users/reset-password", body=reset).status == 200
    last = tokens(api.post("/users/login", body={"email": EMAIL, "password": NEW_PASSWORD}))
    issued = [*first.values(), *refreshed.values(), *last.values()]
    return [PASSWORD, NEW_PASSWORD, weak, wrong, reset_codes[-1], *issued, "eyJ"]


def test_the_users_api_logs_no_password_email_name_or_token(users_api, reset_codes, services_logs):
    logging.getLogger("services.users.api").debug("the capture works")  # the control line

    secrets = drive_the_users_api(users_api, reset_codes)

    assert ("services.users.api", "the capture works") in [
        (name, json.loads(line)["message"]) for name, line in services_logs.lines
    ]
    assert_no_leak(services_logs, [EMAIL, NAME], secrets)


def test_at_debug_level_nothing_the_users_function_logs_holds_a_secret(
    users_api, reset_codes, process_logs
):
    secrets = drive_the_users_api(users_api, reset_codes)

    assert_no_leak(process_logs, [EMAIL, NAME], secrets)


# -- orders ----------------------------------------------------------------------------------


def test_orders_and_their_fulfilment_log_no_bearer_or_payment_token(
    fulfilment: Fulfilment, orders: OrdersStack, services_logs: Captured
):
    api = orders.api()
    shoe = orders.add_product("Trail shoe", "129.99")
    placed = []
    for token in (PAYMENT_TOKEN, "tok_decline", "tok_flaky"):
        body = {"items": [{"productId": shoe, "quantity": 1}], "paymentToken": token}
        reply = api.post("/orders", body=body, claims=CUSTOMER_CLAIMS)
        assert reply.status == 202, reply.text
        placed.append(reply.json()["id"])
    fulfilment.settle()
    cancel = api.post(f"/orders/{placed[0]}/cancel", claims=CUSTOMER_CLAIMS, content_type=None)
    assert cancel.status == 200, cancel.text  # a refund too
    fulfilment.settle()

    messages = [json.loads(line)["message"] for _, line in services_logs.lines]
    assert f"order {placed[0]} placed" in messages  # the capture sees the functions' lines
    assert any("tok_***" in message for message in messages)  # payment lines, masked
    bearer = ADMIN_BEARER.removeprefix("Bearer ")
    assert_no_leak(services_logs, [], [PAYMENT_TOKEN, "tok_decline", "tok_flaky", bearer, "eyJ"])


def test_at_debug_level_nothing_the_orders_function_logs_holds_the_database_password(
    orders: OrdersStack, process_logs: Captured
):
    password = orders.endpoint.password or "Db-Canary-S3cret!"  # trust auth ignores a canary
    orders.secrets.put_secret_value(
        SecretId=orders.settings.database_secret_arn,
        SecretString=json.dumps({"username": orders.endpoint.user, "password": password}),
    )
    api = orders.api()
    process_logs.lines.clear()  # the test's own call to Secrets Manager above

    reply = api.get("/orders", claims=CUSTOMER_CLAIMS)  # the first request connects

    assert reply.status == 200, reply.text
    assert_no_leak(process_logs, [], [password])
