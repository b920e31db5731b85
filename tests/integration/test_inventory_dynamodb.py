"""Stock reservations on moto's DynamoDB: all lines or none, at most once, released at most once."""

import threading
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from services.common.errors import Throttled
from services.orders.inventory import OutOfStock, Reservation
from services.orders.inventory_dynamodb import DynamoDBInventory
from services.products import service
from services.products.domain import ProductFields
from services.products.dynamodb import DynamoDBProductRepository
from tests.integration.conftest import TABLE, one_request_at_a_time


@pytest.fixture
def products(dynamodb: Any) -> DynamoDBProductRepository:
    return DynamoDBProductRepository(dynamodb, TABLE)


@pytest.fixture
def inventory(dynamodb: Any) -> DynamoDBInventory:
    return DynamoDBInventory(dynamodb, TABLE)


def stocked(products: DynamoDBProductRepository, stock: int, name: str = "Lamp") -> str:
    fields = ProductFields(name=name, price=Decimal("10.00"), stock=stock, category="home")
    return service.create_product(products, fields).id


def stock_of(products: DynamoDBProductRepository, *ids: str) -> list[int]:
    return [products.get(product_id).stock for product_id in ids]


def test_reserving_takes_every_line_once_and_bumps_versions(products, inventory):
    lamp, desk = stocked(products, 5), stocked(products, 2, "Desk")

    reservation = inventory.reserve("order-1", [(lamp, 2), (desk, 2)])

    assert reservation == Reservation("order-1", ((lamp, 2), (desk, 2)), released=False)
    assert stock_of(products, lamp, desk) == [3, 0]
    assert products.get(lamp).version == 2  # an ETag taken before the reservation is stale
    assert inventory.get("order-1") == reservation


def test_a_repeated_reservation_takes_nothing_more(products, inventory):
    lamp = stocked(products, 5)
    first = inventory.reserve("order-1", [(lamp, 2)])

    again = inventory.reserve("order-1", [(lamp, 2)])

    assert again == first
    assert stock_of(products, lamp) == [3]


def test_one_short_line_reserves_nothing_and_names_it(products, inventory):
    lamp, desk = stocked(products, 5), stocked(products, 1, "Desk")

    with pytest.raises(OutOfStock) as refused:
        inventory.reserve("order-1", [(lamp, 2), (desk, 3)])

    assert refused.value.product_ids == (desk,)
    assert stock_of(products, lamp, desk) == [5, 1]
    assert inventory.get("order-1") is None


def test_a_deleted_product_is_out_of_stock(products, inventory):
    lamp = stocked(products, 5)
    products.delete(lamp, None)

    with pytest.raises(OutOfStock):
        inventory.reserve("order-1", [(lamp, 1)])


def test_release_gives_the_stock_back_once(products, inventory):
    lamp, desk = stocked(products, 5), stocked(products, 4, "Desk")
    inventory.reserve("order-1", [(lamp, 2), (desk, 1)])

    assert inventory.release("order-1") is True
    assert inventory.release("order-1") is False

    assert stock_of(products, lamp, desk) == [5, 4]
    released = inventory.get("order-1")
    assert released is not None
    assert released.released
    # A late repeat of the reservation must not take the stock again.
    assert inventory.reserve("order-1", [(lamp, 2), (desk, 1)]).released
    assert stock_of(products, lamp, desk) == [5, 4]


def test_releasing_what_was_never_reserved_changes_nothing(products, inventory):
    lamp = stocked(products, 5)

    assert inventory.release("order-unknown") is False
    assert stock_of(products, lamp) == [5]


def test_release_skips_a_product_deleted_since(products, inventory):
    lamp, desk = stocked(products, 5), stocked(products, 4, "Desk")
    inventory.reserve("order-1", [(lamp, 2), (desk, 1)])
    products.delete(desk, None)

    assert inventory.release("order-1") is True
    assert stock_of(products, lamp) == [5]
    assert inventory.get("order-1").released


def test_concurrent_orders_never_oversell(products, aws_session):
    lamp = stocked(products, 3)
    # One client per container, made before the threads start (a session is not thread-safe).
    inventories = [
        DynamoDBInventory(one_request_at_a_time(aws_session.client("dynamodb")), TABLE)
        for _ in range(8)
    ]
    outcomes: list[str] = []
    lock = threading.Lock()

    def buy(number: int) -> None:
        try:
            inventories[number].reserve(f"order-{number}", [(lamp, 1)])
            result = "reserved"
        except OutOfStock:
            result = "out"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["out"] * 5 + ["reserved"] * 3
    assert stock_of(products, lamp) == [0]


class Contended:
    """moto's client, but each transaction is cancelled the way a busy DynamoDB cancels it."""

    def __init__(self, client: Any, *reasons: str) -> None:
        self._client = client
        self._reasons = reasons

    def transact_write_items(self, **request: Any) -> Any:
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": code} for code in self._reasons],
            },
            "TransactWriteItems",
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


CONTENTION = [
    ("TransactionConflict", "None"),  # another transaction held a product
    ("None", "TransactionConflict"),  # ... or the reservation record
    ("ThrottlingError", "None"),
    ("ProvisionedThroughputExceeded", "TransactionConflict"),
]


@pytest.mark.parametrize("reasons", CONTENTION)
def test_a_reservation_cancelled_by_contention_is_busy_for_now_not_out_of_stock(
    dynamodb, products, reasons
):
    product_id = stocked(products, 5)

    with pytest.raises(Throttled):  # a DependencyUnavailable: the step retries it
        DynamoDBInventory(Contended(dynamodb, *reasons), TABLE).reserve("o", [(product_id, 2)])

    assert stock_of(products, product_id) == [5]


@pytest.mark.parametrize("reasons", CONTENTION)
def test_a_release_cancelled_by_contention_is_busy_for_now_and_a_retry_gives_back_once(
    dynamodb, products, inventory, reasons
):
    product_id = stocked(products, 5)
    inventory.reserve("o", [(product_id, 2)])

    with pytest.raises(Throttled):
        DynamoDBInventory(Contended(dynamodb, *reasons), TABLE).release("o")

    assert stock_of(products, product_id) == [3]
    assert inventory.release("o") is True
    assert stock_of(products, product_id) == [5]
