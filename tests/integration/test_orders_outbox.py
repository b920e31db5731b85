"""The transactional outbox: an order placed while SQS fails is still accepted, its message waits
in PostgreSQL, and the scheduled relay (its real Lambda entry, on a real-shaped EventBridge event)
delivers it once."""

import dataclasses
import json
from typing import Any

import pytest
from botocore.stub import Stubber

from services.common.errors import DependencyUnavailable
from services.orders import relay, service
from services.orders.sqs import SqsPublisher
from services.orders.wiring import OrdersPorts
from tests.integration.conftest import (
    CUSTOMER_CLAIMS,
    Api,
    OrdersStack,
    load_event,
    placed_message,
    unreachable_client,
)

CUSTOMER = CUSTOMER_CLAIMS["sub"]


def with_publisher(orders: OrdersStack, sqs: Any) -> OrdersPorts:
    return dataclasses.replace(
        orders.ports(), publisher=SqsPublisher(sqs, orders.settings.orders_queue_url)
    )


@pytest.fixture
def queue_down(orders: OrdersStack) -> OrdersPorts:
    """The orders ports with a queue client that cannot connect (a closed localhost port)."""
    return with_publisher(orders, unreachable_client(orders.session, "sqs"))


@pytest.fixture
def working_publisher(orders: OrdersStack) -> SqsPublisher:
    return SqsPublisher(orders.clients().sqs, orders.settings.orders_queue_url)


def place(api: Api, product: str) -> dict[str, Any]:
    reply = api.post(
        "/orders", body={"items": [{"productId": product, "quantity": 1}]}, claims=CUSTOMER_CLAIMS
    )
    assert reply.status == 202, reply.text
    order: dict[str, Any] = reply.json()
    return order


def outbox(orders: OrdersStack) -> list[tuple[str, bool]]:
    """Each outbox row's order and whether it was sent, oldest first."""
    return [
        (str(order_id), bool(sent))
        for order_id, sent in orders.sql.rows(
            "SELECT order_id, sent_at IS NOT NULL FROM outbox ORDER BY id"
        )
    ]


def delivered(orders: OrdersStack) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in orders.received()]


def test_a_queue_that_cannot_be_reached_after_commit_leaves_the_message_pending(
    orders, queue_down, shoe
):
    order = place(orders.api(queue_down), shoe)

    assert orders.sql.value("SELECT id::text FROM orders") == order["id"]
    assert outbox(orders) == [(order["id"], False)]
    assert delivered(orders) == []


@pytest.mark.parametrize(
    "failure",
    [
        {"service_error_code": "ServiceUnavailable", "http_status_code": 503},
        {"service_error_code": "AWS.SimpleQueueService.NonExistentQueue", "http_status_code": 400},
        {"service_error_code": "KmsThrottled", "http_status_code": 400},
    ],
    ids=["unavailable", "queue-missing", "kms-throttled"],
)
def test_a_queue_error_after_commit_leaves_the_message_pending(orders, shoe, failure):
    sqs = orders.session.client("sqs")
    with Stubber(sqs) as stub:
        stub.add_client_error("send_message_batch", **failure)

        order = place(orders.api(with_publisher(orders, sqs)), shoe)

        stub.assert_no_pending_responses()
    assert outbox(orders) == [(order["id"], False)]


def test_a_message_the_queue_turns_away_stays_pending(orders, shoe):
    sqs = orders.session.client("sqs")
    with Stubber(sqs) as stub:
        failed = {"Id": "0", "SenderFault": False, "Code": "InternalError"}
        stub.add_response("send_message_batch", {"Successful": [], "Failed": [failed]})

        order = place(orders.api(with_publisher(orders, sqs)), shoe)

    assert outbox(orders) == [(order["id"], False)]


def test_the_relay_delivers_what_was_left_marks_it_sent_and_then_sends_nothing(
    orders, queue_down, working_publisher, shoe
):
    order = place(orders.api(queue_down), shoe)
    new_unit_of_work = orders.ports().new_unit_of_work

    assert service.relay_outbox(new_unit_of_work, working_publisher) == 1

    assert delivered(orders) == [placed_message(order["id"])]
    assert outbox(orders) == [(order["id"], True)]

    assert service.relay_outbox(new_unit_of_work, working_publisher) == 0
    assert delivered(orders) == []


def test_the_relay_sends_more_than_one_batch_oldest_first(
    orders, queue_down, working_publisher, shoe
):
    api = orders.api(queue_down)
    placed = [place(api, shoe)["id"] for _ in range(23)]

    sent = service.relay_outbox(orders.ports().new_unit_of_work, working_publisher)

    assert sent == 23
    assert sorted(body["orderId"] for body in delivered(orders)) == sorted(placed)
    assert outbox(orders) == [(order_id, True) for order_id in placed]


def test_a_relay_with_the_queue_still_down_fails_and_keeps_every_message(
    orders, queue_down, working_publisher, shoe
):
    order = place(orders.api(queue_down), shoe)
    new_unit_of_work = orders.ports().new_unit_of_work

    with pytest.raises(DependencyUnavailable):
        service.relay_outbox(new_unit_of_work, queue_down.publisher)

    assert outbox(orders) == [(order["id"], False)]
    assert service.relay_outbox(new_unit_of_work, working_publisher) == 1  # nothing left locked


def test_a_message_already_sent_by_the_api_is_not_relayed(orders, working_publisher, shoe):
    order = place(orders.api(), shoe)
    assert len(delivered(orders)) == 1

    assert service.relay_outbox(orders.ports().new_unit_of_work, working_publisher) == 0

    assert outbox(orders) == [(order["id"], True)]
    assert delivered(orders) == []


@pytest.fixture
def relay_entry(orders: OrdersStack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The relay's Lambda entry in a fresh container, configured by environment as on AWS."""
    for name, value in orders.environment().items():
        monkeypatch.setenv(name, value)
    return relay.relay_handler()  # a cold start: the container builds its ports from them


def test_the_relay_entry_delivers_on_a_scheduled_event_and_then_sends_nothing(
    orders, queue_down, relay_entry, shoe
):
    event = load_event("eventbridge_scheduled.json")
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    order = place(orders.api(queue_down), shoe)

    assert relay_entry(event, None) == {"sent": 1}

    (message,) = orders.received()
    assert json.loads(message["Body"]) == placed_message(order["id"])
    assert outbox(orders) == [(order["id"], True)]
    assert relay_entry(event, None) == {"sent": 0}
    assert delivered(orders) == []


def test_the_relay_entry_with_nothing_to_send_sends_nothing(orders, relay_entry):
    assert relay_entry(load_event("eventbridge_scheduled.json"), None) == {"sent": 0}
    assert delivered(orders) == []
