"""The fulfilment state machine's definition: a well-formed graph whose tasks are the deployed step
functions and whose error names are the exceptions the steps raise; and, walked with the real
step entries over in-memory ports, the path and the outcome of each way an order can go."""

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.common.errors import DependencyUnavailable
from services.orders import service, workflow
from services.orders import steps as entries
from services.orders.domain import (
    DEFAULT_PAYMENT_TOKEN,
    CancelReason,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
)
from services.orders.fulfilment import OrderFulfilled, OrderSettled, Steps
from services.orders.inventory import Lines, OutOfStock, Reservation
from services.orders.payments import ChargeStatus, PaymentDeclined
from services.orders.ports import UnitOfWork
from services.orders.steps import StepHandler, TransientFailure, step_handler
from services.orders.workflow import STEP_FUNCTIONS, StepArns, definition
from services.routes import FUNCTIONS
from tests.unit.fakes import FakeInventory, FakeOrdersDatabase, FakePaymentProvider, FakePublisher

ARNS = StepArns(
    **{
        step: f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        for step, function in STEP_FUNCTIONS.items()
    }
)
MACHINE = definition(ARNS)
STATES: dict[str, dict[str, Any]] = MACHINE["States"]
TERMINAL = {"Succeed", "Fail"}
RAISED_BY_THE_STEPS = {OutOfStock, PaymentDeclined, OrderSettled, OrderFulfilled, TransientFailure}
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    # A function that timed out or ran out of memory, as Step Functions names it.
    "Lambda.Unknown",
    "Sandbox.Timedout",
}
STATES_ERRORS = {
    "States.ALL",
    "States.Timeout",
    "States.HeartbeatTimeout",
    "States.TaskFailed",
    "States.Permissions",
}


def targets(state: Mapping[str, Any]) -> list[str]:
    """Every state this one can move to: Next, each choice, Default and each catcher."""
    found = [state["Next"]] if "Next" in state else []
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [catcher["Next"] for catcher in state.get("Catch", [])]
    return found


def error_handlers() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for name, state in STATES.items():
        for field in ("Retry", "Catch"):
            if field in state:
                yield name, field, state[field]


# --- the graph ------------------------------------------------------------------------------


def test_the_machine_starts_at_a_state_it_defines():
    assert MACHINE["StartAt"] in STATES


def test_every_transition_names_a_state():
    missing = [
        (name, target)
        for name, state in STATES.items()
        for target in targets(state)
        if target not in STATES
    ]

    assert missing == []


def test_every_state_is_reachable_from_the_start():
    reached, waiting = set(), [MACHINE["StartAt"]]
    while waiting:
        name = waiting.pop()
        if name not in reached:
            reached.add(name)
            waiting += targets(STATES[name])

    assert reached == set(STATES)


def test_every_path_ends_in_an_explicit_succeed_or_fail():
    ends = {name for name, state in STATES.items() if not targets(state)}
    done: set[str] = set()

    def walk(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"a cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for target in targets(STATES[name]):
                walk(target, (*path, name))
            done.add(name)

    walk(MACHINE["StartAt"], ())
    assert {STATES[name]["Type"] for name in ends} <= TERMINAL  # no Task just stops
    assert not any(state.get("End") for state in STATES.values())
    assert {"Confirmed", "Cancelled", "Settled", "Failed"} <= ends


def test_the_route_sends_a_cancelled_order_to_undo_and_anything_else_to_reserve():
    route = STATES[MACHINE["StartAt"]]

    assert route["Type"] == "Choice"
    assert route["Choices"] == [
        {"Variable": "$.type", "StringEquals": OrderEvent.CANCELLED.value, "Next": "Undo"}
    ]
    assert route["Default"] == "Reserve"


# --- the tasks and the functions behind them ------------------------------------------------


def test_every_task_runs_a_step_function_and_every_step_is_used():
    resources = {state["Resource"] for state in STATES.values() if state["Type"] == "Task"}

    assert resources == set(dataclasses.asdict(ARNS).values())


def test_every_task_passes_the_order_id_and_keeps_its_input():
    for state in STATES.values():
        if state["Type"] == "Task":
            assert state["Parameters"]["orderId.$"] == "$.orderId"
            assert state["ResultPath"] is None
            assert 0 < state["TimeoutSeconds"] <= 900  # the Lambda maximum


def test_each_cancel_sends_a_reason_the_cancel_step_accepts():
    reasons = {
        name: state["Parameters"].get("reason")
        for name, state in STATES.items()
        if state.get("Resource") == ARNS.cancel
    }

    assert reasons == {
        "CancelOutOfStock": CancelReason.OUT_OF_STOCK.value,
        "CancelDeclined": CancelReason.PAYMENT_DECLINED.value,
        "CancelFailed": CancelReason.FAILED.value,
    }


def test_the_step_functions_are_deployed_and_their_handlers_resolve():
    assert set(STEP_FUNCTIONS) == {field.name for field in dataclasses.fields(StepArns)}
    for function in STEP_FUNCTIONS.values():
        module, attribute = FUNCTIONS[function].handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute)), function


