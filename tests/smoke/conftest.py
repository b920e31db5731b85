"""The stack under test: a deployed one (`make smoke`) or the local one (`.local/stack.json`).

SMOKE_STACK names a JSON file with `apiUrl`, `userPoolId`, `userPoolClientId` and, optionally,
`region` (read from the pool id when absent, as in `pulumi stack output --json`) and
`awsEndpoint` (the local stack's fake AWS). Without SMOKE_STACK every smoke test is skipped.
"""

import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from services.routes import ADMIN_GROUP

HERE = Path(__file__).parent
SMOKE_STACK = "SMOKE_STACK"
# Long enough for a paused Aurora database to resume and for cold functions in a VPC.
WAKE_SECONDS = 90
SETTLE_SECONDS = 120
TIMEOUT = 30  # API Gateway gives up after 30 s


@dataclass(frozen=True)
class Target:
    api: str
    region: str
    user_pool_id: str
    client_id: str
    aws_endpoint: str | None

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any]) -> "Target":
        missing = {"apiUrl", "userPoolId", "userPoolClientId"} - outputs.keys()
        if missing:
            raise ValueError(f"the stack file lacks {', '.join(sorted(missing))}")
        pool_id = str(outputs["userPoolId"])
        return cls(
            api=str(outputs["apiUrl"]).rstrip("/"),
            # A Cognito pool id is "<region>_<id>".
            region=str(outputs.get("region") or pool_id.split("_", 1)[0]),
            user_pool_id=pool_id,
            client_id=str(outputs["userPoolClientId"]),
            aws_endpoint=outputs.get("awsEndpoint"),
        )

    @classmethod
    def from_file(cls, path: Path) -> "Target":
        return cls.from_outputs(json.loads(path.read_text()))


@dataclass(frozen=True)
class Account:
    email: str
    password: str


class Api:
    """The HTTP API of the stack, as a client app calls it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(
            method, f"{self.base}{path}", headers=headers, timeout=TIMEOUT, **kwargs
        )

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, token, **kwargs)

    def delete(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, token, **kwargs)

    def login(self, account: Account) -> dict[str, Any]:
        response = self.post(
            "/users/login", json={"email": account.email, "password": account.password}
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float) -> Any:
    """Read until `done` holds or `seconds` pass; the last value either way."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SMOKE_STACK):
        return
    skip = pytest.mark.skip(
        reason="SMOKE_STACK is not set: `make smoke` runs these against a deployed stack"
    )
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def target() -> Target:
    path = Path(os.environ[SMOKE_STACK])
    if not path.is_file():
        pytest.fail(f"SMOKE_STACK names {path}, which is not a file")
    found = Target.from_file(path)
    if found.aws_endpoint is None and os.environ.get("AWS_ACCESS_KEY_ID") == "testing":
        pytest.fail(
            "AWS credentials are the test suite's fakes (tests/conftest.py): run the smoke tests "
            "of a deployed stack with `make smoke`"
        )
    return found


@pytest.fixture(scope="session")
def cognito(target: Target) -> Any:
    if target.aws_endpoint is None:
        return boto3.client("cognito-idp", region_name=target.region)
    # The local stack's fake AWS takes any credentials; the machine may have none.
    return boto3.client(
        "cognito-idp",
        region_name=target.region,
        endpoint_url=target.aws_endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@pytest.fixture(scope="session")
def api(target: Target) -> Api:
    return Api(target.api)


@pytest.fixture(scope="session")
def account(cognito: Any, target: Target) -> Iterator[Account]:
    """A confirmed customer made for this run with the admin API, deleted afterwards."""
    email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    password = f"Smoke-{secrets.token_hex(8)}-A1!"
    cognito.admin_create_user(
        UserPoolId=target.user_pool_id,
        Username=email,
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "name", "Value": "Smoke Test"},
        ],
        MessageAction="SUPPRESS",
    )
    try:
        cognito.admin_set_user_password(
            UserPoolId=target.user_pool_id, Username=email, Password=password, Permanent=True
        )
        yield Account(email, password)
    finally:
        cognito.admin_delete_user(UserPoolId=target.user_pool_id, Username=email)


@pytest.fixture(scope="session")
def customer(api: Api, account: Account) -> dict[str, Any]:
    """The account's tokens while it is a plain customer."""
    return api.login(account)


@pytest.fixture(scope="session")
def admin(api: Api, cognito: Any, target: Target, account: Account, customer: Any) -> str:
    """An access token of the same account once in the admin group (read from the token)."""
    cognito.admin_add_user_to_group(
        UserPoolId=target.user_pool_id, Username=account.email, GroupName=ADMIN_GROUP
    )
    return str(api.login(account)["accessToken"])


@pytest.fixture(scope="session")
def product(api: Api, admin: str) -> Iterator[dict[str, Any]]:
    """A product of this run's own, so that stock counts are not shared; deleted afterwards."""
    body = {
        "name": f"Smoke test {uuid.uuid4().hex[:8]}",
        "price": 12.5,
        "stock": 20,
        "category": "smoke-tests",
        "description": "Made by the smoke tests; deleted when they end.",
    }
    created = api.post("/products", admin, json=body)
    assert created.status_code == 201, created.text
    item: dict[str, Any] = created.json()
    yield item
    deleted = api.delete(f"/products/{item['id']}", admin)
    assert deleted.status_code == 204, deleted.text


@pytest.fixture(scope="session")
def orders_ready(api: Api, customer: dict[str, Any]) -> None:
    """Wait for the orders API: a paused database answers 503 until it has resumed."""
    listed = eventually(
        lambda: api.get("/orders", customer["accessToken"]),
        lambda response: response.status_code not in (502, 503, 504),
        WAKE_SECONDS,
    )
    assert listed.status_code == 200, listed.text
