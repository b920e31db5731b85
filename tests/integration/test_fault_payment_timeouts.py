"""The payment provider slow: its calls time out, through the SDK's retries and the state
machine's, with the real steps over moto.

The simulated provider keeps its records in DynamoDB, so its timeouts are the SDK's own: a
ConnectTimeoutError before a request reaches the table, or a ReadTimeoutError after the table
applied it (the answer lost). Each test ends with the invariants (`Fulfilment.check_invariants`).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from moto.dynamodb.responses import DynamoHandler

from services.orders.payments import ChargeStatus
from services.orders.payments_dynamodb import DynamoDBPaymentProvider
from tests.integration.conftest import Api, OrdersStack, order_of, place

pytestmark = pytest.mark.usefixtures("quick_retries")

CONNECT_TIMEOUT = "connect timeout"  # never reached the table
ANSWER_LOST = "answer lost"  # applied by the table, then the read timed out
ANSWERED = "answered"
ENDPOINT = "https://dynamodb.us-east-1.amazonaws.com"
# The pay step's runs when it never succeeds: the first try and the two quick retries.
PAY_RUNS = 3

# What happens to a request: fate(charge call, operation, attempt of that operation in the call).
Fate = Callable[[int, str, int], str]


class Request(NamedTuple):
    call: int  # the provider's charge calls, counted from 1: one per run of the pay step
    operation: str
    fate: str
    status: int | None  # what the table answered, None when it was never reached


@dataclass
class SlowProvider:
    """Makes the provider's DynamoDB requests, while it charges, meet `fate`. Refunds and the
    tests' own reads go through untouched."""

    fate: Fate
    calls: int = 0
    requests: list[Request] = field(default_factory=list)
    _charging: ContextVar[int | None] = field(
        default_factory=lambda: ContextVar("charging", default=None)
    )

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        charge = DynamoDBPaymentProvider.charge
        call_action = DynamoHandler.call_action

        def charging(provider: DynamoDBPaymentProvider, *args: Any, **kwargs: Any) -> Any:
            with self._call():
                return charge(provider, *args, **kwargs)

        def answering(handler: DynamoHandler) -> Any:
            call = self._charging.get()
            if call is None:
                return call_action(handler)
            operation = handler.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
            attempt = 1 + sum(r[:2] == (call, operation) for r in self.requests)
            fate = self.fate(call, operation, attempt)
            if fate == CONNECT_TIMEOUT:
                self.requests.append(Request(call, operation, fate, None))
                raise ConnectTimeoutError(endpoint_url=ENDPOINT)
            answer = call_action(handler)
            self.requests.append(Request(call, operation, fate, answer[0]))
            if fate == ANSWER_LOST:
                raise ReadTimeoutError(endpoint_url=ENDPOINT)
            return answer

        monkeypatch.setattr(DynamoDBPaymentProvider, "charge", charging)
        monkeypatch.setattr(DynamoHandler, "call_action", answering)

    @contextmanager
    def _call(self) -> Iterator[None]:
        self.calls += 1
        token = self._charging.set(self.calls)
        try:
            yield
        finally:
            self._charging.reset(token)

    def of(self, call: int) -> list[tuple[str, str, int | None]]:
        """The requests of one charge call: operation, fate and the table's answer."""
        return [(r.operation, r.fate, r.status) for r in self.requests if r.call == call]

    def writes_applied(self) -> list[Request]:
        """The charge writes the table accepted: the ones that moved money."""
        return [r for r in self.requests if r.operation == "UpdateItem" and r.status == 200]


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


