"""The API over HTTP on the running local stack, as a client sees it."""

import uuid
from pathlib import Path

import boto3
import pytest
import requests

from tests.e2e.conftest import RunningStack, start_stack

pytestmark = pytest.mark.e2e

NEW_PRODUCT = {"name": "Desk lamp", "price": 39.99, "stock": 12, "category": "home"}


@pytest.fixture(scope="module")
def admin_token(stack: RunningStack) -> str:
    return stack.login(stack.info["admin"]["email"], stack.info["admin"]["password"])


@pytest.fixture(scope="module")
def customer_token(stack: RunningStack) -> str:
    email, password = f"customer-{uuid.uuid4().hex[:8]}@example.com", "Customer-pass1!"
    cognito = stack.cognito()
    pool = stack.info["userPoolId"]
    cognito.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool, Username=email, Password=password, Permanent=True
    )
    return stack.login(email, password)


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


STACK_FILE_KEYS = (  # the keys the README lists for scripts and tests
    "apiUrl",
    "awsEndpoint",
    "region",
    "userPoolId",
    "userPoolClientId",
    "productsTable",
    "outbox",
    "databaseUrl",
    "ordersQueueUrl",
    "ordersDeadLetterQueueUrl",
    "stateMachineArn",
)


def test_stack_file_names_everything_scripts_need(stack: RunningStack) -> None:
    for key in STACK_FILE_KEYS:
        assert stack.info[key], key
    assert set(stack.info["admin"]) == {"email", "password"}
    stepfunctions = boto3.client(
        "stepfunctions", endpoint_url=stack.info["awsEndpoint"], region_name=stack.info["region"]
    )
    state_machine = stepfunctions.describe_state_machine(
        stateMachineArn=stack.info["stateMachineArn"]
    )
    assert state_machine["status"] == "ACTIVE"


def test_sample_catalogue_is_seeded(stack: RunningStack) -> None:
    response = requests.get(f"{stack.api}/products?limit=100", timeout=10)
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) >= 20
    assert len({item["category"] for item in items}) >= 3


def test_category_listing_returns_only_that_category(stack: RunningStack) -> None:
    response = requests.get(f"{stack.api}/products", params={"category": "books"}, timeout=10)
    assert response.status_code == 200
    categories = {item["category"] for item in response.json()["items"]}
    assert categories == {"books"}


def catalogue_ids(stack: RunningStack, limit: int) -> list[str]:
    """Every product id, page by page."""
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{stack.api}/products", params=params, timeout=10).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return seen


def test_pages_cover_the_catalogue_once(stack: RunningStack) -> None:
    # Other tests of the session add products, so the catalogue may exceed one page of 100.
    small_pages = catalogue_ids(stack, 7)
    assert len(small_pages) == len(set(small_pages))  # nothing twice
    assert sorted(small_pages) == sorted(catalogue_ids(stack, 100))  # nothing missed


def test_admin_manages_a_product_end_to_end(stack: RunningStack, admin_token: str) -> None:
    created = requests.post(
        f"{stack.api}/products", json=NEW_PRODUCT, headers=bearer(admin_token), timeout=10
    )
    assert created.status_code == 201
    product = created.json()
    assert created.headers["Location"] == f"/products/{product['id']}"
    assert created.headers["ETag"] == '"1"'
    assert product["price"] == 39.99
    url = f"{stack.api}{created.headers['Location']}"

    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.json() == product

    patched = requests.patch(
        url, json={"stock": 5}, headers=bearer(admin_token, **{"If-Match": '"1"'}), timeout=10
    )
    assert patched.status_code == 200
    assert (patched.json()["stock"], patched.json()["version"]) == (5, 2)
    assert patched.headers["ETag"] == '"2"'

    replaced_stale = requests.put(
        url,
        json={**NEW_PRODUCT, "price": 10},
        headers=bearer(admin_token, **{"If-Match": '"1"'}),
        timeout=10,
    )
    assert replaced_stale.status_code == 412
    assert replaced_stale.headers["Content-Type"] == "application/problem+json"
    assert requests.get(url, timeout=10).json()["price"] == 39.99

    deleted = requests.delete(url, headers=bearer(admin_token), timeout=10)
    assert deleted.status_code == 204
    assert requests.get(url, timeout=10).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Bearer "}],
    ids=["no token", "garbage token", "empty token"],
)
def test_writes_without_a_valid_token_get_401_from_the_authorizer(
    stack: RunningStack, headers: dict[str, str]
) -> None:
    response = requests.post(f"{stack.api}/products", json=NEW_PRODUCT, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_customer_may_not_change_the_catalogue(stack: RunningStack, customer_token: str) -> None:
    before = requests.get(f"{stack.api}/products?limit=100", timeout=10).json()
    response = requests.post(
        f"{stack.api}/products", json=NEW_PRODUCT, headers=bearer(customer_token), timeout=10
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 403
    assert requests.get(f"{stack.api}/products?limit=100", timeout=10).json() == before


def test_unknown_routes_answer_like_api_gateway(stack: RunningStack) -> None:
    for method, path in (("GET", "/nothing-here"), ("POST", "/products/x/y"), ("PUT", "/products")):
        response = requests.request(method, f"{stack.api}{path}", timeout=10)
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_cors_preflight(stack: RunningStack) -> None:
    response = requests.options(
        f"{stack.api}/products",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] in {"*", "http://localhost:5173"}
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_data_survives_a_restart_and_reset_starts_clean(tmp_path: Path) -> None:
    first = start_stack(tmp_path)
    token = first.login(first.info["admin"]["email"], first.info["admin"]["password"])
    created = requests.post(
        f"{first.api}/products", json=NEW_PRODUCT, headers=bearer(token), timeout=10
    ).json()
    assert first.stop() == 0

    second = start_stack(tmp_path)
    try:
        assert requests.get(f"{second.api}/products/{created['id']}", timeout=10).status_code == 200
        assert second.info["admin"] == first.info["admin"]
    finally:
        assert second.stop() == 0

    third = start_stack(tmp_path, "--reset")
    try:
        assert requests.get(f"{third.api}/products/{created['id']}", timeout=10).status_code == 404
    finally:
        assert third.stop() == 0
