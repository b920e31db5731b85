"""Whole-app fixtures: moto's DynamoDB, Cognito, SQS and Secrets Manager, a real PostgreSQL, the
real Lambda handlers, and real-shaped API Gateway events.

Events start from the JSON files in tests/events and are changed only where a real HTTP API would
differ from request to request: route key, raw path and query, headers, body and claims.
"""

import base64
import copy
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import boto3
import jwt
import pytest
from botocore.config import Config
from moto import mock_aws

from local import lambdas
from local.authorizer import event_claims
from local.database import Endpoint, LocalDatabase
from local.event_source import QueueEventSource
from local.gateway import RouteTable
from local.resources import (
    Queue,
    UserPool,
    ensure_products_table,
    ensure_queue,
    ensure_secret,
    ensure_state_machine,
    ensure_user_pool,
)
from local.runtime import LambdaContext, LambdaRuntime
from services.common import settings as names
from services.common.aws import AwsClients
from services.common.dynamodb import from_item, to_item
from services.common.lambda_entry import LambdaHandler, http_handler
from services.common.settings import USER_POOL_CLIENT_ID, Settings
from services.orders import workflow
from services.orders.app import create_app as create_orders_app
from services.orders.database import Database
from services.orders.fulfilment import Steps
from services.orders.inventory_dynamodb import RESERVED
from services.orders.payments import ChargeStatus
from services.orders.queue import ORDERS_QUEUE
from services.orders.wiring import OrdersPorts, database_from, ports_from, steps_from
from services.orders.workflow import STEP_FUNCTIONS, StepArns, definition
from services.products import table
from services.products.app import create_app
from services.products.domain import Product
from services.products.dynamodb import DynamoDBProductRepository
from services.products.table import product_key
from services.routes import ROUTES, Route
from services.users.app import create_app as create_users_app

TABLE = "products-test"
USER_POOL = "users-test"
EVENTS = Path(__file__).parent.parent / "events"
JSON = "application/json"
PROBLEM = "application/problem+json"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


_JWT_EVENT = load_event("apigw_v2_jwt.json")
_PUBLIC_EVENT = load_event("apigw_v2_public.json")

ADMIN_CLAIMS: dict[str, str] = dict(_JWT_EVENT["requestContext"]["authorizer"]["jwt"]["claims"])
CUSTOMER_CLAIMS: dict[str, str] = {
    **{name: value for name, value in ADMIN_CLAIMS.items() if name != "cognito:groups"},
    "sub": "9f8e7d6c-5b4a-4c3d-9e2f-1a0b9c8d7e6f",
    "username": "9f8e7d6c-5b4a-4c3d-9e2f-1a0b9c8d7e6f",
}
ADMIN_BEARER = _JWT_EVENT["headers"]["authorization"]

Body = Mapping[str, Any] | Sequence[Any] | str | bytes | None


_ROUTE_TABLE = RouteTable(ROUTES)


def _route_for(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route API Gateway would match, as the local gateway matches it."""
    found = _ROUTE_TABLE.match(method, path)
    if found is None:
        raise AssertionError(f"no route serves {method} {path}; API Gateway would not call the app")
    route, parameters = found
    return route, {name: unquote(value) for name, value in parameters.items()}


def build_event(
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    body: Body = None,
    content_type: str | None = JSON,
    headers: Mapping[str, str] | None = None,
    claims: Mapping[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A payload 2.0 event for one request; `claims=None` is a public route (no authorizer)."""
    route, path_parameters = _route_for(method, path)
    event = copy.deepcopy(_JWT_EVENT if claims is not None else _PUBLIC_EVENT)
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query or [])

    event["routeKey"] = event["requestContext"]["routeKey"] = route.key
    event["rawPath"] = path
    event["rawQueryString"] = urlencode(pairs, quote_via=quote)
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = unquote(path)
    event.pop("queryStringParameters", None)
    if pairs:
        joined: dict[str, str] = {}
        for name, value in pairs:
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        event["queryStringParameters"] = joined
    event.pop("pathParameters", None)
    if path_parameters:
        event["pathParameters"] = path_parameters

    request_headers = {
        name: value
        for name, value in event["headers"].items()
        if name not in {"authorization", "content-type", "content-length"}
    }
    if claims is not None:
        request_headers["authorization"] = ADMIN_BEARER
        event["requestContext"]["authorizer"]["jwt"]["claims"] = dict(claims)
        event["requestContext"]["authorizer"]["jwt"]["scopes"] = str(
            claims.get("scope", "")
        ).split()

    event.pop("body", None)
    event["isBase64Encoded"] = False
    if body is not None:
        raw = body if isinstance(body, bytes) else _text(body).encode()
        if base64_body or isinstance(body, bytes):
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        else:
            event["body"] = raw.decode()
        request_headers["content-length"] = str(len(raw))
        if content_type is not None:
            request_headers["content-type"] = content_type
    for name, value in (headers or {}).items():
        request_headers[name.lower()] = value
    event["headers"] = request_headers
    return event


