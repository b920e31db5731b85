"""The catalogue's rules, with an in-memory repository and a fixed clock."""

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.common.clock import Clock, timestamp
from services.common.errors import ValidationFailed
from services.products import service
from services.products.domain import InvalidCursor, ProductFields, ProductNotFound, StaleVersion
from tests.unit.fakes import FakeProductRepository

CREATED = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
LATER = CREATED + timedelta(minutes=5)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

SHOE: ProductFields = {
    "name": "Trail shoe",
    "price": Decimal("129.99"),
    "stock": 10,
    "category": "shoes",
    "description": "Grippy.",
}


def at(moment: datetime) -> Clock:
    return lambda: moment


@pytest.fixture
def repository() -> FakeProductRepository:
    return FakeProductRepository()


def test_create_assigns_a_uuid_version_one_and_utc_timestamps(repository):
    product = service.create_product(repository, SHOE, clock=at(CREATED))

    assert uuid.UUID(product.id).version == 4
    assert product.version == 1
    assert product.created_at == product.updated_at == "2026-03-01T09:30:15.123Z"
    assert (product.name, product.price, product.stock, product.category) == (
        "Trail shoe",
        Decimal("129.99"),
        10,
        "shoes",
    )
    assert product.description == "Grippy."
    assert repository.get(product.id) == product


def test_create_without_description_stores_none(repository):
    fields: ProductFields = {"name": "Sock", "price": Decimal(5), "stock": 1, "category": "socks"}

    product = service.create_product(repository, fields, clock=at(CREATED))

    assert product.description is None


def test_each_created_product_gets_its_own_id(repository):
    ids = {service.create_product(repository, SHOE).id for _ in range(5)}

    assert len(ids) == 5


def test_default_clock_gives_a_z_timestamp(repository):
    product = service.create_product(repository, SHOE)

    assert TIMESTAMP.match(product.created_at)


def test_timestamp_converts_to_utc_with_milliseconds_and_z():
    two_hours_east = timezone(timedelta(hours=2))
    moment = datetime(2026, 1, 1, 14, 0, 0, 999999, tzinfo=two_hours_east)

    assert timestamp(moment) == "2026-01-01T12:00:00.999Z"


def test_replace_removes_an_omitted_description_and_bumps_the_version(repository):
    created = service.create_product(repository, SHOE, clock=at(CREATED))
    replacement: ProductFields = {
        "name": "Road shoe",
        "price": Decimal("99.50"),
        "stock": 3,
        "category": "running",
    }

    replaced = service.replace_product(repository, created.id, replacement, None, clock=at(LATER))

    assert replaced.description is None
    assert (replaced.name, replaced.price, replaced.stock, replaced.category) == (
        "Road shoe",
        Decimal("99.50"),
        3,
        "running",
    )
    assert replaced.version == 2
    assert replaced.created_at == created.created_at
    assert replaced.updated_at == "2026-03-01T09:35:15.123Z"
    assert repository.get(created.id) == replaced


def test_replace_with_the_current_version_succeeds(repository):
    created = service.create_product(repository, SHOE)

    replaced = service.replace_product(repository, created.id, SHOE, expected_version=1)

    assert replaced.version == 2


def test_patch_changes_only_the_given_fields(repository):
    created = service.create_product(repository, SHOE, clock=at(CREATED))

    patched = service.patch_product(repository, created.id, {"stock": 0}, None, clock=at(LATER))

    assert patched.stock == 0
    assert (patched.name, patched.price, patched.category, patched.description) == (
        created.name,
        created.price,
        created.category,
        created.description,
    )
    assert patched.version == 2
    assert patched.created_at == created.created_at
    assert patched.updated_at == "2026-03-01T09:35:15.123Z"


def test_patch_with_description_none_removes_it(repository):
    created = service.create_product(repository, SHOE)

    patched = service.patch_product(repository, created.id, {"description": None}, None)

    assert patched.description is None
    assert patched.name == created.name


