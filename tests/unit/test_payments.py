"""The simulated provider's rules, the checks on what may be charged, and the in-memory fake."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.common.errors import Conflict, DependencyUnavailable, DomainError
from services.orders.payments import (
    Charge,
    ChargeMismatch,
    ChargeStatus,
    Outcome,
    PaymentDeclined,
    PaymentTemporarilyFailed,
    checked_amount,
    masked,
    simulated_outcome,
)
from tests.unit.fakes import FakePaymentProvider

CARD = "tok_4242424242424242"


def at_noon() -> datetime:
    return datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("token", "attempt", "outcome"),
    [
        ("tok_visa", 1, Outcome.CHARGE),
        ("tok_visa", 4, Outcome.CHARGE),
        (CARD, 1, Outcome.CHARGE),
        ("tok_decline", 1, Outcome.DECLINE),
        ("tok_decline", 2, Outcome.DECLINE),  # final: a retry is declined again
        ("tok_flaky", 1, Outcome.TRANSIENT),
        ("tok_flaky", 2, Outcome.CHARGE),
        ("tok_flaky", 3, Outcome.CHARGE),
        ("TOK_DECLINE", 1, Outcome.CHARGE),  # tokens are matched exactly
    ],
)
def test_simulated_outcomes(token, attempt, outcome):
    assert simulated_outcome(token, attempt) == outcome


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_count_from_one(attempt):
    with pytest.raises(ValueError, match="from 1"):
        simulated_outcome("tok_visa", attempt)


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        (Decimal("129.99"), Decimal("129.99")),
        (Decimal("10.5"), Decimal("10.50")),
        (Decimal("7"), Decimal("7.00")),
        (Decimal("1.500"), Decimal("1.50")),
        (Decimal("0.01"), Decimal("0.01")),
    ],
)
def test_amounts_are_kept_in_cents(amount, cents):
    checked = checked_amount(amount, "USD", "tok_visa")

    assert checked == cents
    assert checked.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("0"),
        Decimal("-0.01"),
        Decimal("1.001"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1E+30"),
        1.5,
        10,
        "10.00",
    ],
)
def test_an_amount_no_order_can_have_is_a_programming_error(amount):
    with pytest.raises(ValueError, match=r"amount|decimals|large"):
        checked_amount(amount, "USD", "tok_visa")


@pytest.mark.parametrize(
    ("currency", "token"), [("EUR", "tok_visa"), ("usd", "tok_visa"), ("USD", "")]
)
def test_only_dollars_with_a_token_are_charged(currency, token):
    with pytest.raises(ValueError, match=r"USD|token"):
        checked_amount(Decimal("1.00"), currency, token)


@pytest.mark.parametrize(
    ("token", "shown"), [("tok_visa", "tok_***"), (CARD, "tok_***"), ("4242424242424242", "***")]
)
def test_logs_show_at_most_the_token_prefix(token, shown):
    assert masked(token) == shown


def charge_of(amount: str = "20.00", token: str = CARD) -> Charge:
    return Charge(
        "order-1", Decimal(amount), "USD", token, ChargeStatus.CHARGED, "t", None, attempts=1
    )


def test_a_charge_never_prints_its_token():
    assert "4242" not in repr(charge_of())
    assert "4242" not in str(charge_of())


def test_a_repeat_with_the_same_amount_and_token_is_the_same_charge():
    charge = charge_of()

    assert charge.repeated(Decimal("20"), CARD) is charge


@pytest.mark.parametrize(("amount", "token"), [("20.01", CARD), ("20.00", "tok_visa")])
def test_a_repeat_with_another_amount_or_token_is_a_mismatch(amount, token):
    with pytest.raises(ChargeMismatch) as mismatch:
        charge_of().repeated(Decimal(amount), token)

    assert "4242" not in mismatch.value.detail


def test_error_kinds_tell_the_workflow_what_to_do():
    declined, transient, mismatch = (
        PaymentDeclined("o"),
        PaymentTemporarilyFailed("o"),
        ChargeMismatch("o"),
    )

    assert isinstance(declined, DomainError)
    assert not isinstance(declined, DependencyUnavailable)  # final: never retried
    assert isinstance(transient, DependencyUnavailable)  # retried with backoff
    assert transient.retry_after > 0
    assert isinstance(mismatch, Conflict)


def test_the_fake_records_each_movement_of_money_once():
    provider = FakePaymentProvider(at_noon)

    first = provider.charge("order-1", Decimal("20.00"), "USD", "tok_visa")
    provider.charge("order-1", Decimal("20.00"), "USD", "tok_visa")
    refunded = provider.refund("order-1")
    provider.refund("order-1")

    assert provider.charges == [first]
    assert provider.refunds == [refunded]
    assert first.charged_at == "2026-03-01T12:00:00.000Z"


def test_a_failing_fake_is_unavailable_and_moves_nothing():
    provider = FakePaymentProvider(at_noon)
    provider.failing = True

    with pytest.raises(DependencyUnavailable):
        provider.charge("order-1", Decimal("20.00"), "USD", "tok_visa")
    with pytest.raises(DependencyUnavailable):
        provider.refund("order-1")

    provider.failing = False
    assert provider.get("order-1") is None
    assert provider.charges == []
