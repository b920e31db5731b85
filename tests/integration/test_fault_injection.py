"""Faults injected into the running pipeline: the queue failing after commit, the payment provider
failing, a step crashing half-way, the worker crashing mid-batch, DynamoDB throttling.

Each test ends with the invariants (`Fulfilment.check_invariants`): no order lost, every order in
one state, stock never negative and matching the reservations, at most one charge per order.
The database stopping during placement is in test_orders_database_outage.py, the payment
provider timing out in test_fault_payment_timeouts.py, and the invariants' own check (that they
fail on each broken state) in test_fault_invariants.py.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.responses import StepFunctionResponse

from local.runtime import LambdaContext
from services.common.errors import DependencyUnavailable
from services.orders.inventory_dynamodb import DynamoDBInventory
from services.orders.payments import ChargeStatus, PaymentTemporarilyFailed
from services.orders.payments_dynamodb import DynamoDBPaymentProvider
from services.orders.relay import relay_handler
from services.orders.wiring import ports_from
from tests.integration.conftest import CUSTOMER_CLAIMS, Api, OrdersStack, order_of, place
from tests.unit.fakes import FakePublisher

pytestmark = pytest.mark.usefixtures("quick_retries")


@pytest.fixture
def api(orders: OrdersStack) -> Api:
    return orders.api()


def test_the_queue_failing_after_commit_loses_nothing(fulfilment, orders):
    shoe = orders.add_product("Trail shoe", "129.99")
    ports = ports_from(orders.settings, orders.clients(), orders.database())
    failing = FakePublisher(failing=True)
    down = orders.api(type(ports)(ports.new_unit_of_work, ports.catalogue, failing, ports.steps))

    order_id = place(down, {shoe: 2})  # accepted: the order and its message are committed
    assert fulfilment.deliver() == 0  # nothing reached the queue
    relay = relay_handler(lambda: ports_from(orders.settings, orders.clients(), orders.database()))
    assert relay({}, LambdaContext("relay")) == {"sent": 1}
    fulfilment.settle()

    assert order_of(down, order_id)["status"] == "CONFIRMED"
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


def test_a_provider_that_keeps_failing_is_retried_then_the_order_is_failed_and_undone(
    fulfilment, orders, api, monkeypatch
):
    calls: list[str] = []

    def unavailable(self: Any, order_id: str, *args: Any) -> Any:
        calls.append(order_id)
        raise PaymentTemporarilyFailed(order_id)

    monkeypatch.setattr(DynamoDBPaymentProvider, "charge", unavailable)
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 3})

    (execution,) = fulfilment.settle()

    assert len(calls) == 3  # the first try and two retries, as the (shortened) Retry says
    order = order_of(api, order_id)
    assert (order["status"], order["statusReason"]) == ("CANCELLED", "FAILED")
    assert execution["status"] == "FAILED"  # the alarm on failed executions hears of it
    assert fulfilment.stock(shoe) == 10
    fulfilment.check_invariants({shoe: 10}, {order_id: "CANCELLED"})


def crash_after(original: Callable[..., Any]) -> Callable[..., Any]:
    """The method, which does its work and then crashes before answering."""

    def crashing(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise RuntimeError("the function crashed after its write")

    return crashing


@pytest.mark.parametrize(
    ("target", "method"),
    [(DynamoDBInventory, "reserve"), (DynamoDBPaymentProvider, "charge")],
    ids=["after-reserving", "after-charging"],
)
def test_a_step_crashing_half_way_is_compensated(
    fulfilment, orders, api, monkeypatch, target, method
):
    monkeypatch.setattr(target, method, crash_after(getattr(target, method)))
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 4})

    fulfilment.settle()

    order = order_of(api, order_id)
    assert (order["status"], order["statusReason"]) == ("CANCELLED", "FAILED")
    assert fulfilment.stock(shoe) == 10  # what the crashed step took is back
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is None or charge.status is ChargeStatus.REFUNDED
    fulfilment.check_invariants({shoe: 10}, {order_id: "CANCELLED"})


def test_a_worker_failing_on_one_message_returns_only_that_one(
    fulfilment, orders, api, monkeypatch
):
    """Step Functions refuses the start of one order's run (after the SDK's own retries)."""
    shoe = orders.add_product("Trail shoe", "129.99")
    first, doomed, last = (place(api, {shoe: 1}) for _ in range(3))
    original = StepFunctionResponse.start_execution

    def refuse_one(self: StepFunctionResponse) -> Any:
        if self._get_param("name") == doomed:
            raise RuntimeError("Step Functions failed on this start")
        return original(self)

    monkeypatch.setattr(StepFunctionResponse, "start_execution", refuse_one)
    fast = {"VisibilityTimeout": "0"}  # a returned message is visible again at once
    orders.sqs.set_queue_attributes(QueueUrl=orders.queue.url, Attributes=fast)

    assert fulfilment.worker.poll_once() == 3  # one batch of the three
    fulfilment.finish()
    statuses = [order_of(api, i)["status"] for i in (first, doomed, last)]
    assert statuses == ["CONFIRMED", "PENDING", "CONFIRMED"]
    left = orders.sqs.get_queue_attributes(
        QueueUrl=orders.queue.url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert left == "1"  # only the failed message came back to the queue

    monkeypatch.setattr(StepFunctionResponse, "start_execution", original)
    fulfilment.settle()

    assert order_of(api, doomed)["status"] == "CONFIRMED"
    fulfilment.check_invariants({shoe: 10}, dict.fromkeys((first, doomed, last), "CONFIRMED"))


def test_dynamodb_throttling_is_retried_without_a_double_effect(
    fulfilment, orders, api, monkeypatch
):
    throttled: list[str] = []
    original = DynamoHandler.call_action

    def throttle_each_write_once(self: DynamoHandler) -> Any:
        target = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        if target in ("TransactWriteItems", "PutItem", "UpdateItem") and target not in throttled:
            throttled.append(target)
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput was exceeded.",
            }
            return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)
        return original(self)

    shoe = orders.add_product("Trail shoe", "129.99")
    monkeypatch.setattr(DynamoHandler, "call_action", throttle_each_write_once)
    order_id = place(api, {shoe: 2})

    fulfilment.settle()

    assert {"TransactWriteItems", "UpdateItem"} <= set(throttled)  # reserve and charge
    assert order_of(api, order_id)["status"] == "CONFIRMED"
    assert fulfilment.stock(shoe) == 8  # reserved once, though the first write was refused
    charge = fulfilment.steps().payments.get(order_id)
    assert charge is not None
    assert charge.attempts == 1  # charged once
    fulfilment.check_invariants({shoe: 10}, {order_id: "CONFIRMED"})


def test_the_stores_down_during_a_cancel_still_cancels_and_the_workflow_undoes(
    fulfilment, orders, api, monkeypatch
):
    shoe = orders.add_product("Trail shoe", "129.99")
    order_id = place(api, {shoe: 2})
    fulfilment.settle()
    original = DynamoDBInventory.release

    def down(self: Any, order_id: str) -> bool:
        raise DependencyUnavailable("The stock store is unavailable.")

    monkeypatch.setattr(DynamoDBInventory, "release", down)
    reply = api.post(f"/orders/{order_id}/cancel", claims=CUSTOMER_CLAIMS, content_type=None)
    assert reply.status == 200, reply.text
    assert fulfilment.stock(shoe) == 8  # not yet given back

    monkeypatch.setattr(DynamoDBInventory, "release", original)
    fulfilment.settle()  # the OrderCancelled run gives it back

    assert fulfilment.stock(shoe) == 10
    fulfilment.check_invariants({shoe: 10}, {order_id: "CANCELLED"})