def _text(body: Mapping[str, Any] | Sequence[Any] | str) -> str:
    """JSON text as a client sends it; write numbers as int or float (json prints 0.1 as 0.1)."""
    return body if isinstance(body, str) else json.dumps(body)


@dataclass
class Reply:
    """A Lambda proxy response, read as a client would read it."""

    status: int
    headers: dict[str, str]
    text: str

    @classmethod
    def of(cls, result: Mapping[str, Any]) -> "Reply":
        body = result.get("body") or ""
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        headers = {
            name.lower(): str(value) for name, value in (result.get("headers") or {}).items()
        }
        return cls(int(result["statusCode"]), headers, body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.text, parse_float=Decimal)

    def problem(self, status: int) -> dict[str, Any]:
        """The problem document, after checking it is one with this status."""
        assert self.status == status, f"expected {status}, got {self.status}: {self.text}"
        assert self.content_type == PROBLEM, self.content_type
        document: dict[str, Any] = self.json()
        assert document["status"] == status
        assert {"type", "title", "detail"} <= set(document)
        return document

    def field_errors(self) -> dict[str, str]:
        """The fields a 422 names, with their messages."""
        document = self.problem(422)
        return {error["field"]: error["message"] for error in document["errors"]}


@dataclass
class Api:
    """Calls the real Lambda handler with real-shaped events; remembers every reply."""

    handler: LambdaHandler
    replies: list[Reply] = field(default_factory=list)
    function: str = "api"  # the context's function name

    def call(self, method: str, path: str, **options: Any) -> Reply:
        event = build_event(method, path, **options)
        reply = Reply.of(self.handler(event, LambdaContext(self.function)))
        self.replies.append(reply)
        return reply

    def get(self, path: str, **options: Any) -> Reply:
        return self.call("GET", path, **options)

    def post(self, path: str, **options: Any) -> Reply:
        return self.call("POST", path, **options)

    def put(self, path: str, **options: Any) -> Reply:
        return self.call("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Reply:
        return self.call("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Reply:
        return self.call("DELETE", path, **options)


_MOTO_LOCK = threading.Lock()


def _take_turn(**_: Any) -> None:
    _MOTO_LOCK.acquire()


def _end_turn(**_: Any) -> None:
    _MOTO_LOCK.release()


def one_request_at_a_time(client: Any) -> Any:
    """Make moto answer this client's requests whole, as DynamoDB applies each atomically.

    Moto in-process checks a condition and applies a write step by step without a lock, and
    copies its tables while other threads change them. Each call of this client holds one lock
    from before the call to its answer; our own read-then-write still races with other callers,
    as it would on AWS: only moto's single request is made atomic.
    """
    client.meta.events.register("before-call.dynamodb", _take_turn)
    client.meta.events.register("after-call.dynamodb", _end_turn)
    client.meta.events.register("after-call-error.dynamodb", _end_turn)
    return client


@pytest.fixture(scope="session")
def aws_session() -> boto3.session.Session:
    """One SDK session for every test: it loads the service models once, not once per client."""
    return boto3.session.Session(region_name="us-east-1")


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch, aws_session: boto3.session.Session) -> Iterator[Any]:
    """Moto's DynamoDB with the products table as the local stack and Pulumi define it."""
    monkeypatch.setenv("PRODUCTS_TABLE", TABLE)
    with mock_aws():
        client = aws_session.client("dynamodb")
        ensure_products_table(client, TABLE)
        yield client


@pytest.fixture
def handler(dynamodb: Any, aws_session: boto3.session.Session) -> LambdaHandler:
    """The Lambda entry, built fresh so that the app and its clients are made inside the mock.

    Settings come from the environment as on Lambda; the client factory is handed the shared
    SDK session (test_the_recorded_events_run_unchanged covers the factory's own default).
    """
    return http_handler(
        lambda: create_app(clients=AwsClients(Settings.from_env(), session=aws_session))
    )


@pytest.fixture
def api(handler: LambdaHandler) -> Api:
    return Api(handler)


@pytest.fixture
def table_items(dynamodb: Any) -> Callable[[], list[dict[str, Any]]]:
    """Every item in the table, in a stable order, to compare before and after a request."""

    def scan() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
        while True:
            page = dynamodb.scan(**request)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    return scan


def rendered_claims(access_token: str) -> dict[str, str]:
    """A real token's claims as API Gateway's JWT authorizer hands them to the function."""
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return event_claims(claims)


def unreachable_client(session: boto3.session.Session, service: str) -> Any:
    """A client for a closed localhost port that gives up at once: the SDK's connection error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return session.client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1}),
    )


@dataclass(frozen=True)
class Cognito:
    """Moto's user pool as the local stack defines it, with a client of the tests' own.

    Tests set up and inspect the pool with `client`; the app gets another client, so that what
    the app asks Cognito can be observed on its own.
    """

    pool: UserPool
    client: Any

    def users(self) -> list[tuple[str, str]]:
        """Every user's email and status, in a stable order, to compare before and after."""
        found = []
        for user in self.client.list_users(UserPoolId=self.pool.pool_id)["Users"]:
            attributes = {item["Name"]: item["Value"] for item in user["Attributes"]}
            found.append((attributes.get("email", ""), user["UserStatus"]))
        return sorted(found)


@contextmanager
def moto_cognito(session: boto3.session.Session) -> Iterator[Cognito]:
    """Moto's Cognito with the user pool and app client the local stack and Pulumi define."""
    with mock_aws():
        client = session.client("cognito-idp")
        yield Cognito(ensure_user_pool(client, USER_POOL), client)


@pytest.fixture
def cognito(
    monkeypatch: pytest.MonkeyPatch, aws_session: boto3.session.Session
) -> Iterator[Cognito]:
    """A fresh pool per test; its app client id is in the environment, as on Lambda."""
    with moto_cognito(aws_session) as found:
        monkeypatch.setenv(USER_POOL_CLIENT_ID, found.pool.client_id)
        yield found


@pytest.fixture(scope="module")
def module_cognito(aws_session: boto3.session.Session) -> Iterator[Cognito]:
    """One pool for a whole module whose tests change nothing in it.

    moto spends about 0.1 s loading each pool's signing key, so a table of requests that must
    never reach Cognito shares one. Every start of moto resets its state: a module using this
    fixture must not use `cognito`, `dynamodb` or `mock_aws` as well.
    """
    with moto_cognito(aws_session) as found:
        yield found


def users_clients_for(
    cognito: Cognito, session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> AwsClients:
    """The client factory handed to the users app. As on Lambda, the app and the factory read
    the pool's app client id from the environment."""
    monkeypatch.setenv(USER_POOL_CLIENT_ID, cognito.pool.client_id)
    return AwsClients(Settings.from_env(), session=session)


def record_cognito_calls(clients: AwsClients) -> list[str]:
    """The name of every operation asked of the factory's Cognito client, from SDK events."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    clients.cognito.meta.events.register("before-call.cognito-idp.*", record)
    return calls


def users_api_over(clients: AwsClients) -> Api:
    """The users Lambda entry, building its app with these clients."""
    return Api(http_handler(lambda: create_users_app(clients=clients)))


@pytest.fixture
def users_clients(
    cognito: Cognito, aws_session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> AwsClients:
    return users_clients_for(cognito, aws_session, monkeypatch)


@pytest.fixture
def cognito_calls(users_clients: AwsClients) -> list[str]:
    return record_cognito_calls(users_clients)


@pytest.fixture
def users_api(users_clients: AwsClients) -> Api:
    """The users Lambda entry over moto's Cognito."""
    return users_api_over(users_clients)


# --- orders: a real PostgreSQL, with moto's DynamoDB, SQS and Secrets Manager --------------------

ORDER_TABLES = ("orders", "order_items", "idempotency_keys", "outbox")
DATABASE_SECRET = "orders-test/database"


def start_database(database: LocalDatabase) -> Endpoint:
    """Start (or reach) the server and migrate it; the embedded server's import warns about an
    unset XDG_RUNTIME_DIR, which says nothing about the code under test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return database.start()


@contextmanager
def data_directory(name: str) -> Iterator[Path]:
    """A short, private directory for an embedded server's data and Unix socket (socket paths
    are limited to about 100 bytes). Not under pytest's basetemp: every pytest run starting on
    the machine takes group and other access off `pytest-of-<user>`, which locks out the
    server's own system user mid-run when runs overlap."""
    parent = Path(tempfile.mkdtemp(prefix="pg-"))
    try:
        yield parent / name
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Endpoint]:
    """The orders database for the whole session: `DATABASE_URL`'s server when it is set, else an
    embedded PostgreSQL; migrated either way."""
    with data_directory("data") as directory:
        database = LocalDatabase(directory, url=os.environ.get("DATABASE_URL") or None)
        endpoint = start_database(database)
        try:
            yield endpoint
        finally:
            database.stop()


