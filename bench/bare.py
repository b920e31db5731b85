"""The baseline every Lambda figure is compared with: a bare Flask app behind serverless-wsgi that
answers a fixed JSON body, with one boto3 client built beside it, as a minimal function would."""

from typing import Any

import boto3
import serverless_wsgi
from flask import Flask, Response

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
DEFAULT_BODY = '{"message":"ok"}'


def create_app(body: str = DEFAULT_BODY, status: int = 200, with_client: bool = True) -> Flask:
    """An app that answers every path and method with `body`: no parsing, no rules, no I/O."""
    app = Flask(__name__)
    if with_client:
        app.extensions["dynamodb"] = boto3.client("dynamodb")

    def answer(path: str = "") -> Response:
        return Response(body, status=status, mimetype="application/json")

    app.add_url_rule("/", "root", answer, methods=METHODS)
    app.add_url_rule("/<path:path>", "any", answer, methods=METHODS)
    return app


def lambda_handler(app: Flask) -> Any:
    """The whole Lambda entry of the baseline: hand the event to serverless-wsgi."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = serverless_wsgi.handle_request(app, event, context)
        return response

    return handle


_built: list[Flask] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Builds the app and its client on the first event, as the real entries do."""
    if not _built:
        _built.append(create_app())
    response: dict[str, Any] = serverless_wsgi.handle_request(_built[0], event, context)
    return response
