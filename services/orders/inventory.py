"""Stock held for orders: the port the fulfilment steps use, and its errors. No I/O here."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from services.common.errors import Conflict

Lines = Sequence[tuple[str, int]]  # (product id, quantity)


@dataclass(frozen=True)
class Reservation:
    order_id: str
    lines: tuple[tuple[str, int], ...]
    released: bool


class OutOfStock(Conflict):
    """Not enough stock for some lines: nothing was reserved for any line."""

    def __init__(self, product_ids: Sequence[str]) -> None:
        super().__init__(f"Not enough stock for {', '.join(sorted(product_ids))}.")
        self.product_ids = tuple(sorted(product_ids))


class Inventory(ABC):
    @abstractmethod
    def reserve(self, order_id: str, lines: Lines) -> Reservation:
        """Take the stock of every line, or of none (OutOfStock), at most once per order.

        A repeat for an order already reserved returns the existing reservation and takes
        nothing more; a repeat after a release returns the released reservation.
        """

    @abstractmethod
    def release(self, order_id: str) -> bool:
        """Give an order's stock back, at most once; False when there was nothing to give back."""

    @abstractmethod
    def get(self, order_id: str) -> Reservation | None: ...