class Sql:
    """The tests' own autocommit connection, to look inside the orders database."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.connection = endpoint.connect()
        self.connection.autocommit = True

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(query, params)
            return list(cursor.fetchall())

    def value(self, query: str, params: Sequence[Any] = ()) -> Any:
        (row,) = self.rows(query, params)
        return row[0]

    def counts(self) -> dict[str, int]:
        """The number of rows of every orders table, to compare before and after a request."""
        return {
            table: self.value(f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed names)
            for table in ORDER_TABLES
        }

    def truncate(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")  # a leaked transaction fails here, loudly
            cursor.execute(f"TRUNCATE {', '.join(ORDER_TABLES)} CASCADE")

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def orders_sql(postgres: Endpoint) -> Iterator[Sql]:
    """The orders database, emptied before each test."""
    sql = Sql(postgres)
    sql.truncate()
    yield sql
    sql.close()


@dataclass
class OrdersStack:
    """What the orders function needs, as on AWS: moto's products table, queue and database
    secret, and the PostgreSQL server that secret opens. Tests have clients of their own."""

    session: boto3.session.Session
    settings: Settings
    queue: Queue
    endpoint: Endpoint
    sql: Sql
    dynamodb: Any
    sqs: Any
    secrets: Any
    apis: list[Api] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)

    def clients(self, settings: Settings | None = None) -> AwsClients:
        return AwsClients(settings or self.settings, session=self.session)

    def database(self, clients: AwsClients | None = None) -> Database:
        """A Database as on Lambda: credentials from the secret on every (re)connect."""
        database = database_from(self.settings, clients or self.clients())
        self.databases.append(database)
        return database

    def ports(
        self, clients: AwsClients | None = None, database: Database | None = None
    ) -> OrdersPorts:
        clients = clients or self.clients()
        return ports_from(self.settings, clients, database or self.database(clients))

    def api(self, ports: OrdersPorts | None = None) -> Api:
        """The orders Lambda entry, building its app with these ports."""
        built = ports or self.ports()
        api = Api(http_handler(lambda: create_orders_app(built)))
        self.apis.append(api)
        return api

    def add_product(self, name: str = "Trail shoe", price: str = "129.99") -> str:
        now = "2026-03-01T09:30:15.123Z"
        product = Product(
            str(uuid.uuid4()), name, Decimal(price), 10, "shoes", None, now, now, version=1
        )
        DynamoDBProductRepository(self.dynamodb, self.settings.products_table).add(product)
        return product.id

    def received(self) -> list[dict[str, Any]]:
        """Every message that reached the queue since the last call (each is taken off it)."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                self.sqs.delete_message(
                    QueueUrl=self.queue.url, ReceiptHandle=message["ReceiptHandle"]
                )
                messages.append(message)

    def environment(self) -> dict[str, str]:
        """The variables the Pulumi program gives the orders functions."""
        return {
            names.PRODUCTS_TABLE: self.settings.products_table,
            names.ORDERS_QUEUE_URL: self.settings.orders_queue_url,
            names.DATABASE_HOST: self.settings.database_host,
            names.DATABASE_PORT: str(self.settings.database_port),
            names.DATABASE_NAME: self.settings.database_name,
            names.DATABASE_SECRET_ARN: self.settings.database_secret_arn,
            names.DATABASE_SSLMODE: self.settings.database_sslmode,
        }

    def server_errors(self) -> list[tuple[int, str]]:
        """Every 5xx any orders API here answered, but the 503 of an unavailable dependency."""
        return [
            (reply.status, reply.text)
            for api in self.apis
            for reply in api.replies
            if reply.status >= 500 and reply.status != 503
        ]

    def close(self) -> None:
        for database in self.databases:
            database.discard()


