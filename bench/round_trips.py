"""Round trips per request, counted for every route of the API, against the minimum each needs.

The real Lambda entries run against moto (DynamoDB, Cognito, SQS, Secrets Manager, in-process)
and a real PostgreSQL (embedded, or DATABASE_URL's), as tests/integration does. AWS calls are
counted from botocore's before-call event, PostgreSQL's from a cursor and connection that count
every statement, BEGIN, COMMIT and ROLLBACK they send (tests/integration/test_round_trips.py,
which pins the same counts). Each route is counted on a warm container: its first request's
secret read and connection are reported apart. Nothing is timed.
"""

import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.figures import (
    Figure,
    Section,
    arguments,
    before_of,
    command,
    finish,
    verdict,
)

USER_PASSWORD = "Correct-Horse-7"  # noqa: S105 (a throwaway user of moto's user pool)


@dataclass(frozen=True)
class Minimum:
    """The fewest round trips a route can make: AWS calls per service, and PostgreSQL's."""

    aws: dict[str, int]  # "dynamodb" -> calls
    database: int  # round trips to PostgreSQL, BEGIN and COMMIT included
    why: str


@dataclass
class Measured:
    route: str
    status: int
    aws: Counter[str]
    statements: int
    transactions: int
    database: int
    minimum: Minimum

    @property
    def per_service(self) -> Counter[str]:
        return Counter(
            {service: sum(n for op, n in self.aws.items() if op.split(".")[0] == service)
             for service in {op.split(".")[0] for op in self.aws}}
        )  # fmt: skip

    @property
    def met(self) -> bool:
        calls = self.per_service
        within = all(calls[service] <= n for service, n in self.minimum.aws.items())
        return (
            self.status < 400  # a refused request proves nothing about the route's cost
            and within
            and set(calls) <= set(self.minimum.aws)
            and (self.database <= self.minimum.database)
        )


ONE_STATEMENT = "one statement in autocommit: no BEGIN, no COMMIT"


def _products_minimum(operation: str) -> Minimum:
    return Minimum({"dynamodb": 1}, 0, f"one {operation}")


def _cognito_minimum(operation: str) -> Minimum:
    return Minimum({"cognito-idp": 1}, 0, f"one {operation}")


PLACEMENT = Minimum(
    {"dynamodb": 1, "sqs": 1},
    2,
    "order, lines and outbox message in one query (one transaction without BEGIN or COMMIT); "
    "one statement acknowledging the message once the queue has it",
)
KEYED = Minimum(
    {"dynamodb": 1, "sqs": 1},
    4,
    "the key's lock, then its read under the lock (one statement would read before the lock "
    "is held), then the writes with COMMIT, then the acknowledgement",
)
READ_ONE = Minimum({}, 1, f"the order with its lines in one query, {ONE_STATEMENT}")
MOVE = Minimum({}, 1, f"the conditional UPDATE returning the order and its lines, {ONE_STATEMENT}")
CANCEL = Minimum(
    {"dynamodb": 2, "sqs": 1},
    2,
    "the move and its outbox message in one statement; refund and release one call each; "
    "the message sent, then acknowledged in one statement",
)


@contextmanager
def world() -> Iterator[dict[str, Any]]:
    """moto and PostgreSQL, with the resources the local stack and Pulumi define."""
    import boto3
    from moto import mock_aws

    from local.database import LocalDatabase
    from local.resources import (
        ensure_products_table,
        ensure_queue,
        ensure_secret,
        ensure_user_pool,
    )
    from services.common.settings import Settings
    from services.orders.queue import ORDERS_QUEUE
    from tests.integration.conftest import (
        DATABASE_SECRET,
        TABLE,
        USER_POOL,
        OrdersStack,
        Sql,
        data_directory,
        start_database,
    )

    with data_directory("data") as directory:
        database = LocalDatabase(directory, url=os.environ.get("DATABASE_URL") or None)
        endpoint = start_database(database)
        sql = Sql(endpoint)
        sql.truncate()
        try:
            with mock_aws():
                session = boto3.session.Session(region_name="us-east-1")
                dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
                secrets, cognito = session.client("secretsmanager"), session.client("cognito-idp")
                ensure_products_table(dynamodb, TABLE)
                queue = ensure_queue(sqs, ORDERS_QUEUE)
                secret_arn = ensure_secret(
                    secrets,
                    DATABASE_SECRET,
                    {"username": endpoint.user, "password": endpoint.password},
                )
                pool = ensure_user_pool(cognito, USER_POOL)
                settings = Settings(
                    region="us-east-1",
                    products_table=TABLE,
                    user_pool_client_id=pool.client_id,
                    orders_queue_url=queue.url,
                    database_host=endpoint.host,
                    database_port=endpoint.port,
                    database_name=endpoint.dbname,
                    database_secret_arn=secret_arn,
                    database_sslmode=endpoint.sslmode,
                )
                stack = OrdersStack(session, settings, queue, endpoint, sql, dynamodb, sqs, secrets)
                yield {"stack": stack, "cognito": cognito, "pool": pool, "settings": settings}
                stack.close()
        finally:
            sql.close()
            database.stop()