# --- error names: what ties the definition to the Python ------------------------------------


def test_every_error_name_is_a_builtin_or_an_exception_the_steps_raise():
    ours = {error.__name__ for error in RAISED_BY_THE_STEPS}
    used = {
        error
        for _, _, handlers in error_handlers()
        for handler in handlers
        for error in handler["ErrorEquals"]
    }

    assert used <= STATES_ERRORS | LAMBDA_ERRORS | ours
    assert ours <= used  # each exception the steps raise on purpose is handled somewhere


def test_the_error_name_constants_are_the_exception_class_names():
    assert (
        OutOfStock.__name__,
        PaymentDeclined.__name__,
        OrderSettled.__name__,
        OrderFulfilled.__name__,
    ) == (
        workflow.OUT_OF_STOCK,
        workflow.PAYMENT_DECLINED,
        workflow.ORDER_SETTLED,
        workflow.ORDER_FULFILLED,
    )
    assert TransientFailure.__name__ == workflow.TRANSIENT


def test_every_task_retries_what_lambda_itself_throws():
    for name, state in STATES.items():
        if state["Type"] == "Task":
            retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
            assert retried >= LAMBDA_ERRORS or retried == {"States.ALL"}, name


def test_states_all_appears_alone_and_in_the_last_retrier_or_catcher():
    # The States Language requires it; CreateStateMachine refuses anything else, and
    # asl-validator does not check it.
    misplaced = [
        (name, field, index)
        for name, field, handlers in error_handlers()
        for index, handler in enumerate(handlers)
        if "States.ALL" in handler["ErrorEquals"]
        and (len(handler["ErrorEquals"]) > 1 or index != len(handlers) - 1)
    ]

    assert misplaced == []


# --- runs: the definition walked with the real step entries ---------------------------------

ANA = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
LAMP = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
ORDER_ID = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ACTIONS = entries.ACTIONS
# What the worker starts a run with: the order, the event and the correlation keys.
KEYS = {"orderId": ORDER_ID, "userId": ANA, "correlationId": "Jx9aZhmwIAMEMbQ="}
PLACED = {**KEYS, "type": OrderEvent.PLACED.value}
CANCELLED = {**KEYS, "type": OrderEvent.CANCELLED.value}
HAPPY = ["Route", "Reserve", "Pay", "Confirm", "Confirmed"]
UNDONE = ["Undo", "UndoRelease", "Settled"]


class ExecutionFailed(Exception):
    """A task's error that no catcher handles: the execution fails."""


class TaskError(Exception):
    """An error Step Functions itself reports for a task, such as Lambda.ServiceException."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def matching(handlers: list[dict[str, Any]], error: str) -> int | None:
    """The first retrier or catcher for `error`, as Step Functions scans them."""
    for index, handler in enumerate(handlers):
        if error in handler["ErrorEquals"] or "States.ALL" in handler["ErrorEquals"]:
            return index
    return None


def call(state: Mapping[str, Any], data: dict[str, Any], lambdas: Mapping[str, StepHandler]) -> str:
    """Run a Task state (Parameters, Retry without waiting, Catch); the next state's name."""
    payload = {
        key.removesuffix(".$"): data[value.removeprefix("$.")] if key.endswith(".$") else value
        for key, value in state["Parameters"].items()
    }
    retries: dict[int, int] = {}
    while True:
        try:
            lambdas[state["Resource"]](payload, None)
            return str(state["Next"])  # ResultPath null: the state's input goes on unchanged
        except Exception as exc:
            # What the Lambda runtime reports as errorType: the exception's class name.
            error = exc.name if isinstance(exc, TaskError) else type(exc).__name__
            retrier = matching(state.get("Retry", []), error)
            if (
                retrier is not None
                and retries.get(retrier, 0) < state["Retry"][retrier]["MaxAttempts"]
            ):
                retries[retrier] = retries.get(retrier, 0) + 1
                continue
            catcher = matching(state.get("Catch", []), error)
            if catcher is None:
                raise ExecutionFailed(error) from exc
            data["error"] = {"Error": error, "Cause": str(exc)}
            return str(state["Catch"][catcher]["Next"])