@pytest.fixture
def orders(
    aws_session: boto3.session.Session, postgres: Endpoint, orders_sql: Sql
) -> Iterator[OrdersStack]:
    """Moto's products table, orders queue and database secret, over an emptied orders database.

    A module using this fixture must not use `dynamodb`, `cognito` or `mock_aws` as well.
    """
    with mock_aws():
        dynamodb = aws_session.client("dynamodb")
        sqs = aws_session.client("sqs")
        secrets = aws_session.client("secretsmanager")
        ensure_products_table(dynamodb, TABLE)
        queue = ensure_queue(sqs, ORDERS_QUEUE)
        secret_arn = ensure_secret(
            secrets, DATABASE_SECRET, {"username": postgres.user, "password": postgres.password}
        )
        settings = Settings(
            region="us-east-1",
            products_table=TABLE,
            orders_queue_url=queue.url,
            database_host=postgres.host,
            database_port=postgres.port,
            database_name=postgres.dbname,
            database_secret_arn=secret_arn,
            database_sslmode=postgres.sslmode,  # DATABASE_URL may name a server without TLS
        )
        stack = OrdersStack(
            aws_session, settings, queue, postgres, orders_sql, dynamodb, sqs, secrets
        )
        try:
            yield stack
            # API.md: no input ever produces a 500. Every reply of every orders test is checked.
            assert stack.server_errors() == []
        finally:
            stack.close()