Step = tuple[str, Callable[[], Any], Minimum]


def products_steps(things: dict[str, Any], counts: Any) -> tuple[list[Step], Any]:
    from services.common.lambda_entry import http_handler
    from services.products.app import create_app
    from tests.integration.conftest import ADMIN_CLAIMS, Api
    from tests.integration.test_round_trips import PRODUCT, counted_clients

    settings = things["settings"]
    clients = counted_clients(settings, things["stack"].session, counts)
    api = Api(http_handler(lambda: create_app(settings, clients)))
    created: list[str] = []

    def create() -> Any:
        reply = api.post("/products", body=PRODUCT, claims=ADMIN_CLAIMS)
        created.append(str(reply.json()["id"]))
        return reply

    def one() -> str:
        return created[0]

    admin = ADMIN_CLAIMS
    steps: list[Step] = [
        ("POST /products", create, _products_minimum("PutItem")),
        ("GET /products", lambda: api.get("/products"), _products_minimum("Query")),
        (
            "GET /products?category=",
            lambda: api.get("/products", query={"category": "shoes"}),
            _products_minimum("Query"),
        ),
        ("GET /products/{id}", lambda: api.get(f"/products/{one()}"), _products_minimum("GetItem")),
        (
            "PUT /products/{id}",
            lambda: api.put(f"/products/{one()}", body=PRODUCT, claims=admin),
            _products_minimum("UpdateItem"),
        ),
        (
            "PATCH /products/{id}",
            lambda: api.patch(f"/products/{one()}", body={"stock": 4}, claims=admin),
            _products_minimum("UpdateItem"),
        ),
        (
            "DELETE /products/{id}",
            lambda: api.delete(f"/products/{created.pop()}", claims=admin, content_type=None),
            _products_minimum("DeleteItem"),
        ),
    ]
    return steps, api


def users_steps(things: dict[str, Any], counts: Any) -> tuple[list[Step], Any]:
    from local import cognito as local_cognito
    from local.outbox import Outbox
    from services.common.aws import AwsClients
    from services.common.lambda_entry import http_handler
    from services.users.app import create_app
    from tests.integration.conftest import CUSTOMER_CLAIMS, Api
    from tests.integration.test_round_trips import count_aws_calls

    settings = things["settings"]
    # moto has no ResendConfirmationCode: the local stack's Cognito extension answers it, as
    # Cognito does (codes go to a scratch outbox).
    local_cognito.install(Outbox(Path(tempfile.mkdtemp(prefix="bench-outbox-")) / "outbox.jsonl"))
    clients = AwsClients(settings, session=things["stack"].session)
    count_aws_calls(clients.cognito, counts)
    api = Api(http_handler(lambda: create_app(settings, clients)))
    cognito, pool = things["cognito"], things["pool"]
    email = f"round-trips-{uuid.uuid4().hex[:8]}@example.com"
    tokens: dict[str, str] = {}
    signup = {"email": email, "password": USER_PASSWORD, "name": "Round Trips"}

    def confirmed() -> Any:
        cognito.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username=email)
        reply = api.post("/users/login", body={"email": email, "password": USER_PASSWORD})
        tokens.update(reply.json())
        return reply

    def me() -> Any:
        headers = {"authorization": f"Bearer {tokens['accessToken']}"}
        return api.get("/users/me", claims=CUSTOMER_CLAIMS, headers=headers)

    steps: list[Step] = [
        (
            "POST /users/signup",
            lambda: api.post("/users/signup", body=signup),
            _cognito_minimum("SignUp"),
        ),
        (
            "POST /users/resend-code",
            lambda: api.post("/users/resend-code", body={"email": email}),
            _cognito_minimum("ResendConfirmationCode"),
        ),
        ("POST /users/login", confirmed, _cognito_minimum("InitiateAuth")),
        (
            "POST /users/refresh",
            lambda: api.post("/users/refresh", body={"refreshToken": tokens["refreshToken"]}),
            _cognito_minimum("InitiateAuth"),
        ),
        ("GET /users/me", me, _cognito_minimum("GetUser")),
        (
            "POST /users/forgot-password",
            lambda: api.post("/users/forgot-password", body={"email": email}),
            _cognito_minimum("ForgotPassword"),
        ),
    ]
    return steps, api


