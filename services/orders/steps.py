"""Lambda entries of the fulfilment steps, one function each, invoked by the state machine.

Each gets `{"orderId"}` (and `"reason"` for cancel) and answers `{"orderId", ...}`. The error
a step raises is what the workflow catches by name: OutOfStock, PaymentDeclined, OrderSettled,
or TransientFailure for a store or provider that is down for now (retried with backoff).
"""

import logging
import uuid
from collections.abc import Callable
from typing import Any

from services.common.startup import importing

with importing():
    from services.common.errors import DependencyUnavailable
    from services.common.lambda_entry import before_snapshot, once
    from services.common.metrics import REASON, Metric
    from services.common.observability import count, observed
    from services.orders.domain import CancelReason
    from services.orders.fulfilment import Steps
    from services.orders.payments import PaymentDeclined
    from services.orders.wiring import steps_from

logger = logging.getLogger(__name__)

StepHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
Action = Callable[[Steps, str, dict[str, Any]], dict[str, Any]]


class TransientFailure(Exception):
    """A store or the payment provider is unavailable for now; the workflow retries the step."""


def _order_id(event: dict[str, Any]) -> str:
    value = event.get("orderId") if isinstance(event, dict) else None
    if not isinstance(value, str):
        raise ValueError("the step's input has no orderId")
    return str(uuid.UUID(value))  # a ValueError for anything else: the workflow fails the order


def step_handler(action: Action, build: Callable[[], Steps] = steps_from) -> StepHandler:
    """A step's Lambda entry: its adapters built on the first event and reused after."""
    steps = once(build)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        order_id = _order_id(event)
        try:
            return {"orderId": order_id, **action(steps(), order_id, event)}
        except DependencyUnavailable as exc:
            step = action.__name__.strip("_")
            logger.warning("step %s of order %s failed for now: %s", step, order_id, exc.detail)
            raise TransientFailure(exc.detail) from exc

    entry: StepHandler = observed(handle, _keys)
    return entry


def _keys(event: dict[str, Any]) -> dict[str, str | None]:
    """The correlation keys the workflow passes to every step (see workflow.py)."""
    return {
        "correlation_id": event.get("correlationId"),
        "order_id": event.get("orderId"),
        "user_id": event.get("userId"),
    }


def _reserve(steps: Steps, order_id: str, event: dict[str, Any]) -> dict[str, Any]:
    steps.reserve(order_id)
    return {"reserved": True}


def _pay(steps: Steps, order_id: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        steps.pay(order_id)
    except PaymentDeclined:
        count(Metric.PAYMENTS_DECLINED)
        raise
    return {"charged": True}


def _confirm(steps: Steps, order_id: str, event: dict[str, Any]) -> dict[str, Any]:
    order = steps.confirm(order_id)
    count(Metric.ORDERS_CONFIRMED)  # a retried confirm may count twice: a rare overcount
    return {"status": order.status.value}


def _cancel(steps: Steps, order_id: str, event: dict[str, Any]) -> dict[str, Any]:
    reason = CancelReason(str(event.get("reason")))
    order = steps.cancel(order_id, reason)
    if order.status_reason == reason.value:  # not when the customer's cancel came first
        count(Metric.ORDERS_CANCELLED, {REASON: reason.value})
    return {"status": order.status.value, "statusReason": order.status_reason}


def _release(steps: Steps, order_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"released": steps.release(order_id)}


def _refund(steps: Steps, order_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"refunded": steps.refund(order_id)}


# A container runs one step's function, so the six entries share one build: with SnapStart it is
# made once before the snapshot, not six times.
_container_steps = once(steps_from)
before_snapshot(_container_steps)

# What each step of the workflow (StepArns' fields) does, and its function's entry.
ACTIONS: dict[str, Action] = {
    "reserve": _reserve,
    "pay": _pay,
    "confirm": _confirm,
    "cancel": _cancel,
    "release": _release,
    "refund": _refund,
}
reserve_stock = step_handler(ACTIONS["reserve"], _container_steps)
take_payment = step_handler(ACTIONS["pay"], _container_steps)
confirm_order = step_handler(ACTIONS["confirm"], _container_steps)
cancel_order = step_handler(ACTIONS["cancel"], _container_steps)
release_stock = step_handler(ACTIONS["release"], _container_steps)
refund_payment = step_handler(ACTIONS["refund"], _container_steps)