def execute(
    event: Mapping[str, Any],
    lambdas: Mapping[str, StepHandler],
    before: Mapping[str, Callable[[], object]] | None = None,
) -> list[str]:
    """The states an execution visits; `before` runs something just before a state."""
    name, data, visited = MACHINE["StartAt"], dict(event), []
    while True:
        visited.append(name)
        state = STATES[name]
        if state["Type"] in TERMINAL:
            return visited
        if (before or {}).get(name):
            (before or {})[name]()
        if state["Type"] == "Choice":
            name = next(
                (
                    choice["Next"]
                    for choice in state["Choices"]
                    if data.get(choice["Variable"].removeprefix("$.")) == choice["StringEquals"]
                ),
                state["Default"],
            )
        else:
            name = call(state, data, lambdas)


class World:
    def __init__(self, token: str = DEFAULT_PAYMENT_TOKEN, quantity: int = 4) -> None:
        self.database = FakeOrdersDatabase()
        self.inventory = FakeInventory({LAMP: 10})
        self.payments = FakePaymentProvider(lambda: NOW)
        self.publisher = FakePublisher()
        self.database_down = False
        self.steps = Steps(self.new_unit_of_work, self.inventory, self.payments, lambda: NOW)
        self.database.orders[ORDER_ID] = Order(
            id=ORDER_ID,
            user_id=ANA,
            status=OrderStatus.PENDING,
            status_reason=None,
            lines=(OrderLine(LAMP, "Lamp", Decimal("25.00"), quantity),),
            payment_token=token,
            created_at="2026-03-01T09:00:00.000Z",
            updated_at="2026-03-01T09:00:00.000Z",
        )
        self.lambdas = {
            getattr(ARNS, step): step_handler(action, lambda: self.steps)
            for step, action in ACTIONS.items()
        }

    def new_unit_of_work(self) -> UnitOfWork:
        if self.database_down:
            raise DependencyUnavailable("The orders database is unavailable.")
        return self.database.new_unit_of_work()

    def run(
        self, event: Mapping[str, Any], before: Mapping[str, Callable[[], object]] | None = None
    ) -> list[str]:
        return execute(event, self.lambdas, before)

    def customer_cancels(self) -> Order:
        return service.cancel_order(self.steps, self.publisher, ANA, ORDER_ID)

    @property
    def order(self) -> Order:
        return self.database.orders[ORDER_ID]

    @property
    def outcome(self) -> tuple[OrderStatus, str | None]:
        return (self.order.status, self.order.status_reason)

    @property
    def money(self) -> ChargeStatus | None:
        charge = self.payments.get(ORDER_ID)
        return None if charge is None else charge.status


def test_a_placed_order_is_reserved_charged_and_confirmed():
    world = World()

    assert world.run(PLACED) == HAPPY
    assert world.outcome == (OrderStatus.CONFIRMED, None)
    assert world.inventory.stock == {LAMP: 6}
    assert [charge.amount for charge in world.payments.charges] == [Decimal("100.00")]


def test_out_of_stock_cancels_the_order_holding_nothing():
    world = World(quantity=11)

    assert world.run(PLACED) == ["Route", "Reserve", "CancelOutOfStock", "Cancelled"]
    assert world.outcome == (OrderStatus.CANCELLED, "OUT_OF_STOCK")
    assert (world.inventory.stock, world.payments.charges) == ({LAMP: 10}, [])


def test_a_declined_payment_gives_the_stock_back_and_cancels():
    world = World(token="tok_decline")

    assert world.run(PLACED) == [
        "Route",
        "Reserve",
        "Pay",
        "ReleaseDeclined",
        "CancelDeclined",
        "Cancelled",
    ]
    assert world.outcome == (OrderStatus.CANCELLED, "PAYMENT_DECLINED")
    assert (world.inventory.stock, world.payments.charges) == ({LAMP: 10}, [])


