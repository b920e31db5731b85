"""The order worker: one workflow run per order and event, named so a duplicate never starts a
second; a message no retry can read, or one Step Functions throttled, fails alone."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from services.orders.worker import (
    OrderMessage,
    PoisonMessage,
    Starter,
    read_message,
    worker_handler,
)

EVENTS = Path(__file__).parent.parent / "events"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:fulfilment-4d2c1b0"
ANA = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
ORDER_ID = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
OTHER_ORDER = "6c7d8e9f-0a1b-4c2d-8e3f-4a5b6c7d8e9f"
THIRD_ORDER = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"


def client_error(code: str, operation: str = "StartExecution") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeStepFunctions:
    """StartExecution as Step Functions answers it for a standard workflow: a repeat of a running
    execution with the same input returns it; after it closed, or with another input, the name
    is refused with ExecutionAlreadyExists. `refused` maps a name to the error code it gets."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self.executions: dict[str, str] = {}  # name -> input
        self.closed: set[str] = set()
        self.refused: dict[str, str] = {}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.calls.append({"stateMachineArn": stateMachineArn, "name": name, "input": input})
        if name in self.refused:
            raise client_error(self.refused[name])
        if name in self.executions and (name in self.closed or self.executions[name] != input):
            raise client_error("ExecutionAlreadyExists")
        self.executions[name] = input
        return {"executionArn": f"{stateMachineArn}:{name}", "startDate": "2026-03-01T09:00:00Z"}


@pytest.fixture
def stepfunctions() -> FakeStepFunctions:
    return FakeStepFunctions()


@pytest.fixture
def handler(stepfunctions):
    return worker_handler(lambda: Starter(stepfunctions, STATE_MACHINE))


def record_of(body: str, message_id: str) -> dict[str, Any]:
    """The real-shaped record of tests/events, carrying another body."""
    record: dict[str, Any] = copy.deepcopy(
        json.loads((EVENTS / "sqs_order_placed.json").read_text())["Records"][0]
    )
    record["messageId"] = message_id
    record["body"] = body
    return record


def body(event: str = "OrderPlaced", order_id: str = ORDER_ID, **more: Any) -> str:
    return json.dumps({"type": event, "orderId": order_id, "userId": ANA, **more})


def batch(*bodies: str) -> dict[str, Any]:
    return {"Records": [record_of(text, f"message-{i}") for i, text in enumerate(bodies)]}


def started(stepfunctions: FakeStepFunctions) -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in stepfunctions.executions.items()}


def test_the_event_from_the_queue_starts_one_run_named_after_the_order(handler, stepfunctions):
    event = json.loads((EVENTS / "sqs_order_placed.json").read_text())

    assert handler(event, None) == {"batchItemFailures": []}
    assert stepfunctions.calls == [
        {
            "stateMachineArn": STATE_MACHINE,
            "name": ORDER_ID,
            "input": json.dumps(
                {"orderId": ORDER_ID, "type": "OrderPlaced", "userId": ANA, "correlationId": ""},
                sort_keys=True,
            ),
        }
    ]


def test_a_cancel_starts_its_own_run_with_the_cancelled_suffix(handler, stepfunctions):
    response = handler(batch(body(), body("OrderCancelled")), None)

    assert response == {"batchItemFailures": []}
    assert started(stepfunctions) == {
        ORDER_ID: {"orderId": ORDER_ID, "type": "OrderPlaced", "userId": ANA, "correlationId": ""},
        f"{ORDER_ID}-cancelled": {
            "orderId": ORDER_ID,
            "type": "OrderCancelled",
            "userId": ANA,
            "correlationId": "",
        },
    }


def test_the_run_gets_ids_only_whatever_else_the_message_carries(handler, stepfunctions):
    handler(
        batch(body(note="leave at the door", email="ana@example.com", correlationId="req-1")),
        None,
    )

    assert started(stepfunctions) == {
        ORDER_ID: {
            "orderId": ORDER_ID,
            "type": "OrderPlaced",
            "userId": ANA,
            "correlationId": "req-1",
        }
    }