def test_a_provider_timing_out_then_answering_charges_once(fulfilment, orders, api, monkeypatch):
    """The first charge times out on every request, the SDK's retries included, so the pay step
    fails and is run again; there each request times out once and then answers."""
    slow = SlowProvider(
        lambda call, operation, attempt: CONNECT_TIMEOUT if call == 1 or attempt == 1 else ANSWERED
    )
    slow.install(monkeypatch)
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 2})

    (execution,) = fulfilment.settle()

    assert execution["status"] == "SUCCEEDED"
    assert slow.calls == 2  # the state machine ran the pay step again
    first = slow.of(1)
    assert len(first) > 1  # the SDK retried before the step gave up
    assert first == [("GetItem", CONNECT_TIMEOUT, None)] * len(first)
    assert slow.of(2) == [
        ("GetItem", CONNECT_TIMEOUT, None),
        ("GetItem", ANSWERED, 200),
        ("UpdateItem", CONNECT_TIMEOUT, None),
        ("UpdateItem", ANSWERED, 200),
    ]
    assert order_of(api, order_id)["status"] == "CONFIRMED"
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is not None
    assert (charge.status, charge.attempts) == (ChargeStatus.CHARGED, 1)
    assert fulfilment.stock(shoe) == 8
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


@pytest.mark.parametrize(
    ("fate", "calls"),
    [
        # The SDK resends the write; the condition refuses it and the adapter reads the charge.
        (lambda call, operation, attempt: ANSWER_LOST if (operation, attempt) == ("UpdateItem", 1)
         else ANSWERED, 1),
        # Every answer of the first call's writes is lost, so the step fails; its second run
        # reads the charge the first one took, and writes nothing.
        (lambda call, operation, attempt: ANSWER_LOST if (call, operation) == (1, "UpdateItem")
         else ANSWERED, 2),
    ],
    ids=["found-by-the-sdk-retry", "found-by-the-state-machine-retry"],
)  # fmt: skip
def test_a_charge_whose_answer_is_lost_is_found_not_taken_again(
    fulfilment, orders, api, monkeypatch, fate, calls
):
    slow = SlowProvider(fate)
    slow.install(monkeypatch)
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 2})

    (execution,) = fulfilment.settle()

    assert execution["status"] == "SUCCEEDED"
    assert slow.calls == calls
    assert slow.of(1)[:2] == [("GetItem", ANSWERED, 200), ("UpdateItem", ANSWER_LOST, 200)]
    writes = [r.status for r in slow.requests if r.operation == "UpdateItem"]
    assert len(writes) > 1  # the write was sent again
    assert writes[1:] == [400] * (len(writes) - 1)  # refused by its condition: already charged
    if calls == 2:
        assert slow.of(2) == [("GetItem", ANSWERED, 200)]  # found the charge, wrote nothing
    assert order_of(api, order_id)["status"] == "CONFIRMED"
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is not None
    assert (charge.status, charge.attempts) == (ChargeStatus.CHARGED, 1)
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


@pytest.mark.parametrize(
    ("fate", "kept"),
    [
        (lambda call, operation, attempt: CONNECT_TIMEOUT, None),
        # The first write is applied and its answer lost; after it, every answer is lost.
        (lambda call, operation, attempt: ANSWERED if (call, operation) == (1, "GetItem")
         else ANSWER_LOST, ChargeStatus.REFUNDED),
    ],
    ids=["nothing-charged", "charged-then-silent"],
)  # fmt: skip
def test_a_provider_that_keeps_timing_out_is_retried_then_the_order_is_failed_and_undone(
    fulfilment, orders, api, monkeypatch, fate, kept
):
    slow = SlowProvider(fate)
    slow.install(monkeypatch)
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 3})

    (execution,) = fulfilment.settle()

    assert slow.calls == PAY_RUNS
    assert all(len(slow.of(call)) > 1 for call in range(1, PAY_RUNS + 1))  # the SDK retried
    assert len(slow.writes_applied()) == (0 if kept is None else 1)
    order = order_of(api, order_id)
    assert (order["status"], order["statusReason"]) == ("CANCELLED", "FAILED")
    assert execution["status"] == "FAILED"  # the alarm on failed executions hears of it
    assert fulfilment.stock(shoe) == 10
    charge = fulfilment.steps().payments.get(order_id)
    assert (None if charge is None else charge.status) == kept
    fulfilment.check_invariants({shoe: 10}, {order_id: "CANCELLED"})
