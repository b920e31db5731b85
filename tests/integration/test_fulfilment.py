"""Fulfilment end to end in one process: the orders API, the queue, the worker, moto's state
machine interpreter and the real step handlers, over moto's DynamoDB and a real PostgreSQL.

Every test ends with the invariants: each order in one state, its stock and its charge matching
that state, and no product's stock below zero.
"""

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from services.common import observability
from services.orders.payments import ChargeStatus
from tests.integration.conftest import (
    CUSTOMER_CLAIMS,
    Api,
    Fulfilment,
    OrdersStack,
    cancel,
    load_event,
    order_of,
    place,
)

OTHER_CUSTOMER = {**CUSTOMER_CLAIMS, "sub": "5d6e7f80-0000-4000-8000-000000000002",
                  "username": "5d6e7f80-0000-4000-8000-000000000002"}  # fmt: skip


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


def test_an_order_is_reserved_charged_and_confirmed(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 3})

    executions = fulfilment.settle()

    order = order_of(api, order_id)
    assert (order["status"], order["statusReason"]) == ("CONFIRMED", None)
    assert fulfilment.stock(shoe) == 7
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is not None
    assert charge.amount == order["total"] * 1
    assert [(e["name"], e["status"]) for e in executions] == [(order_id, "SUCCEEDED")]
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


def test_out_of_stock_cancels_and_reserves_nothing(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    sock = orders.add_product("Wool sock", "4.50")
    fulfilment.set_stock(sock, 1)
    order_id = place(api, {shoe: 2, sock: 2})

    fulfilment.settle()

    order = order_of(api, order_id)
    assert (order["status"], order["statusReason"]) == ("CANCELLED", "OUT_OF_STOCK")
    assert (fulfilment.stock(shoe), fulfilment.stock(sock)) == (10, 1)  # all or nothing
    assert fulfilment.steps().payments.get(order_id) is None
    fulfilment.check_invariants({shoe: 10, sock: 1}, {order_id: "CANCELLED"})


def test_a_declined_payment_gives_the_stock_back(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 4}, token="tok_decline")

    fulfilment.settle()

    order = order_of(api, order_id)
    assert (order["status"], order["statusReason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert fulfilment.stock(shoe) == 10
    reservation = fulfilment.steps().inventory.get(order_id)
    assert reservation is not None
    assert reservation.released
    fulfilment.check_invariants({shoe: 10}, {order_id: "CANCELLED"})


def test_a_flaky_payment_is_retried_and_charged_once(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 1}, token="tok_flaky")

    fulfilment.settle()

    assert order_of(api, order_id)["status"] == "CONFIRMED"
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is not None
    assert (charge.status, charge.attempts) == (ChargeStatus.CHARGED, 2)
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


def test_a_message_delivered_three_times_starts_one_execution(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 2})
    (message,) = orders.received()  # taken off the queue: sent again below, three times
    for _ in range(3):
        orders.sqs.send_message(QueueUrl=orders.queue.url, MessageBody=message["Body"])

    executions = fulfilment.settle()

    assert [e["name"] for e in executions] == [order_id]
    assert order_of(api, order_id)["status"] == "CONFIRMED"
    assert fulfilment.stock(shoe) == 8  # one reservation
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is not None
    assert charge.attempts == 1  # one charge
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


def test_thirty_orders_for_ten_in_stock_confirm_exactly_ten(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_ids = [place(api, {shoe: 1}) for _ in range(30)]

    # Three pollers hand the messages to the worker at once, as concurrent Lambda batches.
    fulfilment.worker.batch_size = 5
    pollers = [threading.Thread(target=fulfilment.deliver) for _ in range(3)]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.join()
    fulfilment.settle(timeout=120)

    outcomes = Counter(
        (o["status"], o["statusReason"]) for o in (order_of(api, i) for i in order_ids)
    )
    assert outcomes == {("CONFIRMED", None): 10, ("CANCELLED", "OUT_OF_STOCK"): 20}
    assert fulfilment.stock(shoe) == 0
    # Counted above: now each of the thirty, and no other, holds the stock and money its own
    # status says.
    fulfilment.check_invariants({shoe: 10}, {i: order_of(api, i)["status"] for i in order_ids})


def test_a_customer_cancel_of_a_confirmed_order_restores_stock_and_refunds(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 2})
    fulfilment.settle()
    assert order_of(api, order_id)["status"] == "CONFIRMED"

    reply = cancel(api, order_id)

    assert reply.status == 200, reply.text
    assert (reply.json()["status"], reply.json()["statusReason"]) == (
        "CANCELLED",
        "CANCELLED_BY_CUSTOMER",
    )
    assert fulfilment.stock(shoe) == 10  # already in the answer, before any workflow
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is not None
    assert charge.status is ChargeStatus.REFUNDED
    assert cancel(api, order_id).status == 409
    executions = fulfilment.settle()  # the cancellation's own run finds nothing left to undo
    assert sorted(e["name"] for e in executions) == [order_id, f"{order_id}-cancelled"]
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    fulfilment.check_invariants({shoe: 10}, {order_id: "CANCELLED"})


