"""The product and the errors the catalogue can raise. No I/O here."""

from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from services.common.errors import BadRequest, NotFound, PreconditionFailed


class ProductFields(TypedDict, total=False):
    """The mutable fields of a product; a patch carries any subset of them."""

    name: str
    price: Decimal
    stock: int
    category: str
    description: str | None


MUTABLE_FIELDS: tuple[str, ...] = tuple(ProductFields.__annotations__)


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: Decimal
    stock: int
    category: str
    description: str | None
    created_at: str
    updated_at: str
    version: int


class ProductNotFound(NotFound):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"No product has the id {product_id!r}.")


class StaleVersion(PreconditionFailed):
    def __init__(self, product_id: str, expected: int) -> None:
        super().__init__(
            f"Product {product_id} is no longer at version {expected}; fetch it and retry."
        )


class InvalidCursor(BadRequest):
    def __init__(self) -> None:
        super().__init__("The cursor is not one this API issued; start again without it.")
