"""The catalogue's Flask app, built the same way by the Lambda entry, the local stack and tests."""

from flask import Flask

from services.common.aws import AwsClients
from services.common.http import configure
from services.common.settings import Settings
from services.products.api import REPOSITORY, bp
from services.products.dynamodb import DynamoDBProductRepository
from services.products.ports import ProductRepository


def create_app(
    settings: Settings | None = None,
    clients: AwsClients | None = None,
    repository: ProductRepository | None = None,
) -> Flask:
    if repository is None:
        settings = settings or Settings.from_env()
        clients = clients or AwsClients(settings)
        repository = DynamoDBProductRepository(clients.dynamodb, settings.products_table)
    app = configure(Flask(__name__))
    app.extensions[REPOSITORY] = repository
    app.register_blueprint(bp)
    return app
