"""The order rules with in-memory ports: prices snapshotted, totals in Decimal, idempotency keys,
and the outbox that gets every order's message to the queue however the queue behaves."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.common.clock import Clock
from services.common.errors import DependencyUnavailable
from services.orders import service
from services.orders.domain import (
    DEFAULT_PAYMENT_TOKEN,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidTransition,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    Placement,
    PricedProduct,
    RequestInFlight,
    UnknownProducts,
)
from tests.unit.fakes import FakeCatalogue, FakeOrdersDatabase, FakePublisher

ANA = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
BEN = "9f8e7d6c-5b4a-4c3d-9e2f-1a0b9c8d7e6f"
NOW = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
SHOE = PricedProduct("3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b", "Trail shoe", Decimal("129.99"))
SOCK = PricedProduct("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "Wool sock", Decimal("0.10"))
CAP = PricedProduct("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "Cap", Decimal("19.99"))
MISSING = "00000000-0000-4000-8000-000000000000"
ABSENT = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
def database() -> FakeOrdersDatabase:
    return FakeOrdersDatabase()


@pytest.fixture
def catalogue() -> FakeCatalogue:
    return FakeCatalogue([SHOE, SOCK, CAP])


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


def request(
    *lines: tuple[PricedProduct | str, int], token: str = DEFAULT_PAYMENT_TOKEN
) -> OrderRequest:
    return OrderRequest(
        tuple((p if isinstance(p, str) else p.id, qty) for p, qty in lines), payment_token=token
    )


def at(moment: datetime) -> Clock:
    return lambda: moment


def place(
    database: FakeOrdersDatabase,
    catalogue: FakeCatalogue,
    publisher: FakePublisher,
    order: OrderRequest,
    *,
    user: str = ANA,
    key: str | None = None,
    when: datetime = NOW,
) -> Placement:
    return service.place_order(
        database.new_unit_of_work,
        catalogue,
        publisher,
        user_id=user,
        request=order,
        idempotency_key=key,
        clock=at(when),
    )


def nothing_written(database: FakeOrdersDatabase) -> bool:
    return (database.orders, database.keys, database.outbox, database.commits) == ({}, {}, {}, 0)


# --- placing an order ---------------------------------------------------------------------------


def test_an_order_snapshots_names_and_prices_from_the_catalogue(database, catalogue, publisher):
    placement = place(database, catalogue, publisher, request((SHOE, 2), (SOCK, 3)))
    catalogue.products[SHOE.id] = PricedProduct(SHOE.id, "Renamed shoe", Decimal("999.00"))

    order = service.get_order(database.new_unit_of_work, ANA, placement.response.order_id)

    assert [(line.product_id, line.name, line.unit_price) for line in order.lines] == [
        (SHOE.id, "Trail shoe", Decimal("129.99")),
        (SOCK.id, "Wool sock", Decimal("0.10")),
    ]


def test_line_totals_and_the_total_are_exact_decimals(database, catalogue, publisher):
    placement = place(database, catalogue, publisher, request((SOCK, 3), (CAP, 3), (SHOE, 1)))

    order = database.orders[placement.response.order_id]
    totals = [line.line_total for line in order.lines]
    assert totals == [Decimal("0.30"), Decimal("59.97"), Decimal("129.99")]
    assert order.total == Decimal("190.26")
    assert all(type(value) is Decimal for value in [*totals, order.total])
    body = placement.response.body
    assert [item["lineTotal"] for item in body["items"]] == totals
    assert body["total"] == Decimal("190.26")


def test_a_placed_order_is_pending_and_answered_with_202(database, catalogue, publisher):
    placement = place(database, catalogue, publisher, request((SHOE, 1)), when=NOW)

    response = placement.response
    assert (response.status, placement.replayed) == (202, False)
    assert uuid.UUID(response.order_id).version == 4
    assert response.body == {
        "id": response.order_id,
        "userId": ANA,
        "status": "PENDING",
        "statusReason": None,
        "items": [
            {
                "productId": SHOE.id,
                "name": "Trail shoe",
                "unitPrice": Decimal("129.99"),
                "quantity": 1,
                "lineTotal": Decimal("129.99"),
            }
        ],
        "total": Decimal("129.99"),
        "currency": "USD",
        "createdAt": "2026-03-01T09:30:15.123Z",
        "updatedAt": "2026-03-01T09:30:15.123Z",
    }
    stored = database.orders[response.order_id]
    assert (stored.status, stored.status_reason, stored.payment_token) == (
        OrderStatus.PENDING,
        None,
        "tok_visa",
    )


def test_the_payment_token_is_kept_with_the_order_but_never_shown(database, catalogue, publisher):
    placement = place(database, catalogue, publisher, request((SHOE, 1), token="tok_decline"))

    assert database.orders[placement.response.order_id].payment_token == "tok_decline"
    assert "tok_decline" not in repr(placement.response.body)


def test_the_catalogue_is_asked_once_for_every_line(database, catalogue, publisher):
    place(database, catalogue, publisher, request((SHOE, 1), (SOCK, 2), (CAP, 3)))

    assert catalogue.calls == [[SHOE.id, SOCK.id, CAP.id]]


def test_the_order_and_its_message_commit_together_then_the_message_is_sent(
    database, catalogue, publisher
):
    placement = place(database, catalogue, publisher, request((SHOE, 1)))

    order_id = placement.response.order_id
    assert list(database.orders) == [order_id]
    assert [message.body for message in publisher.sent] == [
        {"type": "OrderPlaced", "orderId": order_id, "userId": ANA}
    ]
    assert database.sent() == publisher.sent
    assert database.pending() == []


@pytest.mark.parametrize(
    ("lines", "fields"),
    [
        (((MISSING, 1),), ["items.0.productId"]),
        (
            ((SHOE, 1), (MISSING, 2), (SOCK, 1), (ABSENT, 1)),
            ["items.1.productId", "items.3.productId"],
        ),
    ],
)
def test_unknown_products_are_named_by_position_and_nothing_is_written(
    database, catalogue, publisher, lines, fields
):
    with pytest.raises(UnknownProducts) as refused:
        place(database, catalogue, publisher, request(*lines), key="k-1")

    assert [error.field for error in refused.value.errors] == fields
    assert all(MISSING in e.message or ABSENT in e.message for e in refused.value.errors)
    assert nothing_written(database)
    assert publisher.calls == 0


def test_orders_of_one_user_are_not_visible_to_another(database, catalogue, publisher):
    placement = place(database, catalogue, publisher, request((SHOE, 1)), user=ANA)

    with pytest.raises(OrderNotFound):
        service.get_order(database.new_unit_of_work, BEN, placement.response.order_id)
    assert service.list_orders(database.new_unit_of_work, BEN, 20, None).items == []


# --- idempotency keys ---------------------------------------------------------------------------


def test_a_repeat_with_the_same_key_replays_the_first_answer_and_writes_nothing(
    database, catalogue, publisher
):
    first = place(database, catalogue, publisher, request((SHOE, 2)), key="k-1")
    commits, sent = database.commits, list(publisher.sent)

    again = place(
        database, catalogue, publisher, request((SHOE, 2)), key="k-1", when=NOW + timedelta(1)
    )

    assert again == Placement(first.response, replayed=True)
    assert len(database.orders) == 1
    assert len(database.outbox) == 1
    assert (database.commits, publisher.sent) == (commits, sent)


def test_a_replay_answers_the_stored_body_even_after_prices_change(database, catalogue, publisher):
    first = place(database, catalogue, publisher, request((SHOE, 1)), key="k-1")
    catalogue.products[SHOE.id] = PricedProduct(SHOE.id, "Trail shoe", Decimal("1.00"))

    again = place(database, catalogue, publisher, request((SHOE, 1)), key="k-1")

    assert again.response.body == first.response.body
    assert again.response.body["total"] == Decimal("129.99")


def test_a_replay_answers_the_stored_order_even_after_a_product_is_deleted(
    database, catalogue, publisher
):
    """API.md: a repeat with the same key and body returns the original status and body."""
    first = place(database, catalogue, publisher, request((SHOE, 1), (SOCK, 1)), key="k-1")
    del catalogue.products[SOCK.id]

    again = place(database, catalogue, publisher, request((SHOE, 1), (SOCK, 1)), key="k-1")

    assert again == Placement(first.response, replayed=True)


def test_a_key_reused_with_another_body_is_refused_and_writes_nothing(
    database, catalogue, publisher
):
    place(database, catalogue, publisher, request((SHOE, 1)), key="k-1")
    before = (dict(database.orders), dict(database.outbox), database.commits, publisher.calls)

    for other in [request((SHOE, 2)), request((SOCK, 1)), request((SHOE, 1), token="tok_flaky")]:
        with pytest.raises(IdempotencyKeyReused):
            place(database, catalogue, publisher, other, key="k-1")

    after = (dict(database.orders), dict(database.outbox), database.commits, publisher.calls)
    assert after == before


def test_keys_belong_to_one_user(database, catalogue, publisher):
    ana = place(database, catalogue, publisher, request((SHOE, 1)), user=ANA, key="k-1")
    ben = place(database, catalogue, publisher, request((SHOE, 1)), user=BEN, key="k-1")

    assert not ben.replayed
    assert ana.response.order_id != ben.response.order_id
    assert len(database.orders) == 2


def test_a_key_held_by_a_request_in_flight_is_a_conflict(database, catalogue, publisher):
    first = request((SHOE, 1))
    with database.new_unit_of_work() as in_flight:
        assert in_flight.idempotency.claim(ANA, "k-1", first.fingerprint()) is None

        with pytest.raises(RequestInFlight):
            place(database, catalogue, publisher, first, key="k-1")

    assert not place(database, catalogue, publisher, first, key="k-1").replayed  # it let go
    assert len(database.orders) == 1


def test_without_a_key_every_request_is_a_new_order(database, catalogue, publisher):
    place(database, catalogue, publisher, request((SHOE, 1)))
    place(database, catalogue, publisher, request((SHOE, 1)))

    assert len(database.orders) == 2


# --- the outbox ---------------------------------------------------------------------------------


def test_a_queue_down_after_commit_leaves_the_order_and_a_pending_message(database, catalogue):
    down = FakePublisher(failing=True)

    placement = place(database, catalogue, down, request((SHOE, 1)))

    assert not placement.replayed
    order_id = placement.response.order_id
    assert list(database.orders) == [order_id]
    assert [message.order_id for message in database.pending()] == [order_id]
    assert database.sent() == []
    assert down.calls == 1


def test_a_message_the_queue_turns_away_stays_pending(database, catalogue, publisher):
    publisher.refuse = {1}

    place(database, catalogue, publisher, request((SHOE, 1)))

    assert [message.id for message in database.pending()] == [1]


def test_the_relay_sends_what_is_pending_marks_it_sent_and_then_sends_nothing(database, catalogue):
    down = FakePublisher(failing=True)
    ids = [place(database, catalogue, down, request((SHOE, 1))).response.order_id for _ in range(3)]
    up = FakePublisher()

    assert service.relay_outbox(database.new_unit_of_work, up) == 3
    assert [message.order_id for message in up.sent] == ids  # oldest first
    assert database.pending() == []

    assert service.relay_outbox(database.new_unit_of_work, up) == 0
    assert len(up.sent) == 3


def test_the_relay_sends_at_most_a_batch(database, catalogue):
    down = FakePublisher(failing=True)
    for _ in range(5):
        place(database, catalogue, down, request((SHOE, 1)))
    up = FakePublisher()

    assert service.relay_outbox(database.new_unit_of_work, up, batch_size=2) == 2
    assert len(database.pending()) == 3


def test_the_relay_marks_only_what_the_queue_accepted(database, catalogue):
    down = FakePublisher(failing=True)
    for _ in range(3):
        place(database, catalogue, down, request((SHOE, 1)))
    partial = FakePublisher()
    partial.refuse = {2}

    assert service.relay_outbox(database.new_unit_of_work, partial) == 2
    assert [message.id for message in database.pending()] == [2]


def test_a_relay_with_the_queue_down_fails_and_leaves_everything_pending(database, catalogue):
    down = FakePublisher(failing=True)
    place(database, catalogue, down, request((SHOE, 1)))

    with pytest.raises(DependencyUnavailable):
        service.relay_outbox(database.new_unit_of_work, down)

    assert len(database.pending()) == 1
    assert database.held_messages == set()  # released by the rollback


def test_a_relay_with_nothing_pending_does_not_call_the_queue(database, publisher):
    assert service.relay_outbox(database.new_unit_of_work, publisher) == 0
    assert publisher.calls == 0


# --- reading ------------------------------------------------------------------------------------


def test_orders_are_listed_newest_first_in_pages_that_cover_each_once(
    database, catalogue, publisher
):
    placed = [
        place(database, catalogue, publisher, request((SHOE, 1)), when=NOW + timedelta(seconds=n))
        for n in range(5)
    ]
    newest_first = [placement.response.order_id for placement in reversed(placed)]

    seen, cursor = [], None
    while True:
        page = service.list_orders(database.new_unit_of_work, ANA, 2, cursor)
        seen += [order.id for order in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == newest_first


def test_a_cursor_not_issued_here_is_refused(database):
    with pytest.raises(InvalidCursor):
        service.list_orders(database.new_unit_of_work, ANA, 20, "not a cursor")


def test_an_admin_moves_an_order_only_along_the_table(database, catalogue, publisher):
    order_id = place(database, catalogue, publisher, request((SHOE, 1)), when=NOW).response.order_id

    with pytest.raises(InvalidTransition):
        service.advance_order(database.new_unit_of_work, order_id, OrderStatus.SHIPPED, at(NOW))
    assert database.orders[order_id].status is OrderStatus.PENDING

    later = NOW + timedelta(hours=1)
    confirmed = service.advance_order(
        database.new_unit_of_work, order_id, OrderStatus.CONFIRMED, at(later)
    )
    assert confirmed.status is OrderStatus.CONFIRMED
    assert confirmed.updated_at > confirmed.created_at
    assert database.orders[order_id] == confirmed


def test_moving_an_unknown_order_is_not_found(database):
    with pytest.raises(OrderNotFound):
        service.advance_order(database.new_unit_of_work, str(uuid.uuid4()), OrderStatus.SHIPPED)
