"""The port the catalogue rules need from storage; adapters and test fakes implement it."""

from abc import ABC, abstractmethod
from dataclasses import dataclass

from services.products.domain import Product, ProductFields


@dataclass(frozen=True)
class Page:
    items: list[Product]
    next_cursor: str | None


class ProductRepository(ABC):
    @abstractmethod
    def add(self, product: Product) -> None:
        """Store a new product."""

    @abstractmethod
    def get(self, product_id: str) -> Product:
        """The product, or ProductNotFound."""

    @abstractmethod
    def update(
        self, product_id: str, fields: ProductFields, expected_version: int | None, now: str
    ) -> Product:
        """Apply `fields` and bump the version in one atomic write.

        Raises ProductNotFound, or StaleVersion when `expected_version` is given and differs.
        A `description` of None removes it.
        """

    @abstractmethod
    def delete(self, product_id: str, expected_version: int | None) -> None:
        """Remove the product; ProductNotFound or StaleVersion as for update."""

    @abstractmethod
    def list(self, category: str | None, limit: int, cursor: str | None) -> Page:
        """Newest first; one category when given. InvalidCursor for a cursor not issued here."""
