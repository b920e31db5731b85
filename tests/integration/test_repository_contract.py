"""One contract, two implementations: the DynamoDB adapter (on moto) and the unit tests' fake.

Running the same tests on both keeps the fake honest, so rules tested with it hold in production.
"""

import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.products.domain import InvalidCursor, Product, ProductNotFound, StaleVersion
from services.products.dynamodb import DynamoDBProductRepository
from services.products.ports import ProductRepository
from tests.integration.conftest import TABLE
from tests.unit.fakes import FakeProductRepository

NOW = "2026-03-01T09:30:15.123Z"
LATER = "2026-03-01T09:35:00.000Z"


@pytest.fixture(params=["dynamodb", "fake"])
def repository(request: pytest.FixtureRequest) -> ProductRepository:
    if request.param == "fake":
        return FakeProductRepository()
    client: Any = request.getfixturevalue("dynamodb")
    return DynamoDBProductRepository(client, TABLE)


def product(minute: int = 0, category: str = "shoes", **fields: Any) -> Product:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": "Trail shoe",
        "price": Decimal("129.99"),
        "stock": 10,
        "category": category,
        "description": "Grippy.",
        "created_at": f"2026-03-01T09:{minute:02d}:00.000Z",
        "updated_at": f"2026-03-01T09:{minute:02d}:00.000Z",
        "version": 1,
        **fields,
    }
    return Product(**values)


def test_what_is_added_is_got_back_equal(repository):
    shoe = product()
    bare = product(description=None, price=Decimal("0.10"))

    repository.add(shoe)
    repository.add(bare)

    assert repository.get(shoe.id) == shoe
    assert repository.get(bare.id) == bare


def test_an_absent_product_is_not_found(repository):
    with pytest.raises(ProductNotFound):
        repository.get(str(uuid.uuid4()))


def test_update_applies_the_fields_and_bumps_the_version(repository):
    shoe = product()
    repository.add(shoe)

    updated = repository.update(shoe.id, {"stock": 0, "name": "Old shoe"}, None, LATER)

    assert updated == Product(
        **{**shoe.__dict__, "stock": 0, "name": "Old shoe", "updated_at": LATER, "version": 2}
    )
    assert repository.get(shoe.id) == updated


def test_update_with_description_none_removes_it(repository):
    shoe = product()
    repository.add(shoe)

    updated = repository.update(shoe.id, {"description": None}, 1, LATER)

    assert updated.description is None
    assert repository.get(shoe.id).description is None


@pytest.mark.parametrize("expected", [None, 1])
def test_update_of_an_absent_product_is_not_found(repository, expected):
    with pytest.raises(ProductNotFound):
        repository.update(str(uuid.uuid4()), {"stock": 1}, expected, LATER)


def test_a_stale_update_raises_and_changes_nothing(repository):
    shoe = product()
    repository.add(shoe)
    current = repository.update(shoe.id, {"stock": 5}, 1, LATER)

    with pytest.raises(StaleVersion):
        repository.update(shoe.id, {"stock": 9}, 1, LATER)

    assert repository.get(shoe.id) == current


def test_delete_removes_the_product(repository):
    shoe = product()
    repository.add(shoe)

    repository.delete(shoe.id, 1)

    with pytest.raises(ProductNotFound):
        repository.get(shoe.id)


@pytest.mark.parametrize("expected", [None, 1])
def test_delete_of_an_absent_product_is_not_found(repository, expected):
    with pytest.raises(ProductNotFound):
        repository.delete(str(uuid.uuid4()), expected)


def test_a_stale_delete_raises_and_keeps_the_product(repository):
    shoe = product()
    repository.add(shoe)

    with pytest.raises(StaleVersion):
        repository.delete(shoe.id, 2)

    assert repository.get(shoe.id) == shoe


def test_list_is_newest_first_and_filters_by_category(repository):
    made = [product(minute, "odd" if minute % 2 else "even") for minute in range(5)]
    for item in made:
        repository.add(item)

    everything = repository.list(None, 10, None)
    odd = repository.list("odd", 10, None)

    assert everything.items == made[::-1]
    assert everything.next_cursor is None
    assert odd.items == [made[3], made[1]]
    assert repository.list("none-such", 10, None).items == []


def test_products_made_in_the_same_millisecond_are_all_listed_once(repository):
    made = [product(0) for _ in range(5)]
    for item in made:
        repository.add(item)

    first = repository.list(None, 2, None)
    second = repository.list(None, 2, first.next_cursor)
    third = repository.list(None, 2, second.next_cursor)

    seen = [p.id for p in first.items + second.items + third.items]
    assert sorted(seen) == sorted(p.id for p in made)
    assert seen == sorted(seen, reverse=True)
    assert third.next_cursor is None


@pytest.mark.parametrize("category", [None, "even"])
def test_cursors_walk_every_product_once(repository, category):
    made = [product(minute, "odd" if minute % 3 == 0 else "even") for minute in range(10)]
    for item in made:
        repository.add(item)
    expected = [p for p in made[::-1] if category is None or p.category == category]

    seen: list[Product] = []
    cursor = None
    for _ in range(len(expected) + 1):
        page = repository.list(category, 3, cursor)
        assert len(page.items) <= 3
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == expected


def test_a_cursor_from_another_category_is_invalid(repository):
    for minute in range(3):
        repository.add(product(minute, "shoes"))
    shoes = repository.list("shoes", 1, None).next_cursor
    everything = repository.list(None, 1, None).next_cursor
    assert shoes is not None
    assert everything is not None

    for category, cursor in [("hats", shoes), (None, shoes), ("shoes", everything)]:
        with pytest.raises(InvalidCursor):
            repository.list(category, 1, cursor)


@pytest.mark.parametrize("cursor", ["garbage!!", "e30", "W10", "bm90IGpzb24"])
def test_a_cursor_not_issued_here_is_invalid(repository, cursor):
    repository.add(product())

    with pytest.raises(InvalidCursor):
        repository.list(None, 1, cursor)
