"""In-memory fakes that subclass the real ports, so the rules can be tested without I/O."""

import base64
import binascii
import dataclasses
import json
from typing import Any

from services.products.domain import (
    InvalidCursor,
    Product,
    ProductFields,
    ProductNotFound,
    StaleVersion,
)
from services.products.ports import Page, ProductRepository


class FakeProductRepository(ProductRepository):
    """Honours the ProductRepository contract: versions, newest first, categories and cursors."""

    def __init__(self, products: list[Product] | None = None) -> None:
        self._products: dict[str, Product] = {}
        for product in products or []:
            self.add(product)

    def add(self, product: Product) -> None:
        if product.id in self._products:
            raise ValueError(f"a product with the id {product.id} is already stored")
        self._products[product.id] = product

    def get(self, product_id: str) -> Product:
        try:
            return self._products[product_id]
        except KeyError:
            raise ProductNotFound(product_id) from None

    def update(
        self, product_id: str, fields: ProductFields, expected_version: int | None, now: str
    ) -> Product:
        current = self._checked(product_id, expected_version)
        changes: dict[str, Any] = dict(fields)
        updated = dataclasses.replace(
            current, **changes, updated_at=now, version=current.version + 1
        )
        self._products[product_id] = updated
        return updated

    def delete(self, product_id: str, expected_version: int | None) -> None:
        self._checked(product_id, expected_version)
        del self._products[product_id]

    def list(self, category: str | None, limit: int, cursor: str | None) -> Page:
        partition = category if category is not None else "*"
        ordered = sorted(
            (p for p in self._products.values() if category is None or p.category == category),
            key=_position,
            reverse=True,
        )
        if cursor is not None:
            after = _decode(cursor, partition)
            ordered = [p for p in ordered if _position(p) < after]
        page = ordered[:limit]
        more = len(ordered) > limit
        return Page(page, _encode(_position(page[-1]), partition) if more else None)

    def _checked(self, product_id: str, expected_version: int | None) -> Product:
        current = self.get(product_id)
        if expected_version is not None and current.version != expected_version:
            raise StaleVersion(product_id, expected_version)
        return current


def _position(product: Product) -> tuple[str, str]:
    return (product.created_at, product.id)


def _encode(position: tuple[str, str], partition: str) -> str:
    raw = json.dumps({"p": partition, "k": list(position)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str, partition: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(data, dict) or data.get("p") != partition:
        raise InvalidCursor()
    key = data.get("k")
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise InvalidCursor()
    return (key[0], key[1])