@pytest.fixture
def shoe(orders: OrdersStack) -> str:
    return orders.add_product("Trail shoe", "129.99")


@pytest.fixture
def sock(orders: OrdersStack) -> str:
    return orders.add_product("Wool sock", "0.10")


# The statuses in which an order keeps its stock and its one charge.
SETTLED = ("CONFIRMED", "SHIPPED", "DELIVERED")


def _quantities(reservation: Mapping[str, Any]) -> Counter[str]:
    """The quantity of each product a reservation record holds."""
    quantities: Counter[str] = Counter()
    for line in reservation["lines"]:
        quantities[line["productId"]] += int(line["quantity"])
    return quantities


@dataclass
class Fulfilment:
    """The orders stack with fulfilment wired as on AWS: the worker polling the queue, the state
    machine run by moto's interpreter, and its Lambda tasks running the real step handlers."""

    orders: OrdersStack
    runtime: LambdaRuntime
    worker: QueueEventSource
    state_machine_arn: str
    stepfunctions: Any

    def deliver(self) -> int:
        """Hand every queued message to the worker; how many it got."""
        delivered = 0
        while polled := self.worker.poll_once():
            delivered += polled
        return delivered

    def executions(self) -> list[dict[str, Any]]:
        pages = self.stepfunctions.get_paginator("list_executions")
        return [
            execution
            for page in pages.paginate(stateMachineArn=self.state_machine_arn)
            for execution in page["executions"]
        ]

    def finish(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until no execution runs, delivering nothing more; the executions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            executions = self.executions()
            if all(e["status"] != "RUNNING" for e in executions):
                return executions
            time.sleep(0.05)
        raise AssertionError(f"executions still running after {timeout} s")

    def settle(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Deliver the queue and wait until no execution runs; the executions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.deliver()
            executions = self.executions()
            if all(e["status"] != "RUNNING" for e in executions) and not self.deliver():
                return executions
            time.sleep(0.05)
        raise AssertionError(f"executions still running after {timeout} s")

    def stock(self, product_id: str) -> int:
        item = self.orders.dynamodb.get_item(
            TableName=self.orders.settings.products_table,
            Key=to_item(product_key(product_id)),
            ConsistentRead=True,
        )["Item"]
        return int(from_item(item)["stock"])

    def set_stock(self, product_id: str, stock: int) -> None:
        self.orders.dynamodb.update_item(
            TableName=self.orders.settings.products_table,
            Key=to_item(product_key(product_id)),
            UpdateExpression="SET stock = :stock",
            ExpressionAttributeValues=to_item({":stock": stock}),
        )

    def steps(self) -> Steps:
        """The steps' stores, as the step functions see them, for checking what they hold."""
        return steps_from(self.orders.settings, self.orders.clients(), self.orders.database())

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Every record of one entity (payments, reservations) on the products table, whatever
        its key, so that a stray second record is found as well as the expected one."""
        request: dict[str, Any] = {
            "TableName": self.orders.settings.products_table,
            "ConsistentRead": True,
            "FilterExpression": "#entity = :entity",
            "ExpressionAttributeNames": {"#entity": table.ENTITY},
            "ExpressionAttributeValues": to_item({":entity": entity}),
        }
        pages = self.orders.dynamodb.get_paginator("scan").paginate(**request)
        return [from_item(item) for page in pages for item in page["Items"]]

    def check_invariants(
        self, products: Mapping[str, int], acknowledged: Mapping[str, str] | None = None
    ) -> None:
        """No order lost or made up, each in the status expected, its stock and its one charge
        matching that status; stock never negative and adding up to where it started.

        `products` maps every product the orders hold to its starting stock. `acknowledged` maps
        every order the API accepted (202) to the status it must have now; no other order may
        exist. Without it every order found is checked, and there must be one.
        """
        found = {
            order_id: (status, total)
            for order_id, status, total in self.orders.sql.rows(
                "SELECT id::text, status, total FROM orders"
            )
        }
        lines: dict[str, Counter[str]] = defaultdict(Counter)
        for order_id, product_id, quantity in self.orders.sql.rows(
            "SELECT order_id::text, product_id, quantity FROM order_items"
        ):
            lines[order_id][product_id] += quantity
        if acknowledged is None:
            assert found, "no order to check: the invariants would hold vacuously"
            for order_id, (status, _) in found.items():
                assert status in [*SETTLED, "CANCELLED"], f"order {order_id} not done: {status}"
        else:
            assert acknowledged, "no acknowledged order: the invariants would hold vacuously"
            lost = set(acknowledged) - set(found)
            assert not lost, f"acknowledged orders missing: {sorted(lost)}"
            made_up = set(found) - set(acknowledged)
            assert not made_up, f"orders nobody was told of: {sorted(made_up)}"
            statuses = {order_id: found[order_id][0] for order_id in acknowledged}
            assert statuses == dict(acknowledged), f"not in the status expected: {statuses}"
        assert products, "no product to check: the invariants would hold vacuously"

        charges: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in self.records(table.PAYMENT_ENTITY):
            if record["status"] in {status.value for status in ChargeStatus}:  # not an attempt
                charges[record["orderId"]].append(record)
        reservations: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in self.records(table.RESERVATION_ENTITY):
            reservations[record["orderId"]].append(record)
        assert set(charges) <= set(found), f"a charge for an order that does not exist: {charges}"
        assert set(reservations) <= set(found), "stock held for an order that does not exist"

        held: Counter[str] = Counter()
        for order_id, (status, total) in found.items():
            assert lines[order_id], f"order {order_id} without lines"
            assert len(charges[order_id]) <= 1, f"order {order_id} charged more than once"
            assert len(reservations[order_id]) <= 1, f"order {order_id} reserved more than once"
            kept = [c for c in charges[order_id] if c["status"] == ChargeStatus.CHARGED.value]
            holding = [r for r in reservations[order_id] if r["status"] == RESERVED]
            if status in SETTLED:
                amounts = [Decimal(charge["amount"]) for charge in kept]
                assert amounts == [total], f"{status} order {order_id} charged {amounts}"
                reserved = [_quantities(record) for record in holding]
                assert reserved == [lines[order_id]], (
                    f"{status} order {order_id} holds {reserved}, not its lines {lines[order_id]}"
                )
            else:  # cancelled (or pending, if so expected): nothing charged or held any more
                assert (kept, holding) == ([], []), (
                    f"{status} order {order_id} keeps a charge or stock: {kept} {holding}"
                )
            for record in holding:
                held.update(_quantities(record))
        unchecked = set(held) - set(products)
        assert not unchecked, f"products held but not checked: {sorted(unchecked)}"
        for product_id, initial in products.items():
            stock = self.stock(product_id)
            assert stock >= 0, f"negative stock {stock} of {product_id}"
            assert stock + held[product_id] == initial, (
                f"stock of {product_id} does not add up: {stock} left + {held[product_id]} held"
                f" != {initial} at the start"
            )


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same definition, with the transient retries shortened so a test waits seconds: the
    first try and two retries, a second apart."""
    monkeypatch.setattr(
        workflow, "RETRY_TRANSIENT", {"IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 2}
    )


@pytest.fixture
def fulfilment(orders: OrdersStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fulfilment]:
    lambdas.configure()  # inside the orders fixture's mock: undone when it ends
    for name, value in orders.environment().items():
        monkeypatch.setenv(name, value)
    runtime = LambdaRuntime()
    lambdas.install(runtime)
    session = orders.session
    arns = lambdas.ensure_functions(
        session.client("lambda"), session.client("iam"), STEP_FUNCTIONS.values()
    )
    stepfunctions = session.client("stepfunctions")
    state_machine_arn = ensure_state_machine(
        stepfunctions,
        "order-fulfilment",
        definition(StepArns(**{step: arns[name] for step, name in STEP_FUNCTIONS.items()})),
        role=lambdas.role_arn(session.client("iam")),
    )
    monkeypatch.setenv(names.STATE_MACHINE_ARN, state_machine_arn)
    worker = QueueEventSource(
        orders.sqs, orders.queue.url, orders.queue.arn, "order-worker", runtime, wait_seconds=0
    )
    stack = Fulfilment(orders, runtime, worker, state_machine_arn, stepfunctions)
    try:
        yield stack
        stack.settle()  # no execution may outlive the test's mock
    finally:
        lambdas.install(None)


def placed_message(order_id: str) -> dict[str, str]:
    """The queue message of an order placed by CUSTOMER_CLAIMS through the JWT event: ids only,
    and the API request's id as the correlation id that follows it downstream."""
    return {
        "type": "OrderPlaced",
        "orderId": order_id,
        "userId": CUSTOMER_CLAIMS["sub"],
        "correlationId": load_event("apigw_v2_jwt.json")["requestContext"]["requestId"],
    }


def place(api: Api, lines: dict[str, int], token: str | None = None) -> str:
    """A customer's order for `lines` (product id: quantity); its id."""
    body: dict[str, Any] = {
        "items": [{"productId": pid, "quantity": quantity} for pid, quantity in lines.items()]
    }
    if token is not None:
        body["paymentToken"] = token
    reply = api.post("/orders", body=body, claims=CUSTOMER_CLAIMS)
    assert reply.status == 202, reply.text
    return str(reply.json()["id"])


def order_of(api: Api, order_id: str) -> dict[str, Any]:
    reply = api.get(f"/orders/{order_id}", claims=CUSTOMER_CLAIMS)
    assert reply.status == 200, reply.text
    order: dict[str, Any] = reply.json()
    return order


def cancel(api: Api, order_id: str, claims: dict[str, str] = CUSTOMER_CLAIMS) -> Reply:
    return api.post(f"/orders/{order_id}/cancel", claims=claims, content_type=None)
