"""The Flask apps serve exactly the routes of the route table, function by function."""

import importlib
import re
from collections.abc import Callable

import pytest
from flask import Flask

from services.orders.app import create_app as create_orders_app
from services.orders.fulfilment import Steps
from services.orders.wiring import OrdersPorts
from services.products.app import create_app as create_products_app
from services.routes import FUNCTIONS, ROUTES, routes_of
from services.users.app import create_app as create_users_app
from tests.unit.fakes import (
    FakeCatalogue,
    FakeIdentityProvider,
    FakeInventory,
    FakeOrdersDatabase,
    FakePaymentProvider,
    FakeProductRepository,
    FakePublisher,
)


def orders_ports(database: FakeOrdersDatabase) -> OrdersPorts:
    steps = Steps(database.new_unit_of_work, FakeInventory(), FakePaymentProvider())
    return OrdersPorts(database.new_unit_of_work, FakeCatalogue(), FakePublisher(), steps)


# One builder per function, with in-memory ports: a new function must be added here to pass.
APPS: dict[str, Callable[[], Flask]] = {
    "products": lambda: create_products_app(repository=FakeProductRepository()),
    "users": lambda: create_users_app(identity=FakeIdentityProvider()),
    "orders": lambda: create_orders_app(orders_ports(FakeOrdersDatabase())),
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}
# Functions behind the API; others (a scheduled relay, a deploy-time migration) have no routes.
HTTP_FUNCTIONS = sorted({route.function for route in ROUTES})


def api_gateway_path(rule: str) -> str:
    """Flask's `<id>`, `<int:id>` and `<path:rest>` in API Gateway syntax: `{id}`, `{rest+}`."""
    rule = re.sub(r"<path:(\w+)>", r"{\1+}", rule)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def served_routes(app: Flask) -> set[str]:
    keys = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in set(rule.methods or ()) - IGNORED_METHODS:
            keys.add(f"{method} {api_gateway_path(rule.rule)}")
    return keys


def test_every_function_behind_the_api_has_an_app_builder():
    assert set(APPS) == set(HTTP_FUNCTIONS)


def test_every_route_is_served_by_a_known_function():
    assert set(HTTP_FUNCTIONS) <= set(FUNCTIONS)


@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_the_app_serves_exactly_the_route_table(function):
    app = APPS[function]()

    assert served_routes(app) == {route.key for route in routes_of(function)}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("/products", "/products"),
        ("/products/<id>", "/products/{id}"),
        ("/orders/<int:id>/ship", "/orders/{id}/ship"),
        ("/files/<path:rest>", "/files/{rest+}"),
    ],
)
def test_flask_rules_translate_to_api_gateway_paths(rule, expected):
    assert api_gateway_path(rule) == expected


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_handler_imports_as_a_callable(function):
    module, _, attribute = FUNCTIONS[function].handler.rpartition(".")

    handler = getattr(importlib.import_module(module), attribute)

    assert callable(handler)
