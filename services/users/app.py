"""The users Flask app, built the same way by the Lambda entry, the local stack and tests."""

from flask import Flask

from services.common.aws import AwsClients
from services.common.http import configure
from services.common.settings import Settings
from services.users.api import IDENTITY, bp
from services.users.cognito import CognitoIdentityProvider
from services.users.ports import IdentityProvider


def create_app(
    settings: Settings | None = None,
    clients: AwsClients | None = None,
    identity: IdentityProvider | None = None,
) -> Flask:
    if identity is None:
        settings = settings or Settings.from_env()
        clients = clients or AwsClients(settings)
        identity = CognitoIdentityProvider(clients.cognito, settings.user_pool_client_id)
    app = configure(Flask(__name__))
    app.extensions[IDENTITY] = identity
    app.register_blueprint(bp)
    return app