def test_a_payment_failing_for_now_is_retried_and_charged_once():
    world = World(token="tok_flaky")

    assert world.run(PLACED) == HAPPY
    assert [(c.amount, c.attempts) for c in world.payments.charges] == [(Decimal("100.00"), 2)]


def test_a_step_failing_for_good_undoes_everything_and_fails_the_order():
    world = World()

    def database_down() -> None:
        world.database_down = True

    def database_back() -> None:
        world.database_down = False

    path = world.run(PLACED, before={"Confirm": database_down, "CancelFailed": database_back})

    assert path == [
        "Route",
        "Reserve",
        "Pay",
        "Confirm",
        "UndoFailed",
        "UndoFailedRelease",
        "CancelFailed",
        "Failed",
    ]
    assert world.outcome == (OrderStatus.CANCELLED, "FAILED")
    assert (world.inventory.stock, world.money) == ({LAMP: 10}, ChargeStatus.REFUNDED)


def test_a_new_run_of_an_order_an_earlier_run_undid_but_could_not_cancel_fails_it():
    """The first run's CancelFailed outlives its retries (the database stays down), leaving the
    order PENDING with its stock back and its charge refunded; the message comes again (say, the
    local stack resumes PENDING orders at start). That run must fail the order, not confirm it."""
    world = World()

    def database_down() -> None:
        world.database_down = True

    with pytest.raises(ExecutionFailed):
        world.run(PLACED, before={"Confirm": database_down})
    left = (world.outcome, world.inventory.stock, world.money)
    assert left == ((OrderStatus.PENDING, None), {LAMP: 10}, ChargeStatus.REFUNDED)
    world.database_down = False

    path = world.run(PLACED)

    assert path == ["Route", "Reserve", "UndoFailed", "UndoFailedRelease", "CancelFailed", "Failed"]
    assert world.outcome == (OrderStatus.CANCELLED, "FAILED")
    assert (world.inventory.stock, world.money) == ({LAMP: 10}, ChargeStatus.REFUNDED)


@pytest.mark.parametrize(
    ("cancelled_before", "steps_run"),
    [
        ("Reserve", ["Route", "Reserve"]),  # then Settled, with or without an Undo on the way
        ("Pay", ["Route", "Reserve", "Pay", *UNDONE]),
        ("Confirm", ["Route", "Reserve", "Pay", "Confirm", *UNDONE]),
    ],
)
def test_a_customer_cancel_during_the_run_wins_and_everything_goes_back_once(
    cancelled_before, steps_run
):
    world = World()

    path = world.run(PLACED, before={cancelled_before: world.customer_cancels})

    assert (path[: len(steps_run)], path[-1]) == (steps_run, "Settled")
    assert not {"Pay", "Confirm"} & set(path[len(steps_run) :])
    assert world.outcome == (OrderStatus.CANCELLED, "CANCELLED_BY_CUSTOMER")
    assert world.inventory.stock == {LAMP: 10}
    assert len(world.inventory.given_back) <= 1
    assert len(world.payments.refunds) == len(world.payments.charges) <= 1


def test_the_cancelled_run_undoes_what_the_customers_cancel_could_not():
    world = World()
    world.run(PLACED)
    world.inventory.failing = world.payments.failing = True
    world.customer_cancels()
    world.inventory.failing = world.payments.failing = False
    assert (world.inventory.stock, world.money) == ({LAMP: 6}, ChargeStatus.CHARGED)

    assert world.run(CANCELLED) == ["Route", *UNDONE]
    assert world.outcome == (OrderStatus.CANCELLED, "CANCELLED_BY_CUSTOMER")
    assert (world.inventory.stock, world.money) == ({LAMP: 10}, ChargeStatus.REFUNDED)


def test_a_cancelled_run_after_a_full_undo_moves_nothing():
    world = World()
    world.run(PLACED)
    world.customer_cancels()

    assert world.run(CANCELLED) == ["Route", *UNDONE]
    assert (len(world.inventory.given_back), len(world.payments.refunds)) == (1, 1)


