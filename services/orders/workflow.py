"""The fulfilment state machine, as Amazon States Language built from plain data.

No Pulumi or boto3 import: `infra/` passes the deployed functions' ARNs, the local stack passes
moto's, and the tests validate and run the same definition.

    Route ─ OrderPlaced ─▶ Reserve ─▶ Pay ─▶ Confirm ─▶ Confirmed
      │                       │        │        │
      │             OutOfStock│Declined│        │
      │                       ▼        ▼        │
      │       CancelOutOfStock   ReleaseDeclined ─▶ CancelDeclined
      │
      └─ OrderCancelled ─▶ Undo (refund, release) ─▶ Settled

Any other failure runs UndoFailed (refund, release) then CancelFailed and ends in the Failed
state. An order cancelled meanwhile (a customer's cancel won the race) runs Undo and ends in
Settled, leaving its status alone; one confirmed before ends in Confirmed, doing nothing.
Each step is idempotent (see `fulfilment.py`), so
Step Functions may retry any of them.
"""

from dataclasses import dataclass
from typing import Any

from services.orders.domain import CancelReason, OrderEvent

# Error names the steps raise: the Python runtime reports an exception's class name.
OUT_OF_STOCK = "OutOfStock"
PAYMENT_DECLINED = "PaymentDeclined"
ORDER_SETTLED = "OrderSettled"  # cancelled meanwhile: give back what this run took
ORDER_FULFILLED = "OrderFulfilled"  # confirmed before: nothing to do
TRANSIENT = "TransientFailure"  # a store or the provider is down for now: retry with backoff
ALL = "States.ALL"
# What Lambda itself may throw when asked to run a function; AWS recommends retrying them.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
)
# The step's function ran past its own timeout (shorter than the task's) or out of memory: the
# invocation died without an answer. Lambda reports it as Lambda.Unknown, or as Sandbox.Timedout.
LAMBDA_DIED = ("Lambda.Unknown", "Sandbox.Timedout")
# More runs at once than the step's reserved concurrency (which protects the database) allows.
LAMBDA_THROTTLED = "Lambda.TooManyRequestsException"
TASK_TIMEOUT_SECONDS = 30  # each step function's own timeout is shorter (see infra)
TIMEOUT = "States.Timeout"
# Every step is idempotent, so a retry never doubles an effect. Retries wait with full jitter, so
# runs that collided (on one product's stock, or on a throttled step) do not collide again in
# step. A store or Lambda briefly down is retried for about a minute and a half at most; a burst
# of orders above the steps' concurrency waits longer (about six minutes) before an order is
# failed and compensated rather than left waiting.
RETRY_TRANSIENT = {
    "IntervalSeconds": 1,
    "BackoffRate": 2.0,
    "MaxAttempts": 7,
    "MaxDelaySeconds": 30,
    "JitterStrategy": "FULL",
}
RETRY_LAMBDA = {
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxAttempts": 6,
    "MaxDelaySeconds": 30,
    "JitterStrategy": "FULL",
}
RETRY_THROTTLED = {
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxAttempts": 10,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
# Compensation must happen: it is retried on any error, and longer, before the run fails.
RETRY_UNDO = {"IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": 8}
FAILED_ERROR = "OrderFailed"


@dataclass(frozen=True)
class StepArns:
    """The ARN of each step's function."""

    reserve: str
    pay: str
    confirm: str
    cancel: str
    release: str
    refund: str


# The functions (see services/routes.py FUNCTIONS) behind each step of StepArns.
STEP_FUNCTIONS = {
    "reserve": "reserve-stock",
    "pay": "take-payment",
    "confirm": "confirm-order",
    "cancel": "cancel-order",
    "release": "release-stock",
    "refund": "refund-payment",
}


def _task(
    arn: str,
    next_state: str | None,
    *,
    comment: str,
    reason: CancelReason | None = None,
    undo: bool = False,
    catch: tuple[tuple[tuple[str, ...], str], ...] = (),
) -> dict[str, Any]:
    # The worker always sets the three: every step's logs carry the same correlation keys.
    parameters: dict[str, Any] = {
        "orderId.$": "$.orderId",
        "userId.$": "$.userId",
        "correlationId.$": "$.correlationId",
    }
    if reason is not None:
        parameters["reason"] = reason.value
    retry = (
        [{"ErrorEquals": [ALL], **RETRY_UNDO}]  # States.ALL must stand alone in ErrorEquals
        if undo
        else [
            {"ErrorEquals": [TRANSIENT], **RETRY_TRANSIENT},
            {"ErrorEquals": [LAMBDA_THROTTLED], **RETRY_THROTTLED},
            {"ErrorEquals": [*LAMBDA_SERVICE_ERRORS, *LAMBDA_DIED, TIMEOUT], **RETRY_LAMBDA},
        ]
    )
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": comment,
        "Resource": arn,
        "Parameters": parameters,
        "ResultPath": None,  # keep the input ({"orderId", "type"}) for the next state
        "TimeoutSeconds": TASK_TIMEOUT_SECONDS,
        "Retry": retry,
    }
    if catch:
        state["Catch"] = [
            {"ErrorEquals": list(errors), "ResultPath": "$.error", "Next": target}
            for errors, target in catch
        ]
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def _undo(arn: str, next_state: str, comment: str) -> dict[str, Any]:
    """A compensation: retried on any error, since leaving it undone is never right."""
    return _task(arn, next_state, comment=comment, undo=True)


