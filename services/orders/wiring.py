"""The orders service's adapters, built once per container from settings, or handed in."""

from collections.abc import Callable
from dataclasses import dataclass

from services.common.aws import AwsClients
from services.common.settings import Settings
from services.orders.catalogue import DynamoDBCatalogue
from services.orders.database import API_LIMITS, Database, Limits, secret_connector
from services.orders.ports import Catalogue, Publisher, UnitOfWork
from services.orders.postgres import PostgresUnitOfWork
from services.orders.sqs import SqsPublisher


@dataclass(frozen=True)
class OrdersPorts:
    new_unit_of_work: Callable[[], UnitOfWork]
    catalogue: Catalogue
    publisher: Publisher


def database_from(settings: Settings, clients: AwsClients, limits: Limits = API_LIMITS) -> Database:
    return Database(secret_connector(settings, clients.secrets, limits))


def ports_from(
    settings: Settings | None = None,
    clients: AwsClients | None = None,
    database: Database | None = None,
) -> OrdersPorts:
    settings = settings or Settings.from_env()
    clients = clients or AwsClients(settings)
    database = database or database_from(settings, clients)
    return OrdersPorts(
        new_unit_of_work=lambda: PostgresUnitOfWork(database),
        catalogue=DynamoDBCatalogue(clients.dynamodb, settings.products_table),
        publisher=SqsPublisher(clients.sqs, settings.orders_queue_url),
    )
