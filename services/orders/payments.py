"""Payments: an order's charge, the provider port, its errors and the simulated rules. No I/O."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from services.common.errors import Conflict, DependencyUnavailable, DomainError
from services.orders.domain import CURRENCY

DECLINED_TOKEN = "tok_decline"  # noqa: S105 (the simulated provider's test cards, not secrets)
FLAKY_TOKEN = "tok_flaky"  # noqa: S105
_TOKEN_PREFIX = "tok_"  # noqa: S105
CENT = Decimal("0.01")


class ChargeStatus(StrEnum):
    CHARGED = "CHARGED"
    REFUNDED = "REFUNDED"


class Outcome(StrEnum):
    CHARGE = "charge"
    DECLINE = "decline"
    TRANSIENT = "transient"


class PaymentDeclined(DomainError):
    """A final refusal: retrying with the same token will not charge."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"The payment for order {order_id} was declined.")
        self.order_id = order_id


class PaymentTemporarilyFailed(DependencyUnavailable):
    """The provider could not charge just now and charged nothing; retry with backoff."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"The payment for order {order_id} failed for now; retry shortly.")
        self.order_id = order_id


class ChargeMismatch(Conflict):
    """The order was charged before with another amount or token; nothing more is charged."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} was already charged with another amount or token.")
        self.order_id = order_id


@dataclass(frozen=True)
class Charge:
    """The money taken for one order: at most one charge per order, refunded at most once."""

    order_id: str
    amount: Decimal
    currency: str
    token: str = field(repr=False)  # kept out of reprs and logs: see masked()
    status: ChargeStatus
    charged_at: str
    refunded_at: str | None
    attempts: int  # provider calls it took, the transient failures before it included

    def repeated(self, amount: Decimal, token: str) -> "Charge":
        """This charge, as the answer to charging its order again; ChargeMismatch if it differs."""
        if self.amount != amount or self.token != token:
            raise ChargeMismatch(self.order_id)
        return self


class PaymentProvider(ABC):
    @abstractmethod
    def charge(self, order_id: str, amount: Decimal, currency: str, token: str) -> Charge:
        """Charge the order at most once, whatever the retries and concurrency.

        A repeat with the same amount and token returns the existing charge (refunded or not)
        and charges nothing; with another amount or token it raises ChargeMismatch. Raises
        PaymentDeclined for a final refusal and PaymentTemporarilyFailed when a retry may succeed.
        """

    @abstractmethod
    def refund(self, order_id: str) -> Charge | None:
        """Refund the order's charge at most once: the refunded charge, also on a repeat.

        None when the order was never charged.
        """

    @abstractmethod
    def get(self, order_id: str) -> Charge | None: ...


def simulated_outcome(token: str, attempt: int) -> Outcome:
    """What the simulated provider does with the `attempt`-th call (from 1) to charge an order."""
    if attempt < 1:
        raise ValueError(f"attempts count from 1, not {attempt}")
    if token == DECLINED_TOKEN:
        return Outcome.DECLINE
    if token == FLAKY_TOKEN and attempt == 1:
        return Outcome.TRANSIENT
    return Outcome.CHARGE


def checked_amount(amount: Decimal, currency: str, token: str) -> Decimal:
    """The amount in cents, checked. A ValueError is a caller's bug: orders are checked on entry."""
    if currency != CURRENCY:
        raise ValueError(f"only {CURRENCY} is charged, not {currency!r}")
    if not isinstance(token, str) or not token:
        raise ValueError("a payment token is required")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValueError(f"an amount is a positive Decimal, not {amount!r}")
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation:
        raise ValueError(f"{amount} is too large to charge") from None
    if cents != amount:
        raise ValueError(f"{amount} has more than two decimals")
    return cents


def masked(token: str) -> str:
    """A token as logs may show it: the `tok_` prefix at most."""
    return (_TOKEN_PREFIX if token.startswith(_TOKEN_PREFIX) else "") + "***"