def test_the_same_message_twice_starts_one_run_with_the_same_input(handler, stepfunctions):
    sent_by_the_api, sent_by_the_relay = (
        body(),
        json.dumps({"userId": ANA, "orderId": ORDER_ID, "type": "OrderPlaced"}, indent=1),
    )

    response = handler(batch(sent_by_the_api, sent_by_the_relay), None)

    assert response == {"batchItemFailures": []}
    assert [call["name"] for call in stepfunctions.calls] == [ORDER_ID, ORDER_ID]
    assert stepfunctions.calls[0]["input"] == stepfunctions.calls[1]["input"]
    assert list(stepfunctions.executions) == [ORDER_ID]


def test_a_run_started_before_counts_as_done(handler, stepfunctions):
    handler(batch(body()), None)
    stepfunctions.closed.add(ORDER_ID)

    assert handler(batch(body()), None) == {"batchItemFailures": []}
    assert len(stepfunctions.calls) == 2


def test_the_starter_says_whether_it_started_the_run(stepfunctions):
    starter = Starter(stepfunctions, STATE_MACHINE)
    message = read_message(body())

    assert starter.start(message) is True
    stepfunctions.closed.add(ORDER_ID)
    assert starter.start(message) is False


@pytest.mark.parametrize(
    "poison",
    [
        "not json",
        "",
        "[]",
        '"OrderPlaced"',
        "null",
        json.dumps({"orderId": ORDER_ID, "userId": ANA}),
        body("OrderShipped"),
        body("orderplaced"),
        body(order_id="42"),
        body(order_id=ORDER_ID.upper()),
        body(order_id=f" {ORDER_ID}"),
        json.dumps({"type": "OrderPlaced", "orderId": ORDER_ID}),
        json.dumps({"type": "OrderPlaced", "orderId": ORDER_ID, "userId": ""}),
        json.dumps({"type": "OrderPlaced", "orderId": 5, "userId": ANA}),
    ],
)
def test_a_poison_message_fails_alone_and_the_others_start(handler, stepfunctions, poison):
    event = batch(body(order_id=OTHER_ORDER), poison, body(order_id=THIRD_ORDER))

    response = handler(event, None)

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert set(stepfunctions.executions) == {OTHER_ORDER, THIRD_ORDER}


@pytest.mark.parametrize("code", ["ThrottlingException", "StateMachineDoesNotExist"])
def test_a_start_step_functions_refused_fails_that_message_only(handler, stepfunctions, code):
    stepfunctions.refused[OTHER_ORDER] = code
    event = batch(body(), body(order_id=OTHER_ORDER), body(order_id=THIRD_ORDER))

    response = handler(event, None)

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert set(stepfunctions.executions) == {ORDER_ID, THIRD_ORDER}


def test_a_batch_where_every_message_fails_reports_them_all(handler, stepfunctions):
    stepfunctions.refused[ORDER_ID] = "ThrottlingException"

    response = handler(batch("not json", body(), "{}"), None)

    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "message-0"},
            {"itemIdentifier": "message-1"},
            {"itemIdentifier": "message-2"},
        ]
    }


def test_the_starter_is_built_on_the_first_batch_and_reused(stepfunctions):
    builds: list[Starter] = []

    def build() -> Starter:
        builds.append(Starter(stepfunctions, STATE_MACHINE))
        return builds[-1]

    handler = worker_handler(build)
    assert builds == []

    handler(batch(body()), None)
    handler(batch(body(order_id=OTHER_ORDER)), None)

    assert len(builds) == 1
    assert set(stepfunctions.executions) == {ORDER_ID, OTHER_ORDER}


def test_execution_names_fit_step_functions_limits():
    for event in ("OrderPlaced", "OrderCancelled"):
        name = read_message(body(event)).execution_name
        assert 1 <= len(name) <= 80
        assert all(c.isalnum() or c in "-_" for c in name)


def test_a_poison_message_names_the_bad_fields_not_their_values():
    with pytest.raises(PoisonMessage) as refused:
        read_message(json.dumps({"type": "OrderPlaced", "orderId": "secret-4111", "userId": ANA}))

    assert "orderId" in str(refused.value)
    assert "secret-4111" not in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_a_message_is_read_as_the_api_writes_it():
    message = read_message(body("OrderCancelled"))

    assert message == OrderMessage.model_validate(
        {"type": "OrderCancelled", "orderId": ORDER_ID, "userId": ANA}
    )
    assert (message.order_id, message.user_id) == (ORDER_ID, ANA)