def orders_steps(things: dict[str, Any], counts: Any) -> tuple[list[Step], Any]:
    from services.orders.wiring import ports_from
    from tests.integration.conftest import ADMIN_CLAIMS, CUSTOMER_CLAIMS
    from tests.integration.test_round_trips import counted_clients, counting_database

    stack = things["stack"]
    clients = counted_clients(stack.settings, stack.session, counts)
    database = counting_database(stack.settings, clients, counts)
    stack.databases.append(database)
    api = stack.api(ports_from(stack.settings, clients, database))
    few = [stack.add_product(f"Product {n}", "2.50") for n in range(3)]
    many = [stack.add_product(f"Product {n}", "2.50") for n in range(20)]
    placed: list[str] = []

    def place(product_ids: list[str], **options: Any) -> Any:
        body = {"items": [{"productId": pid, "quantity": 1} for pid in product_ids]}
        reply = api.post("/orders", body=body, claims=CUSTOMER_CLAIMS, **options)
        placed.append(str(reply.json().get("id")))
        return reply

    def with_status(status: str) -> str:
        order_id = placed.pop()
        stack.sql.rows(
            "UPDATE orders SET status = %s WHERE id = %s RETURNING id", (status, order_id)
        )
        return order_id

    def act(action: str, status: str, claims: dict[str, str]) -> Any:
        return api.post(f"/orders/{with_status(status)}/{action}", claims=claims, content_type=None)

    steps: list[Step] = [
        ("POST /orders (1 line)", lambda: place(few[:1]), PLACEMENT),
        ("POST /orders (20 lines)", lambda: place(many), PLACEMENT),
        (
            "POST /orders (3 lines, Idempotency-Key)",
            lambda: place(few, headers={"Idempotency-Key": str(uuid.uuid4())}),
            KEYED,
        ),
        ("GET /orders", lambda: api.get("/orders", claims=CUSTOMER_CLAIMS), READ_ONE),
        (
            "GET /orders/{id}",
            lambda: api.get(f"/orders/{placed[-1]}", claims=CUSTOMER_CLAIMS),
            READ_ONE,
        ),
        ("POST /orders/{id}/cancel", lambda: act("cancel", "PENDING", CUSTOMER_CLAIMS), CANCEL),
        ("POST /orders/{id}/ship", lambda: act("ship", "CONFIRMED", ADMIN_CLAIMS), MOVE),
        ("POST /orders/{id}/deliver", lambda: act("deliver", "SHIPPED", ADMIN_CLAIMS), MOVE),
    ]
    return steps, api


def measure(only: list[str]) -> tuple[list[Measured], list[str]]:
    from tests.integration.conftest import CUSTOMER_CLAIMS
    from tests.integration.test_round_trips import RoundTrips

    found: list[Measured] = []
    firsts: list[str] = []
    with world() as things:
        for function, steps_of in (
            ("products", products_steps),
            ("users", users_steps),
            ("orders", orders_steps),
        ):
            counts = RoundTrips()
            steps, api = steps_of(things, counts)
            # A read first: what a container's first request adds (the database secret, the
            # connection) is once per container, not per request.
            first = {"products": "/products", "orders": "/orders"}.get(function)
            if first is not None:  # the users function holds no connection
                reply = api.get(first, claims=CUSTOMER_CLAIMS)
                firsts.append(
                    f"`{function}`: GET {first} ({reply.status}) made {_calls(counts.aws)} and "
                    f"opened {counts.connections} database connection(s)"
                )
            for route, call, minimum in steps:
                counts.reset()
                reply = call()
                if only and route not in only:
                    continue
                found.append(
                    Measured(
                        route,
                        reply.status,
                        Counter(counts.aws),
                        len(counts.statements),
                        counts.transactions,
                        counts.database,
                        minimum,
                    )
                )
    return found, firsts


def _calls(counter: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{n} {operation}" for operation, n in sorted(counter.items())) or "none"


def section(found: list[Measured], firsts: list[str]) -> Section:
    result = Section(
        name="round_trips",
        title="3. Round trips per request",
        intro=(
            "Counted, not timed: AWS calls from botocore's before-call event and PostgreSQL round "
            "trips (each query sent, however many statements it carries) from a counting cursor, "
            "on warm containers of the real entries against moto and a real PostgreSQL. "
            "tests/integration/test_round_trips.py pins these counts."
        ),
        columns=[
            "Route",
            "Status",
            "AWS calls",
            "SQL statements",
            "BEGIN sent",
            "PostgreSQL round trips",
            "Minimum",
        ],
    )
    for row in found:
        minimum = row.minimum
        result.add(
            Figure(
                key=f"round_trips/{row.route}",
                cells=[
                    f"`{row.route}`",
                    str(row.status),
                    _calls(row.aws),
                    str(row.statements),
                    str(row.transactions),
                    str(row.database),
                    f"{_calls(minimum.aws)}; {minimum.database} to PostgreSQL: {minimum.why}",
                ],
                value=float(sum(row.aws.values()) + row.database),
                goal="the minimum",
                met=row.met,
                command=command("round_trips", f"--only='{row.route}'"),
            )
        )
    result.notes.append(
        "Each container's first request, before the counts above: " + "; ".join(firsts) + "."
    )
    return result


def main() -> None:
    options = arguments(__doc__ or "").parse_args()
    found, firsts = measure(options.only)
    built = section(found, firsts)
    finish(
        built,
        before_of("round_trips", options),
        options.out,
        lambda figure: f"{figure.cells[0]:45s} {figure.cells[2]:55s} sql {figure.cells[5]:>3s}  "
                       f"{verdict(figure.met)}",
    )  # fmt: skip


if __name__ == "__main__":
    main()