class LateReservation(FakeInventory):
    """A stock store whose first reservation commits only after `meanwhile` has run, and whose
    answer to it is lost (the client gives up, the transaction stands)."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        super().__init__({LAMP: 10})
        self.meanwhile: Callable[[], object] | None = meanwhile

    def reserve(self, order_id: str, lines: Lines) -> Reservation:
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is None:
            return super().reserve(order_id, lines)
        meanwhile()
        super().reserve(order_id, lines)
        raise DependencyUnavailable("The stock store did not answer.")


def test_stock_a_retried_reserve_took_after_a_customer_cancel_goes_back():
    world = World()

    def customer_cancels_and_the_cancelled_run_ends() -> None:
        world.customer_cancels()
        assert world.run(CANCELLED) == ["Route", *UNDONE]

    world.inventory = LateReservation(customer_cancels_and_the_cancelled_run_ends)
    world.steps = dataclasses.replace(world.steps, inventory=world.inventory)

    world.run(PLACED)

    assert world.outcome == (OrderStatus.CANCELLED, "CANCELLED_BY_CUSTOMER")
    assert world.inventory.stock == {LAMP: 10}


def answer_lost_once(handler: StepHandler, meanwhile: Callable[[], object]) -> StepHandler:
    """The step's first run does its work but Step Functions gets Lambda.ServiceException; then
    `meanwhile` happens before the retry."""
    lost: list[bool] = []

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        answer = handler(event, context)
        if not lost:
            lost.append(True)
            meanwhile()
            raise TaskError("Lambda.ServiceException")
        return answer

    return handle


def test_a_confirm_retried_after_the_order_shipped_keeps_the_money_and_the_stock():
    world = World()

    def administrator_ships() -> None:
        service.advance_order(world.new_unit_of_work, ORDER_ID, OrderStatus.SHIPPED)

    world.lambdas[ARNS.confirm] = answer_lost_once(world.lambdas[ARNS.confirm], administrator_ships)

    path = world.run(PLACED)

    assert world.outcome == (OrderStatus.SHIPPED, None)
    assert (world.inventory.stock, world.money) == ({LAMP: 6}, ChargeStatus.CHARGED)
    assert path == HAPPY


def failing_first(handler: StepHandler, error: str, times: int) -> StepHandler:
    """The step's invocation fails with `error` (as Lambda reports it) `times` times, then runs."""
    left = [times]

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if left[0]:
            left[0] -= 1
            raise TaskError(error)
        return handler(event, context)

    return handle


@pytest.mark.parametrize(
    "error",
    [
        "Lambda.Unknown",  # the function ran past its timeout or out of memory
        "Sandbox.Timedout",
        "States.Timeout",  # the task's own timeout
        "Lambda.TooManyRequestsException",  # more runs than the step's reserved concurrency
        "Lambda.ClientExecutionTimeoutException",
    ],
)
@pytest.mark.parametrize("step", ["reserve", "pay", "confirm"])
def test_a_step_whose_invocation_died_or_was_throttled_is_retried_and_does_its_part_once(
    step, error
):
    world = World()
    world.lambdas[getattr(ARNS, step)] = failing_first(world.lambdas[getattr(ARNS, step)], error, 3)

    path = world.run(PLACED)

    assert path == HAPPY
    assert world.outcome == (OrderStatus.CONFIRMED, None)
    assert (world.inventory.stock, world.money) == ({LAMP: 6}, ChargeStatus.CHARGED)


def test_a_burst_above_the_steps_concurrency_waits_longer_than_an_outage_before_failing():
    def patience(error: str) -> int:
        retriers = STATES["Reserve"]["Retry"]
        return int(next(r["MaxAttempts"] for r in retriers if error in r["ErrorEquals"]))

    assert patience("Lambda.TooManyRequestsException") > patience("TransientFailure")
    world = World()
    throttled = "Lambda.TooManyRequestsException"
    world.lambdas[ARNS.reserve] = failing_first(
        world.lambdas[ARNS.reserve], throttled, patience(throttled)
    )

    assert world.run(PLACED) == HAPPY


def test_every_retry_waits_with_jitter_so_colliding_runs_do_not_collide_again():
    unjittered = [
        (name, retrier["ErrorEquals"])
        for name, state in STATES.items()
        if state["Type"] == "Task"
        for retrier in state["Retry"]
        if retrier["ErrorEquals"] != ["States.ALL"] and retrier.get("JitterStrategy") != "FULL"
    ]

    assert unjittered == []