def test_another_customer_cannot_cancel_an_order(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 1})

    reply = cancel(api, order_id, claims=OTHER_CUSTOMER)

    assert reply.status == 404
    fulfilment.settle()
    assert order_of(api, order_id)["status"] == "CONFIRMED"
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


@pytest.mark.parametrize("events_before_cancel", [0, 4, 8, 12, 16, 20])
def test_a_cancel_racing_the_workflow_ends_in_one_state(
    fulfilment, orders, api, events_before_cancel
):
    """The customer cancels at a different point of the run each time: before it reserves, while
    it reserves or charges, around confirmation, after it. A PENDING or CONFIRMED order may be
    cancelled, so the cancel always wins; what the run did is always undone, once."""
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 2})
    fulfilment.deliver()  # the run starts on moto's threads; the cancel below races it
    deadline = time.monotonic() + 10
    while len(history(fulfilment, order_id)) < events_before_cancel:
        assert time.monotonic() < deadline, "the execution did not advance"
        time.sleep(0.005)

    answer = cancel(api, order_id)
    fulfilment.settle()

    assert answer.status == 200, answer.text
    order = order_of(api, order_id)
    assert (order["status"], order["statusReason"]) == ("CANCELLED", "CANCELLED_BY_CUSTOMER")
    assert fulfilment.stock(shoe) == 10
    fulfilment.check_invariants({shoe: 10}, {order_id: "CANCELLED"})


def history(fulfilment: Fulfilment, order_id: str) -> list[dict[str, Any]]:
    arn = fulfilment.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{order_id}"
    try:
        events: list[dict[str, Any]] = fulfilment.stepfunctions.get_execution_history(
            executionArn=arn
        )["events"]
    except fulfilment.stepfunctions.exceptions.ExecutionDoesNotExist:
        return []
    return events


def test_a_poison_message_goes_to_the_dead_letter_queue_and_blocks_nothing(fulfilment, orders, api):
    shoe = orders.add_product("Trail shoe", "129.99")
    orders.sqs.set_queue_attributes(
        QueueUrl=orders.queue.url, Attributes={"VisibilityTimeout": "0"}
    )  # a failed message comes straight back, so five receives take no time
    orders.sqs.send_message(QueueUrl=orders.queue.url, MessageBody='{"type": "OrderPlaced"}')
    order_id = place(api, {shoe: 1})

    for _ in range(10):
        fulfilment.deliver()

    fulfilment.settle()
    assert order_of(api, order_id)["status"] == "CONFIRMED"
    dead = orders.sqs.receive_message(
        QueueUrl=orders.queue.dead_letter_url, MaxNumberOfMessages=10
    ).get("Messages", [])
    assert [m["Body"] for m in dead] == ['{"type": "OrderPlaced"}']
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


class JsonLines(logging.Handler):
    """The JSON lines the functions write, as CloudWatch Logs would receive them."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(observability.logger.registered_formatter)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def logs() -> Iterator[JsonLines]:
    handler = JsonLines()
    services = logging.getLogger("services")
    services.addHandler(handler)
    yield handler
    services.removeHandler(handler)


def test_the_request_id_follows_the_order_through_the_queue_and_every_step(
    fulfilment, orders, api, logs
):
    shoe = orders.add_product("Trail shoe", "129.99")
    request_id = load_event("apigw_v2_jwt.json")["requestContext"]["requestId"]

    order_id = place(api, {shoe: 1}, token="tok_flaky")
    fulfilment.settle()

    about_the_order = [line for line in logs.lines if line.get("order_id") == order_id]
    said = {line["message"].split(":")[0] for line in about_the_order}
    assert f"order {order_id} placed" in said  # the API
    assert f"OrderPlaced for order {order_id}" in said  # the worker
    assert f"step pay of order {order_id} failed for now" in said  # a step, then its retry
    assert f"payment for order {order_id} charged (tok_***)" in said
    for line in about_the_order:
        assert line["correlation_id"] == request_id, line
        assert line["user_id"] == CUSTOMER_CLAIMS["sub"], line
        assert line["function_request_id"], line  # which invocation, for the Lambda report
        assert "tok_flaky" not in json.dumps(line)  # the token is masked everywhere
