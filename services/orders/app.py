"""The orders Flask app, built the same way by the Lambda entry, the local stack and tests."""

from flask import Flask

from services.common.http import configure
from services.orders.api import PORTS, bp
from services.orders.wiring import OrdersPorts, ports_from


def create_app(ports: OrdersPorts | None = None) -> Flask:
    app = configure(Flask(__name__))
    app.extensions[PORTS] = ports or ports_from()
    app.register_blueprint(bp)
    return app
