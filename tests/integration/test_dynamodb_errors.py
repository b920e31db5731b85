"""DynamoDB failures as clients see them: throttling is 429, an unavailable store 503, both with
Retry-After. Errors are queued with botocore's Stubber on a real client, the SDK's own test tool.
"""

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from services.common.lambda_entry import http_handler
from services.products.app import create_app
from services.products.dynamodb import DynamoDBProductRepository
from tests.integration.conftest import ADMIN_CLAIMS, TABLE, Api

PRODUCT_ID = str(uuid.uuid4())
SHOE = {"name": "Trail shoe", "price": 129.99, "stock": 10, "category": "shoes"}
SDK_MESSAGE = "internal detail from the SDK that must not reach clients"

# (route id, SDK operation, request options)
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("list", "query", {"method": "GET", "path": "/products"}),
    (
        "list-category",
        "query",
        {"method": "GET", "path": "/products", "query": {"category": "shoes"}},
    ),
    ("get", "get_item", {"method": "GET", "path": f"/products/{PRODUCT_ID}"}),
    ("create", "put_item", {"method": "POST", "path": "/products", "body": SHOE}),
    ("replace", "update_item", {"method": "PUT", "path": f"/products/{PRODUCT_ID}", "body": SHOE}),
    (
        "patch",
        "update_item",
        {"method": "PATCH", "path": f"/products/{PRODUCT_ID}", "body": {"stock": 1}},
    ),
    ("delete", "delete_item", {"method": "DELETE", "path": f"/products/{PRODUCT_ID}"}),
]
THROTTLING = [
    ("ProvisionedThroughputExceededException", 400),
    ("ThrottlingException", 400),
    ("RequestLimitExceeded", 400),
    # A write to a product that a stock reservation's transaction holds at that moment.
    ("TransactionConflictException", 400),
]
UNAVAILABLE = [("InternalServerError", 500), ("ServiceUnavailable", 503)]


@pytest.fixture
def client(aws_session: boto3.session.Session) -> Any:
    return aws_session.client("dynamodb")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def api_over(client: Any) -> Api:
    repository = DynamoDBProductRepository(client, TABLE)
    return Api(http_handler(lambda: create_app(repository=repository)))


def send(api: Api, method: str, path: str, **options: Any) -> Any:
    claims = None if method == "GET" else ADMIN_CLAIMS
    return api.call(method, path, claims=claims, **options)


def assert_retry_later(reply: Any, status: int) -> None:
    reply.problem(status)
    assert int(reply.headers["retry-after"]) > 0
    assert SDK_MESSAGE not in reply.text


@pytest.mark.parametrize(("code", "http_status"), THROTTLING)
@pytest.mark.parametrize(
    ("operation", "request_options"),
    [call[1:] for call in CALLS],
    ids=[call[0] for call in CALLS],
)
def test_throttling_is_429_with_retry_after(
    client, stubber, operation, request_options, code, http_status
):
    stubber.add_client_error(operation, code, SDK_MESSAGE, http_status)

    reply = send(api_over(client), **request_options)

    assert_retry_later(reply, 429)


@pytest.mark.parametrize(("code", "http_status"), UNAVAILABLE)
@pytest.mark.parametrize(
    ("operation", "request_options"),
    [call[1:] for call in CALLS],
    ids=[call[0] for call in CALLS],
)
def test_an_unavailable_store_is_503_with_retry_after(
    client, stubber, operation, request_options, code, http_status
):
    stubber.add_client_error(operation, code, SDK_MESSAGE, http_status)

    reply = send(api_over(client), **request_options)

    assert_retry_later(reply, 503)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "request_options", [call[2] for call in CALLS], ids=[call[0] for call in CALLS]
)
def test_an_unreachable_store_is_503_with_retry_after(aws_session, request_options):
    unreachable = aws_session.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        config=Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1}),
    )

    reply = send(api_over(unreachable), **request_options)

    assert_retry_later(reply, 503)


@pytest.mark.parametrize(
    ("method", "operation", "body"),
    [
        ("PUT", "update_item", SHOE),
        ("PATCH", "update_item", {"stock": 1}),
        ("DELETE", "delete_item", None),
    ],
)
def test_a_failed_condition_with_the_old_item_is_412(client, stubber, method, operation, body):
    old = {"pk": {"S": f"PRODUCT#{PRODUCT_ID}"}, "version": {"N": "4"}}
    stubber.add_client_error(
        operation, "ConditionalCheckFailedException", SDK_MESSAGE, 400, modeled_fields={"Item": old}
    )

    reply = send(
        api_over(client), method, f"/products/{PRODUCT_ID}", body=body, headers={"If-Match": '"3"'}
    )

    reply.problem(412)


@pytest.mark.parametrize(
    ("method", "operation", "body"),
    [
        ("PUT", "update_item", SHOE),
        ("PATCH", "update_item", {"stock": 1}),
        ("DELETE", "delete_item", None),
    ],
)
@pytest.mark.parametrize("if_match", [None, '"3"'])
def test_a_failed_condition_without_an_item_is_404(
    client, stubber, method, operation, body, if_match
):
    stubber.add_client_error(operation, "ConditionalCheckFailedException", SDK_MESSAGE, 400)
    headers = {"If-Match": if_match} if if_match else None

    reply = send(api_over(client), method, f"/products/{PRODUCT_ID}", body=body, headers=headers)

    reply.problem(404)


def test_an_unexpected_sdk_error_is_a_500_problem_that_leaks_nothing(client, stubber):
    stubber.add_client_error("get_item", "AccessDeniedException", SDK_MESSAGE, 400)

    reply = send(api_over(client), "GET", f"/products/{PRODUCT_ID}")

    document = reply.problem(500)
    assert SDK_MESSAGE not in reply.text
    assert "AccessDenied" not in document["detail"]
