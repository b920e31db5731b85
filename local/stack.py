"""The whole local stack: fake AWS, resources, sample data and the HTTP gateway, on 127.0.0.1."""

import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg2
from werkzeug.serving import BaseWSGIServer, make_server

from local import cognito, lambdas, resources, seed
from local.authorizer import JwtAuthorizer
from local.aws import FakeAws
from local.database import LocalDatabase
from local.event_source import QueueEventSource
from local.gateway import Gateway
from local.outbox import Outbox
from local.runtime import LambdaRuntime
from local.schedule import Every
from services.common import settings
from services.orders.domain import OrderEvent, order_message
from services.orders.queue import ORDERS_QUEUE
from services.orders.workflow import STEP_FUNCTIONS, StepArns, definition
from services.products.dynamodb import DynamoDBProductRepository
from services.routes import ROUTES

logger = logging.getLogger("local")

REGION = "us-east-1"
PRODUCTS_TABLE = "products"
USER_POOL = "ecommerce-local"
DATABASE_SECRET = "ecommerce-local/database"  # noqa: S105 (the secret's name)
STATE_MACHINE = "order-fulfilment"
WORKER = "order-worker"


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 3000
    aws_port: int = 4566
    state_dir: Path = Path(".local")
    reset: bool = False
    cors_origins: tuple[str, ...] = ("*",)
    database_url: str | None = None  # another PostgreSQL instead of the embedded one
    relay_seconds: float = 5.0