def definition(arns: StepArns) -> dict[str, Any]:
    """The state machine that takes an order from PENDING to exactly one terminal state."""
    settled = ((ORDER_SETTLED,), "Undo")
    fulfilled = ((ORDER_FULFILLED,), "Confirmed")
    failed = ((ALL,), "UndoFailed")
    states: dict[str, Any] = {
        "Route": {
            "Type": "Choice",
            "Comment": "A placed order is fulfilled; a cancelled one has its holdings undone",
            "Choices": [
                {"Variable": "$.type", "StringEquals": OrderEvent.CANCELLED.value, "Next": "Undo"}
            ],
            "Default": "Reserve",
        },
        "Reserve": _task(
            arns.reserve,
            "Pay",
            comment="Take the stock of every line, or of none",
            # A cancelled order may hold stock an earlier attempt took before its answer was lost.
            catch=(((OUT_OF_STOCK,), "CancelOutOfStock"), settled, fulfilled, failed),
        ),
        "Pay": _task(
            arns.pay,
            "Confirm",
            comment="Charge the order once; a transient failure is retried with backoff",
            catch=(((PAYMENT_DECLINED,), "ReleaseDeclined"), settled, fulfilled, failed),
        ),
        "Confirm": _task(
            arns.confirm,
            "Confirmed",
            comment="PENDING to CONFIRMED, unless the customer cancelled first",
            catch=(settled, failed),
        ),
        "Confirmed": {"Type": "Succeed"},
        "CancelOutOfStock": _undo_cancel(arns, CancelReason.OUT_OF_STOCK, "Cancelled"),
        "ReleaseDeclined": _undo(arns.release, "CancelDeclined", "Give the stock back"),
        "CancelDeclined": _undo_cancel(arns, CancelReason.PAYMENT_DECLINED, "Cancelled"),
        "Cancelled": {"Type": "Succeed"},
        "Undo": _undo(arns.refund, "UndoRelease", "Refund any charge of a cancelled order"),
        "UndoRelease": _undo(arns.release, "Settled", "Give back any stock it held"),
        "Settled": {"Type": "Succeed", "Comment": "The order's status was decided elsewhere"},
        "UndoFailed": _undo(arns.refund, "UndoFailedRelease", "Refund any charge"),
        "UndoFailedRelease": _undo(arns.release, "CancelFailed", "Give back any stock"),
        "CancelFailed": _undo_cancel(arns, CancelReason.FAILED, "Failed"),
        "Failed": {
            "Type": "Fail",
            "Error": FAILED_ERROR,
            "Cause": "A step failed for an unexpected reason; the order was cancelled as FAILED",
        },
    }
    return {
        "Comment": "Order fulfilment: reserve stock, take payment, confirm; compensate on failure",
        "StartAt": "Route",
        "States": states,
    }


def _undo_cancel(arns: StepArns, reason: CancelReason, next_state: str) -> dict[str, Any]:
    return _task(
        arns.cancel,
        next_state,
        comment=f"Cancel the order with {reason.value}",
        reason=reason,
        undo=True,
    )
