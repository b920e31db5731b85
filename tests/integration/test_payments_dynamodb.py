"""One payment contract, two implementations: the DynamoDB provider (on moto) and the unit tests'
fake; then what only the DynamoDB provider can get wrong: its items, its neighbours in the table,
its logs and SDK failures.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from services.common.dynamodb import from_item, to_item
from services.common.errors import DependencyUnavailable, Throttled
from services.orders.payments import (
    Charge,
    ChargeMismatch,
    ChargeStatus,
    PaymentDeclined,
    PaymentProvider,
    PaymentTemporarilyFailed,
)
from services.orders.payments_dynamodb import DynamoDBPaymentProvider
from services.products import table
from tests.integration.conftest import TABLE, one_request_at_a_time
from tests.unit.fakes import FakePaymentProvider

ORDER = "3f1c2b9a-6d4e-4f8a-9b7c-1e2d3c4b5a69"
OTHER_ORDER = "8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d"
PRICE = Decimal("129.99")
CARD = "tok_4242424242424242"
VISA = "tok_visa"


class Ticking:
    """A clock that moves on a second at every reading, so a second charge would show."""

    def __init__(self) -> None:
        self._now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=1)
            return self._now


@dataclass
class Payments:
    """Providers over one store, as separate containers would have, and the charges it took."""

    new: Callable[[], PaymentProvider]
    charges_taken: Callable[[], int]
    provider: PaymentProvider = field(init=False)

    def __post_init__(self) -> None:
        self.provider = self.new()


def dynamodb_payments(session: boto3.session.Session, clock: Ticking) -> Payments:
    taken: list[int] = []

    def count_charges(parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("Attributes", {}).get("status") == {"S": "CHARGED"}:
            taken.append(1)  # an UpdateItem that wrote a charge: money moved

    def new() -> PaymentProvider:
        client = session.client("dynamodb")
        one_request_at_a_time(client)
        client.meta.events.register("after-call.dynamodb.UpdateItem", count_charges)
        return DynamoDBPaymentProvider(client, TABLE, clock)

    return Payments(new, lambda: len(taken))


def fake_payments(clock: Ticking) -> Payments:
    fake = FakePaymentProvider(clock)
    return Payments(lambda: fake, lambda: len(fake.charges))


@pytest.fixture(params=["dynamodb", "fake"])
def payments(request: pytest.FixtureRequest, aws_session: boto3.session.Session) -> Payments:
    if request.param == "fake":
        return fake_payments(Ticking())
    request.getfixturevalue("dynamodb")  # moto, with the table
    return dynamodb_payments(aws_session, Ticking())


@pytest.fixture
def provider(payments: Payments) -> PaymentProvider:
    return payments.provider


def charge(provider: PaymentProvider, token: str = VISA, amount: Decimal = PRICE) -> Charge:
    return provider.charge(ORDER, amount, "USD", token)


# --- the contract ---------------------------------------------------------------------------


def test_a_charge_is_taken_once_and_read_back(payments, provider):
    taken = charge(provider, CARD)

    assert taken == Charge(
        order_id=ORDER,
        amount=PRICE,
        currency="USD",
        token=CARD,
        status=ChargeStatus.CHARGED,
        charged_at="2026-03-01T09:30:01.000Z",
        refunded_at=None,
        attempts=1,
    )
    assert provider.get(ORDER) == taken
    assert payments.charges_taken() == 1


def test_a_repeat_returns_the_same_charge_and_charges_nothing_more(payments, provider):
    first = charge(provider)

    again = charge(provider)
    in_cents = charge(provider, amount=Decimal("129.990"))

    assert again == first
    assert in_cents == first
    assert provider.get(ORDER) == first
    assert payments.charges_taken() == 1


def test_orders_are_charged_apart(payments, provider):
    first = charge(provider)
    other = provider.charge(OTHER_ORDER, Decimal("5.00"), "USD", "tok_visa")

    assert (other.order_id, other.amount) == (OTHER_ORDER, Decimal("5.00"))
    assert provider.get(ORDER) == first
    assert payments.charges_taken() == 2


def test_tok_decline_is_declined_every_time_and_charges_nothing(payments, provider):
    for _ in range(2):
        with pytest.raises(PaymentDeclined):
            charge(provider, "tok_decline")

    assert provider.get(ORDER) is None
    assert provider.refund(ORDER) is None
    assert payments.charges_taken() == 0


def test_tok_flaky_fails_once_then_charges_once(payments, provider):
    with pytest.raises(PaymentTemporarilyFailed) as failed:
        charge(provider, "tok_flaky")
    assert isinstance(failed.value, DependencyUnavailable)  # the workflow retries it
    assert provider.get(ORDER) is None

    second = charge(provider, "tok_flaky")
    third = charge(provider, "tok_flaky")

    assert second.status is ChargeStatus.CHARGED
    assert second.attempts == 2
    assert third == second
    assert payments.charges_taken() == 1


def test_after_a_transient_failure_another_token_may_charge(payments, provider):
    with pytest.raises(PaymentTemporarilyFailed):
        charge(provider, "tok_flaky")

    taken = charge(provider, "tok_visa")  # the failed attempt took no money

    assert (taken.token, taken.attempts) == ("tok_visa", 2)
    assert payments.charges_taken() == 1


def test_a_refund_happens_once_and_a_repeat_returns_it(provider):
    taken = charge(provider)

    refunded = provider.refund(ORDER)
    again = provider.refund(ORDER)

    assert refunded is not None
    assert refunded.status is ChargeStatus.REFUNDED
    assert refunded.refunded_at is not None
    assert refunded.refunded_at > taken.charged_at
    assert refunded == Charge(
        **{**taken.__dict__, "status": ChargeStatus.REFUNDED, "refunded_at": refunded.refunded_at}
    )
    assert again == refunded
    assert provider.get(ORDER) == refunded


def test_an_order_never_charged_has_nothing_to_refund(provider):
    assert provider.refund(ORDER) is None
    with pytest.raises(PaymentTemporarilyFailed):
        charge(provider, "tok_flaky")
    assert provider.refund(ORDER) is None  # a failed attempt took nothing
    assert provider.get(ORDER) is None


def test_a_charge_after_the_refund_returns_the_refunded_charge(payments, provider):
    charge(provider)
    refunded = provider.refund(ORDER)

    again = charge(provider)

    assert again == refunded
    assert payments.charges_taken() == 1


@pytest.mark.parametrize(
    ("amount", "token"),
    [(Decimal("130.00"), "tok_visa"), (PRICE, CARD), (PRICE, "tok_decline"), (PRICE, "tok_flaky")],
)
@pytest.mark.parametrize("refunded", [False, True])
def test_charging_a_charged_order_differently_is_a_mismatch(
    payments, provider, amount, token, refunded
):
    charge(provider)
    if refunded:
        provider.refund(ORDER)
    before = provider.get(ORDER)

    with pytest.raises(ChargeMismatch):
        charge(provider, token, amount)  # never a decline: money was taken for this order

    assert provider.get(ORDER) == before
    assert payments.charges_taken() == 1


@pytest.mark.parametrize(
    ("amount", "currency"), [(Decimal("0"), "USD"), (Decimal("1.001"), "USD"), (PRICE, "EUR")]
)
def test_what_no_order_can_ask_is_refused_before_anything_is_written(provider, amount, currency):
    with pytest.raises(ValueError, match=r"amount|decimals|USD"):
        provider.charge(ORDER, amount, currency, "tok_visa")

    assert provider.get(ORDER) is None


@pytest.mark.parametrize("token", ["tok_visa", "tok_flaky"])
def test_concurrent_charges_of_one_order_charge_it_once(payments, token):
    callers = 8
    providers = [payments.new() for _ in range(callers)]  # built here: not thread-safe
    start = threading.Barrier(callers)

    def pay(provider: PaymentProvider) -> Charge | Exception:
        start.wait(timeout=10)
        try:
            return charge(provider, token)
        except DependencyUnavailable as exc:
            return exc

    with ThreadPoolExecutor(callers) as pool:
        results = list(pool.map(pay, providers))
    final = charge(payments.provider, token)  # a retry after the race

    charges = [result for result in results if isinstance(result, Charge)]
    retryable = [result for result in results if isinstance(result, PaymentTemporarilyFailed)]
    assert len(charges) + len(retryable) == callers, results
    assert all(result == final for result in charges), (charges, final)
    if token == "tok_visa":
        assert len(charges) == callers  # nothing transient about it
    else:
        assert retryable  # the order's first attempt fails, whoever makes it
    assert payments.charges_taken() == 1


# --- the DynamoDB provider's own duties -----------------------------------------------------


@pytest.fixture
def dynamodb_provider(dynamodb: Any) -> DynamoDBPaymentProvider:
    return DynamoDBPaymentProvider(dynamodb, TABLE, Ticking())


def payment_items(dynamodb: Any) -> list[dict[str, Any]]:
    found = dynamodb.scan(
        TableName=TABLE,
        ConsistentRead=True,
        FilterExpression="begins_with(pk, :payment)",
        ExpressionAttributeValues=to_item({":payment": "PAYMENT#"}),
    )
    return [from_item(item) for item in found["Items"]]


def test_the_charge_item_is_the_documented_one(dynamodb, dynamodb_provider):
    taken = dynamodb_provider.charge(ORDER, Decimal("10.5"), "USD", "tok_visa")
    dynamodb_provider.charge(ORDER, Decimal("10.50"), "USD", "tok_visa")

    assert payment_items(dynamodb) == [
        {
            **table.payment_key(ORDER),
            "entity": "PAYMENT",
            "orderId": ORDER,
            "amount": Decimal("10.5"),
            "currency": "USD",
            "token": "tok_visa",
            "status": "CHARGED",
            "attempts": Decimal(1),
            "chargedAt": taken.charged_at,
        }
    ]


def test_a_failed_attempt_is_recorded_then_becomes_the_charge(dynamodb, dynamodb_provider):
    with pytest.raises(PaymentTemporarilyFailed):
        dynamodb_provider.charge(ORDER, PRICE, "USD", "tok_flaky")
    (attempt,) = payment_items(dynamodb)
    assert (attempt["status"], attempt["attempts"]) == ("FAILED_ATTEMPT", 1)

    dynamodb_provider.charge(ORDER, PRICE, "USD", "tok_flaky")
    dynamodb_provider.refund(ORDER)

    (item,) = payment_items(dynamodb)
    assert (item["status"], item["attempts"]) == ("REFUNDED", 2)
    assert item["refundedAt"] > item["chargedAt"]


def test_a_decline_writes_nothing(dynamodb, dynamodb_provider):
    with pytest.raises(PaymentDeclined):
        dynamodb_provider.charge(ORDER, PRICE, "USD", "tok_decline")

    assert payment_items(dynamodb) == []


def test_products_and_reservations_of_the_same_id_are_left_alone(
    dynamodb, dynamodb_provider, table_items
):
    for key, entity in [
        (table.product_key(ORDER), "PRODUCT"),
        (table.reservation_key(ORDER), "RESERVATION"),
    ]:
        dynamodb.put_item(
            TableName=TABLE,
            Item=to_item({**key, "entity": entity, "status": "RESERVED", "stock": 3}),
        )
    neighbours = table_items()

    with pytest.raises(PaymentTemporarilyFailed):
        dynamodb_provider.charge(ORDER, PRICE, "USD", "tok_flaky")
    dynamodb_provider.charge(ORDER, PRICE, "USD", "tok_flaky")
    dynamodb_provider.refund(ORDER)

    after = [item for item in table_items() if item["entity"]["S"] != "PAYMENT"]
    assert after == neighbours
    assert len(table_items()) == len(neighbours) + 1


def test_logs_show_no_more_of_a_token_than_its_prefix(dynamodb_provider, caplog):
    caplog.set_level(logging.INFO, logger="services.orders.payments_dynamodb")

    dynamodb_provider.charge(ORDER, PRICE, "USD", CARD)
    dynamodb_provider.refund(ORDER)
    with pytest.raises(PaymentDeclined):
        dynamodb_provider.charge(OTHER_ORDER, PRICE, "USD", "tok_decline")
    with pytest.raises(PaymentTemporarilyFailed):
        dynamodb_provider.charge("order-3", PRICE, "USD", "tok_flaky")

    assert len(caplog.records) == 4
    assert "4242" not in caplog.text
    assert "decline" not in caplog.text.replace("declined", "")
    assert "flaky" not in caplog.text
    assert caplog.text.count("tok_***") == 3


# --- SDK failures ---------------------------------------------------------------------------

SDK_FAILURES = [
    ("ProvisionedThroughputExceededException", 400, Throttled),
    ("ThrottlingException", 400, Throttled),
    ("RequestLimitExceeded", 400, Throttled),
    ("InternalServerError", 500, DependencyUnavailable),
    ("ServiceUnavailable", 503, DependencyUnavailable),
]
NOTHING_STORED: dict[str, Any] = {}


@pytest.fixture
def stubbed(aws_session: boto3.session.Session) -> Iterator[tuple[Stubber, PaymentProvider]]:
    client = aws_session.client("dynamodb")
    with Stubber(client) as stubber:
        yield stubber, DynamoDBPaymentProvider(client, TABLE, Ticking())
        stubber.assert_no_pending_responses()


# (name, calls answered before the failing one, the failing operation, the call)
CALLS: list[tuple[str, int, str, Callable[[PaymentProvider], object]]] = [
    ("charge-read", 0, "get_item", lambda p: p.charge(ORDER, PRICE, "USD", "tok_visa")),
    ("charge-write", 1, "update_item", lambda p: p.charge(ORDER, PRICE, "USD", "tok_visa")),
    ("flaky-write", 1, "put_item", lambda p: p.charge(ORDER, PRICE, "USD", "tok_flaky")),
    ("refund", 0, "update_item", lambda p: p.refund(ORDER)),
    ("get", 0, "get_item", lambda p: p.get(ORDER)),
]


@pytest.mark.parametrize(("code", "http_status", "error"), SDK_FAILURES)
@pytest.mark.parametrize(
    ("answered", "operation", "call"), [c[1:] for c in CALLS], ids=[c[0] for c in CALLS]
)
def test_sdk_failures_become_retryable_domain_errors(
    stubbed, answered, operation, call, code, http_status, error
):
    stubber, provider = stubbed
    for _ in range(answered):
        stubber.add_response("get_item", NOTHING_STORED)
    stubber.add_client_error(operation, code, "detail from the SDK", http_status)

    with pytest.raises(error) as raised:
        call(provider)

    assert type(raised.value) is error  # not a decline, nor a failure the provider reported
