"""Every request the adapter sends obeys DynamoDB's expression rules, including the ones moto
does not enforce: DynamoDB refuses an empty ExpressionAttributeNames or ExpressionAttributeValues
map, and any name or value placeholder that no expression uses.

The requests are observed with the SDK's own event system on the client handed to create_app.
"""

import re
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from services.common.aws import AwsClients
from services.common.lambda_entry import http_handler
from services.common.settings import Settings
from services.products.app import create_app
from tests.integration.conftest import ADMIN_CLAIMS, TABLE, Api

SHOE = {"name": "Trail shoe", "price": 129.99, "stock": 10, "category": "shoes"}
EXPRESSIONS = (
    "UpdateExpression",
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
)
Calls = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def observed(dynamodb: Any, aws_session: boto3.session.Session) -> tuple[Api, Calls]:
    clients = AwsClients(Settings(region="us-east-1", products_table=TABLE), session=aws_session)
    calls: Calls = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    clients.dynamodb.meta.events.register("before-parameter-build.dynamodb.*", record)
    return Api(http_handler(lambda: create_app(clients=clients))), calls


def _create(api: Api, **fields: Any) -> str:
    reply = api.post("/products", body={**SHOE, **fields}, claims=ADMIN_CLAIMS)
    assert reply.status == 201, reply.text
    product_id: str = reply.json()["id"]
    return product_id


# Each scenario sets up through the API, then makes the one request whose SDK calls are checked.
SCENARIOS: dict[str, Callable[[Api, str], Any]] = {
    "create": lambda api, _: api.post("/products", body=SHOE, claims=ADMIN_CLAIMS),
    "create-with-description": lambda api, _: api.post(
        "/products", body={**SHOE, "description": "Grippy."}, claims=ADMIN_CLAIMS
    ),
    "get": lambda api, pid: api.get(f"/products/{pid}"),
    "list": lambda api, _: api.get("/products", query={"limit": "1"}),
    "list-category": lambda api, _: api.get("/products", query={"category": "shoes"}),
    "list-with-cursor": lambda api, _: api.get(
        "/products",
        query={
            "limit": "1",
            "cursor": api.get("/products", query={"limit": "1"}).json()["nextCursor"],
        },
    ),
    "replace": lambda api, pid: api.put(f"/products/{pid}", body=SHOE, claims=ADMIN_CLAIMS),
    "replace-if-match": lambda api, pid: api.put(
        f"/products/{pid}", body=SHOE, headers={"If-Match": '"1"'}, claims=ADMIN_CLAIMS
    ),
    "patch": lambda api, pid: api.patch(f"/products/{pid}", body={"stock": 1}, claims=ADMIN_CLAIMS),
    "patch-remove-description": lambda api, pid: api.patch(
        f"/products/{pid}", body={"description": None}, claims=ADMIN_CLAIMS
    ),
    "patch-if-match": lambda api, pid: api.patch(
        f"/products/{pid}", body={"stock": 1}, headers={"If-Match": '"1"'}, claims=ADMIN_CLAIMS
    ),
    "delete": lambda api, pid: api.delete(f"/products/{pid}", claims=ADMIN_CLAIMS),
    "delete-if-match": lambda api, pid: api.delete(
        f"/products/{pid}", headers={"If-Match": '"1"'}, claims=ADMIN_CLAIMS
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_expression_maps_are_never_empty_and_every_placeholder_is_used(observed, scenario):
    api, calls = observed
    product_id = _create(api, description="Grippy.")
    _create(api)
    calls.clear()

    reply = SCENARIOS[scenario](api, product_id)

    assert reply.status < 300, reply.text
    assert calls, "the request made no DynamoDB call"
    for operation, params in calls:
        text = " ".join(str(params.get(name, "")) for name in EXPRESSIONS)
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", text))
        for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            if field in params:
                assert params[field], f"{operation} sends an empty {field}"
                assert set(params[field]) <= used, f"{operation} sends unused {field}"
        assert used <= set(params.get("ExpressionAttributeNames", {})) | set(
            params.get("ExpressionAttributeValues", {})
        ), f"{operation} uses an undefined placeholder"