@dataclass
class LocalStack:
    options: Options
    info: dict[str, Any] = field(default_factory=dict)
    _aws: FakeAws | None = None
    _database: LocalDatabase | None = None
    _relay: Every | None = None
    _worker: QueueEventSource | None = None
    runtime: LambdaRuntime = field(default_factory=LambdaRuntime)
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None

    @property
    def stack_file(self) -> Path:
        return self.options.state_dir / "stack.json"

    @property
    def outbox_file(self) -> Path:
        return self.options.state_dir / "outbox.jsonl"

    def start(self) -> dict[str, Any]:
        state = self.options.state_dir
        if self.options.reset and state.exists():
            shutil.rmtree(state)
        state.mkdir(parents=True, exist_ok=True)
        cognito.install(Outbox(self.outbox_file))
        lambdas.install(self.runtime)
        self._aws = FakeAws(self.options.host, self.options.aws_port, state / "aws-state.pickle")
        restored = self._aws.start()
        endpoint = "http://{}:{}".format(*self._aws_address())
        self._configure_process(endpoint, self._aws_address()[1])

        cognito_client = boto3.client("cognito-idp")
        dynamodb = boto3.client("dynamodb")
        resources.ensure_products_table(dynamodb, PRODUCTS_TABLE)
        user_pool = resources.ensure_user_pool(cognito_client, USER_POOL)
        os.environ[settings.USER_POOL_CLIENT_ID] = user_pool.client_id
        password = (seed.previous_password(self.stack_file) if restored else None) or (
            seed.new_password()
        )
        seed.ensure_admin(cognito_client, user_pool.pool_id, seed.ADMIN_EMAIL, password)
        added = seed.seed_catalogue(DynamoDBProductRepository(dynamodb, PRODUCTS_TABLE))

        self._database = LocalDatabase(state / "postgres", url=self.options.database_url)
        database = self._database.start()
        secret_arn = resources.ensure_secret(
            boto3.client("secretsmanager"),
            DATABASE_SECRET,
            {"username": database.user, "password": database.password},
        )
        queue = resources.ensure_queue(boto3.client("sqs"), ORDERS_QUEUE)
        os.environ.update(
            {
                settings.ORDERS_QUEUE_URL: queue.url,
                settings.DATABASE_HOST: database.host,
                settings.DATABASE_PORT: str(database.port),
                settings.DATABASE_NAME: database.dbname,
                settings.DATABASE_SECRET_ARN: secret_arn,
                settings.DATABASE_SSLMODE: database.sslmode,
            }
        )
        state_machine = self._state_machine()
        os.environ[settings.STATE_MACHINE_ARN] = state_machine
        resumed = self._resume_pending(database.url, queue.url)
        self._relay = Every(self.options.relay_seconds, "relay", self.runtime)
        self._relay.start()
        self._worker = QueueEventSource(
            boto3.client("sqs"), queue.url, queue.arn, WORKER, self.runtime
        )
        self._worker.start()

        issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{user_pool.pool_id}"
        authorizer = JwtAuthorizer(
            issuer=issuer,
            audiences=[user_pool.client_id],
            jwks_url=f"{endpoint}/{user_pool.pool_id}/.well-known/jwks.json",
        )
        gateway = Gateway(
            ROUTES, authorizer, cors_origins=self.options.cors_origins, runtime=self.runtime
        )
        self._server = make_server(self.options.host, self.options.port, gateway, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

        self.info = {
            "apiUrl": f"http://{self.options.host}:{self._server.server_port}",
            "awsEndpoint": endpoint,
            "region": REGION,
            "userPoolId": user_pool.pool_id,
            "userPoolClientId": user_pool.client_id,
            "issuer": issuer,
            "productsTable": PRODUCTS_TABLE,
            "admin": {"email": seed.ADMIN_EMAIL, "password": password},
            "outbox": str(self.outbox_file),
            "databaseUrl": database.url,
            "ordersQueueUrl": queue.url,
            "ordersDeadLetterQueueUrl": queue.dead_letter_url,
            "stateMachineArn": state_machine,
            "restored": restored,
            "seededProducts": added,
            "resumedOrders": resumed,
        }
        self.stack_file.write_text(json.dumps(self.info, indent=2) + "\n")
        self._aws.save()
        return self.info

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._relay is not None:
            self._relay.stop()
        if self._worker is not None:
            self._worker.stop()
        if self._aws is not None:
            self._aws.stop()
        if self._database is not None:
            self._database.stop()

    @staticmethod
    def _resume_pending(database_url: str, queue_url: str) -> int:
        """Send again the message of every order still PENDING: moto keeps no execution across
        a restart. The new run finds whatever the old one did, since every step is idempotent."""
        connection = psycopg2.connect(database_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT id::text, user_id FROM orders WHERE status = 'PENDING'")
                pending = cursor.fetchall()
        finally:
            connection.close()
        sqs = boto3.client("sqs")
        for order_id, user_id in pending:
            body = order_message(OrderEvent.PLACED, order_id, user_id)
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
        if pending:
            logger.info("fulfilment resumed for %d pending orders", len(pending))
        return len(pending)

    @staticmethod
    def _state_machine() -> str:
        """The fulfilment workflow, its tasks declared in moto's Lambda and run by our runtime."""
        arns = lambdas.ensure_functions(
            boto3.client("lambda"), boto3.client("iam"), STEP_FUNCTIONS.values()
        )
        steps = StepArns(**{step: arns[name] for step, name in STEP_FUNCTIONS.items()})
        return resources.ensure_state_machine(
            boto3.client("stepfunctions"),
            STATE_MACHINE,
            definition(steps),
            role=lambdas.role_arn(boto3.client("iam")),
        )

    def _aws_address(self) -> tuple[str, int]:
        assert self._aws is not None
        return self._aws.address()

    @staticmethod
    def _configure_process(endpoint: str, aws_port: int) -> None:
        """The environment a deployed function gets from Lambda, pointed at the fake endpoint."""
        os.environ.update(
            {
                # moto's state machine interpreter calls Lambda on this port of localhost.
                "MOTO_PORT": str(aws_port),
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                # moto accepts any credentials; these keep boto3 from looking for real ones.
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                settings.PRODUCTS_TABLE: PRODUCTS_TABLE,
                # One process runs every function here, so they share one service name.
                "POWERTOOLS_SERVICE_NAME": "ecommerce",
                "POWERTOOLS_METRICS_NAMESPACE": "ecommerce/local",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
