"""The single route table: every HTTP route, the function that serves it and who may call it.

Plain data with no Pulumi or Flask import: `infra/` turns it into API Gateway routes,
`local/` into the local gateway, and a test proves the Flask apps serve exactly these routes.
"""

from dataclasses import dataclass
from enum import StrEnum

ACCESS_TOKEN_SCOPE = "aws.cognito.signin.user.admin"  # noqa: S105 (a scope name, not a secret)
"""Only Cognito access tokens carry this scope, so requiring it keeps ID tokens out."""

ADMIN_GROUP = "admin"


class Access(StrEnum):
    PUBLIC = "public"  # no authorizer
    USER = "user"  # a valid access token
    ADMIN = "admin"  # a valid access token; the app also checks the admin group


@dataclass(frozen=True)
class Layer:
    requirements: str  # the requirements file installed into it, relative to the repository
    description: str


# The functions' third-party dependencies, in layers so that each function loads only what it
# imports: the PostgreSQL driver (libpq and OpenSSL, half the size of all the rest) goes only to
# the functions that connect to the database.
LAYERS: dict[str, Layer] = {
    "dependencies": Layer(
        "services/requirements.txt", "Flask, serverless-wsgi, pydantic and Powertools"
    ),
    "postgres": Layer("services/orders/requirements.txt", "The PostgreSQL driver (psycopg2)"),
}


@dataclass(frozen=True)
class Function:
    name: str
    handler: str  # "module.attribute" of the Lambda entry
    packages: tuple[str, ...]  # source packages (directories) or modules shipped in its archive
    service: str  # its logs' `service` key and its metrics' `service` dimension
    layers: tuple[str, ...] = ("dependencies",)  # names in LAYERS, in path order


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway syntax: /products/{id}
    function: str
    access: Access

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def protected(self) -> bool:
        return self.access is not Access.PUBLIC


def _orders_function(name: str, handler: str, *, database: bool = True) -> Function:
    """A function of the orders service. It reads prices and holds stock in the products table,
    whose key design lives with the products: that module ships with it, not the products app."""
    packages = (
        "services/common",
        "services/orders",
        "services/products/__init__.py",
        "services/products/table.py",
    )
    layers = ("dependencies", "postgres") if database else ("dependencies",)
    return Function(name=name, handler=handler, packages=packages, service="orders", layers=layers)


FUNCTIONS: dict[str, Function] = {
    "products": Function(
        name="products",
        handler="services.products.handler.handler",
        packages=("services/common", "services/products"),
        service="products",
    ),
    "users": Function(
        name="users",
        handler="services.users.handler.handler",
        packages=("services/common", "services/users"),
        service="users",
    ),
    "orders": _orders_function("orders", "services.orders.handler.handler"),
    # Not behind the API: the outbox relay runs on a schedule, migrations on deploy.
    "relay": _orders_function("relay", "services.orders.relay.handler"),
    "migrate": _orders_function("migrate", "services.orders.migrate.handler"),
    # Fulfilment: the queue's worker starts the state machine, whose tasks are the steps
    # (services/orders/workflow.py names the function of each step).
    "order-worker": _orders_function(
        "order-worker", "services.orders.worker.handler", database=False
    ),
    **{
        name: _orders_function(name, f"services.orders.steps.{name.replace('-', '_')}")
        for name in (
            "reserve-stock",
            "take-payment",
            "confirm-order",
            "cancel-order",
            "release-stock",
            "refund-payment",
        )
    },
}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/products", "products", Access.PUBLIC),
    Route("POST", "/products", "products", Access.ADMIN),
    Route("GET", "/products/{id}", "products", Access.PUBLIC),
    Route("PUT", "/products/{id}", "products", Access.ADMIN),
    Route("PATCH", "/products/{id}", "products", Access.ADMIN),
    Route("DELETE", "/products/{id}", "products", Access.ADMIN),
    Route("POST", "/users/signup", "users", Access.PUBLIC),
    Route("POST", "/users/confirm", "users", Access.PUBLIC),
    Route("POST", "/users/resend-code", "users", Access.PUBLIC),
    Route("POST", "/users/login", "users", Access.PUBLIC),
    Route("POST", "/users/refresh", "users", Access.PUBLIC),
    Route("POST", "/users/forgot-password", "users", Access.PUBLIC),
    Route("POST", "/users/reset-password", "users", Access.PUBLIC),
    Route("GET", "/users/me", "users", Access.USER),
    Route("POST", "/orders", "orders", Access.USER),
    Route("GET", "/orders", "orders", Access.USER),
    Route("GET", "/orders/{id}", "orders", Access.USER),
    Route("POST", "/orders/{id}/cancel", "orders", Access.USER),
    Route("POST", "/orders/{id}/ship", "orders", Access.ADMIN),
    Route("POST", "/orders/{id}/deliver", "orders", Access.ADMIN),
)


def routes_of(function: str) -> tuple[Route, ...]:
    return tuple(route for route in ROUTES if route.function == function)


@dataclass(frozen=True)
class CorsPolicy:
    """What browsers may send and read, for the deployed API and the local gateway alike.

    The allowed origins come from configuration, the allowed methods from the route table.
    """

    allow_headers: tuple[str, ...] = (
        "authorization",
        "content-type",
        "if-match",
        "idempotency-key",
    )
    expose_headers: tuple[str, ...] = ("etag", "location", "idempotent-replayed", "retry-after")
    max_age_seconds: int = 600


CORS = CorsPolicy()
