"""The catalogue's rules. Ports come in as arguments; nothing here knows HTTP or DynamoDB."""

import uuid

from services.common.clock import Clock, timestamp, utc_now
from services.common.errors import FieldError, ValidationFailed
from services.products.domain import Product, ProductFields
from services.products.ports import Page, ProductRepository


def list_products(
    repository: ProductRepository, *, category: str | None, limit: int, cursor: str | None
) -> Page:
    return repository.list(category, limit, cursor)


def get_product(repository: ProductRepository, product_id: str) -> Product:
    return repository.get(product_id)


def create_product(
    repository: ProductRepository, fields: ProductFields, clock: Clock = utc_now
) -> Product:
    now = timestamp(clock())
    product = Product(
        id=str(uuid.uuid4()),
        name=fields["name"],
        price=fields["price"],
        stock=fields["stock"],
        category=fields["category"],
        description=fields.get("description"),
        created_at=now,
        updated_at=now,
        version=1,
    )
    repository.add(product)
    return product


def replace_product(
    repository: ProductRepository,
    product_id: str,
    fields: ProductFields,
    expected_version: int | None,
    clock: Clock = utc_now,
) -> Product:
    """Replace every mutable field; a description left out is removed."""
    complete: ProductFields = {**fields, "description": fields.get("description")}
    return repository.update(product_id, complete, expected_version, timestamp(clock()))


def patch_product(
    repository: ProductRepository,
    product_id: str,
    changes: ProductFields,
    expected_version: int | None,
    clock: Clock = utc_now,
) -> Product:
    if not changes:
        raise ValidationFailed([FieldError("body", "name at least one field to change")])
    return repository.update(product_id, changes, expected_version, timestamp(clock()))


def delete_product(
    repository: ProductRepository, product_id: str, expected_version: int | None
) -> None:
    repository.delete(product_id, expected_version)
