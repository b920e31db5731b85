"""The orders service's adapters, built once per container from settings, or handed in."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from services.common.aws import AwsClients
from services.common.observability import trace_calls
from services.common.settings import Settings
from services.orders.catalogue import DynamoDBCatalogue
from services.orders.database import API_LIMITS, Database, Limits, secret_connector
from services.orders.fulfilment import Steps
from services.orders.inventory_dynamodb import DynamoDBInventory
from services.orders.payments_dynamodb import DynamoDBPaymentProvider
from services.orders.ports import Catalogue, Publisher, UnitOfWork
from services.orders.postgres import PostgresUnitOfWork
from services.orders.sqs import SqsPublisher


class OutboxPorts(Protocol):
    """What the outbox relay works with: the orders database and the queue."""

    @property
    def new_unit_of_work(self) -> Callable[[], UnitOfWork]: ...

    @property
    def publisher(self) -> Publisher: ...


@dataclass(frozen=True)
class RelayPorts:
    new_unit_of_work: Callable[[], UnitOfWork]
    publisher: Publisher


@dataclass(frozen=True)
class OrdersPorts:
    new_unit_of_work: Callable[[], UnitOfWork]
    catalogue: Catalogue
    publisher: Publisher
    steps: Steps  # the customer's cancel gives back stock and refunds, as the workflow does


def database_from(settings: Settings, clients: AwsClients, limits: Limits = API_LIMITS) -> Database:
    trace_calls("psycopg2")  # before any connection opens: its statements join the traces
    return Database(secret_connector(settings, clients.secrets, limits))


def ports_from(
    settings: Settings | None = None,
    clients: AwsClients | None = None,
    database: Database | None = None,
) -> OrdersPorts:
    settings = settings or Settings.from_env()
    clients = clients or AwsClients(settings)
    database = database or database_from(settings, clients)
    steps = steps_from(settings, clients, database)
    return OrdersPorts(
        new_unit_of_work=steps.new_unit_of_work,
        catalogue=DynamoDBCatalogue(clients.dynamodb, settings.products_table),
        publisher=SqsPublisher(clients.sqs, settings.orders_queue_url),
        steps=steps,
    )


def relay_ports_from(
    settings: Settings | None = None,
    clients: AwsClients | None = None,
    database: Database | None = None,
) -> RelayPorts:
    """The relay's adapters: the outbox and the queue, and no client it would never use."""
    settings = settings or Settings.from_env()
    clients = clients or AwsClients(settings)
    db = database or database_from(settings, clients)
    return RelayPorts(
        new_unit_of_work=lambda: PostgresUnitOfWork(db),
        publisher=SqsPublisher(clients.sqs, settings.orders_queue_url),
    )


def steps_from(
    settings: Settings | None = None,
    clients: AwsClients | None = None,
    database: Database | None = None,
) -> Steps:
    """The fulfilment steps' adapters. The database connects on first use only, so the release
    and refund functions, which never read an order, never open a connection."""
    settings = settings or Settings.from_env()
    clients = clients or AwsClients(settings)
    db = database or database_from(settings, clients)
    return Steps(
        new_unit_of_work=lambda: PostgresUnitOfWork(db),
        inventory=DynamoDBInventory(clients.dynamodb, settings.products_table),
        payments=DynamoDBPaymentProvider(clients.dynamodb, settings.products_table),
    )