def test_empty_patch_is_a_validation_failure_and_changes_nothing(repository):
    created = service.create_product(repository, SHOE)

    with pytest.raises(ValidationFailed) as failure:
        service.patch_product(repository, created.id, {}, None)

    assert [error.field for error in failure.value.errors] == ["body"]
    assert repository.get(created.id) == created


@pytest.mark.parametrize(
    "write",
    [
        lambda repo, pid: service.replace_product(repo, pid, SHOE, expected_version=7),
        lambda repo, pid: service.patch_product(repo, pid, {"stock": 1}, expected_version=7),
        lambda repo, pid: service.delete_product(repo, pid, expected_version=7),
    ],
    ids=["replace", "patch", "delete"],
)
def test_stale_expected_version_raises_and_changes_nothing(repository, write):
    created = service.create_product(repository, SHOE)
    patched = service.patch_product(repository, created.id, {"stock": 2}, None)

    with pytest.raises(StaleVersion):
        write(repository, created.id)

    assert repository.get(created.id) == patched


def test_a_second_writer_with_the_same_version_is_refused(repository):
    created = service.create_product(repository, SHOE)
    first = service.patch_product(repository, created.id, {"stock": 1}, expected_version=1)

    with pytest.raises(StaleVersion):
        service.patch_product(repository, created.id, {"stock": 99}, expected_version=1)

    assert repository.get(created.id) == first


def test_delete_then_get_is_not_found(repository):
    created = service.create_product(repository, SHOE)

    service.delete_product(repository, created.id, expected_version=1)

    with pytest.raises(ProductNotFound):
        service.get_product(repository, created.id)


@pytest.mark.parametrize(
    "write",
    [
        lambda repo, pid: service.get_product(repo, pid),
        lambda repo, pid: service.replace_product(repo, pid, SHOE, None),
        lambda repo, pid: service.patch_product(repo, pid, {"stock": 1}, None),
        lambda repo, pid: service.delete_product(repo, pid, None),
        lambda repo, pid: service.delete_product(repo, pid, expected_version=1),
    ],
    ids=["get", "replace", "patch", "delete", "delete-with-version"],
)
def test_an_absent_product_is_not_found(repository, write):
    with pytest.raises(ProductNotFound):
        write(repository, str(uuid.uuid4()))


def test_list_is_newest_first_and_filters_by_category(repository):
    made = [
        service.create_product(
            repository,
            {**SHOE, "category": "shoes" if minute % 2 else "socks"},
            clock=at(CREATED + timedelta(minutes=minute)),
        )
        for minute in range(4)
    ]

    everything = service.list_products(repository, category=None, limit=10, cursor=None)
    socks = service.list_products(repository, category="socks", limit=10, cursor=None)

    assert everything.items == made[::-1]
    assert everything.next_cursor is None
    assert socks.items == [made[2], made[0]]


def test_list_pages_with_a_cursor_until_the_last_page(repository):
    made = [
        service.create_product(repository, SHOE, clock=at(CREATED + timedelta(seconds=second)))
        for second in range(5)
    ]

    first = service.list_products(repository, category=None, limit=2, cursor=None)
    second = service.list_products(repository, category=None, limit=2, cursor=first.next_cursor)
    third = service.list_products(repository, category=None, limit=2, cursor=second.next_cursor)

    assert [p.id for p in first.items + second.items + third.items] == [p.id for p in made[::-1]]
    assert third.next_cursor is None


def test_a_cursor_from_another_category_is_refused(repository):
    for category in ("shoes", "shoes", "socks"):
        service.create_product(repository, {**SHOE, "category": category})
    shoes = service.list_products(repository, category="shoes", limit=1, cursor=None)
    assert shoes.next_cursor is not None

    with pytest.raises(InvalidCursor):
        service.list_products(repository, category="socks", limit=1, cursor=shoes.next_cursor)
