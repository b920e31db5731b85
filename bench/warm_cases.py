"""The warm benchmark's cases: each route's entry over in-memory adapters, and its events.

A route whose call consumes state (a delete, a confirmation code, an order to cancel) gets that
state made beforehand, one piece per call, so that every timed call succeeds the same way.
"""

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.common.lambda_entry import http_handler
from services.orders.app import create_app as orders_app
from services.orders.domain import Order, OrderLine, OrderStatus, PricedProduct
from services.orders.fulfilment import Steps
from services.orders.handler import order_keys
from services.orders.wiring import OrdersPorts
from services.products.app import create_app as products_app
from services.products.domain import Product
from services.users.app import create_app as users_app
from tests.integration.conftest import ADMIN_CLAIMS, CUSTOMER_CLAIMS, build_event
from tests.unit.fakes import (
    FakeCatalogue,
    FakeIdentityProvider,
    FakeInventory,
    FakeOrdersDatabase,
    FakePaymentProvider,
    FakeProductRepository,
    FakePublisher,
)

Event = dict[str, Any]
Handler = Callable[[Event, Any], dict[str, Any]]


@dataclass
class Case:
    """One route: its entry, built fresh, and one event per call (calls may consume state)."""

    route: str
    function: str
    handler: Handler
    events: Iterator[Event]


NOW = "2026-03-01T09:30:15.123Z"
PASSWORD = "Correct-Horse-7"  # noqa: S105 (the fake identity provider's test password)
PRODUCT_BODY = {"name": "Trail shoe", "price": 129.99, "stock": 10, "category": "shoes"}


def _repeat(make: Callable[[int], Event]) -> Iterator[Event]:
    """An endless stream of events; `make` gets the call's number."""
    return (make(number) for number in itertools.count())


def _product(number: int, category: str = "shoes") -> Product:
    product_id = f"00000000-0000-4000-8000-{number:012d}"
    return Product(
        product_id, f"Product {number}", Decimal("19.99"), 100, category, None, NOW, NOW, version=1
    )


def products(calls: int) -> list[Case]:
    def entry(repository: FakeProductRepository) -> Any:
        return http_handler(lambda: products_app(repository=repository))

    def catalogue(count: int) -> FakeProductRepository:
        return FakeProductRepository([_product(number) for number in range(count)])

    shown = _product(0).id
    spare = calls + 100  # the products a DELETE consumes, one per call
    deletable = catalogue(spare)
    admin = ADMIN_CLAIMS
    return [
        Case(
            "GET /products",
            "products",
            entry(catalogue(30)),
            _repeat(lambda _: build_event("GET", "/products")),
        ),
        Case(
            "POST /products",
            "products",
            entry(catalogue(0)),
            _repeat(lambda _: build_event("POST", "/products", body=PRODUCT_BODY, claims=admin)),
        ),
        Case(
            "GET /products/{id}",
            "products",
            entry(catalogue(30)),
            _repeat(lambda _: build_event("GET", f"/products/{shown}")),
        ),
        Case(
            "PUT /products/{id}",
            "products",
            entry(catalogue(30)),
            _repeat(
                lambda _: build_event("PUT", f"/products/{shown}", body=PRODUCT_BODY, claims=admin)
            ),
        ),
        Case(
            "PATCH /products/{id}",
            "products",
            entry(catalogue(30)),
            _repeat(
                lambda n: build_event(
                    "PATCH", f"/products/{shown}", body={"stock": n % 50}, claims=admin
                )
            ),
        ),
        Case(
            "DELETE /products/{id}",
            "products",
            entry(deletable),
            _repeat(
                lambda n: build_event(
                    "DELETE", f"/products/{_product(n).id}", content_type=None, claims=admin
                )
            ),
        ),
    ]


def users(calls: int) -> list[Case]:
    count = calls + 100

    def entry(identity: FakeIdentityProvider) -> Any:
        return http_handler(lambda: users_app(identity=identity))

    def email(number: int) -> str:
        return f"customer{number}@example.com"

    def with_accounts(*, confirmed: bool, reset: bool = False) -> FakeIdentityProvider:
        identity = FakeIdentityProvider()
        for number in range(count):
            identity.sign_up(email(number), PASSWORD, "Customer")
            if confirmed:
                identity.confirm(email(number), identity.code_for(email(number)))
            if reset:
                identity.forgot_password(email(number))
        return identity

    def post(path: str, body: dict[str, Any]) -> Event:
        return build_event("POST", path, body=body)

    unconfirmed = with_accounts(confirmed=False)
    resets = with_accounts(confirmed=True, reset=True)
    signed_in = with_accounts(confirmed=True)
    tokens = signed_in.login(email(0), PASSWORD)
    me_headers = {"authorization": f"Bearer {tokens.access_token}"}
    login = {"email": email(0), "password": PASSWORD}
    return [
        Case(
            "POST /users/signup",
            "users",
            entry(FakeIdentityProvider()),
            _repeat(
                lambda n: post(
                    "/users/signup", {"email": email(n), "password": PASSWORD, "name": "New"}
                )
            ),
        ),
        Case(
            "POST /users/confirm",
            "users",
            entry(unconfirmed),
            _repeat(
                lambda n: post(
                    "/users/confirm",
                    {"email": email(n), "code": unconfirmed.code_for(email(n))},
                )
            ),
        ),
        Case(
            "POST /users/resend-code",
            "users",
            entry(with_accounts(confirmed=False)),
            _repeat(lambda _: post("/users/resend-code", {"email": email(0)})),
        ),
        Case(
            "POST /users/login",
            "users",
            entry(signed_in),
            _repeat(lambda _: post("/users/login", login)),
        ),
        Case(
            "POST /users/refresh",
            "users",
            entry(signed_in),
            _repeat(lambda _: post("/users/refresh", {"refreshToken": tokens.refresh_token})),
        ),
        Case(
            "POST /users/forgot-password",
            "users",
            entry(signed_in),
            _repeat(lambda _: post("/users/forgot-password", {"email": email(0)})),
        ),
        Case(
            "POST /users/reset-password",
            "users",
            entry(resets),
            _repeat(
                lambda n: post(
                    "/users/reset-password",
                    {
                        "email": email(n),
                        "code": resets.reset_code_for(email(n)),
                        "newPassword": PASSWORD + "!",
                    },
                )
            ),
        ),
        Case(
            "GET /users/me",
            "users",
            entry(signed_in),
            _repeat(
                lambda _: build_event(
                    "GET", "/users/me", claims=CUSTOMER_CLAIMS, headers=me_headers
                )
            ),
        ),
    ]


def orders(calls: int) -> list[Case]:
    priced = [PricedProduct(_product(n).id, f"Product {n}", Decimal("19.99")) for n in range(5)]
    lines = (
        OrderLine(priced[0].id, priced[0].name, priced[0].price, 2),
        OrderLine(priced[1].id, priced[1].name, priced[1].price, 1),
    )
    order_body = {
        "items": [{"productId": line.product_id, "quantity": line.quantity} for line in lines]
    }
    customer = CUSTOMER_CLAIMS

    def world() -> tuple[Handler, FakeOrdersDatabase]:
        database = FakeOrdersDatabase()
        steps = Steps(
            new_unit_of_work=database.new_unit_of_work,
            inventory=FakeInventory({product.id: 1_000_000 for product in priced}),
            payments=FakePaymentProvider(),
        )
        ports = OrdersPorts(
            new_unit_of_work=database.new_unit_of_work,
            catalogue=FakeCatalogue(priced),
            publisher=FakePublisher(),
            steps=steps,
        )
        return http_handler(lambda: orders_app(ports), order_keys), database

    def stored(database: FakeOrdersDatabase, status: OrderStatus) -> str:
        """A customer's order, put straight into the fake database: the store stays this small,
        as the fakes copy what they hold on some reads (a cost no real adapter has)."""
        database.orders.clear()
        order = Order(str(uuid.uuid4()), customer["sub"], status, None, lines, "tok_visa", NOW, NOW)
        database.orders[order.id] = order
        return order.id

    def acting_on(status: OrderStatus, action: str, claims: dict[str, str]) -> Case:
        handler, database = world()
        events = _repeat(
            lambda _: build_event(
                "POST", f"/orders/{stored(database, status)}/{action}", content_type=None,
                claims=claims,
            )
        )  # fmt: skip
        return Case(f"POST /orders/{{id}}/{action}", "orders", handler, events)

    def placing() -> Case:
        handler, database = world()

        def event(_: int) -> Event:
            database.orders.clear()
            database.outbox.clear()
            return build_event("POST", "/orders", body=order_body, claims=customer)

        return Case("POST /orders", "orders", handler, _repeat(event))

    listed, database = world()
    for _ in range(10):
        stored_id = str(uuid.uuid4())
        database.orders[stored_id] = Order(
            stored_id, customer["sub"], OrderStatus.PENDING, None, lines, "tok_visa", NOW, NOW
        )
    shown = next(iter(database.orders))
    return [
        placing(),
        Case(
            "GET /orders",
            "orders",
            listed,
            _repeat(lambda _: build_event("GET", "/orders", claims=customer)),
        ),
        Case(
            "GET /orders/{id}",
            "orders",
            listed,
            _repeat(lambda _: build_event("GET", f"/orders/{shown}", claims=customer)),
        ),
        acting_on(OrderStatus.PENDING, "cancel", customer),
        acting_on(OrderStatus.CONFIRMED, "ship", ADMIN_CLAIMS),
        acting_on(OrderStatus.SHIPPED, "deliver", ADMIN_CLAIMS),
    ]
