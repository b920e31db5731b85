"""One contract, two implementations: the PostgreSQL unit of work and the unit tests' fake.

Running the same tests on both keeps the fake honest, so the rules tested with it hold on the real
database: commit and rollback, what another transaction sees, status changes along the table with
the message that announces them, a unit's announced last operation, keys in flight, and outbox
messages held by one relay at a time.
"""

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from services.common.money import json_number
from services.orders.database import Database
from services.orders.domain import (
    CancelReason,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidTransition,
    Order,
    OrderLine,
    OrderNotFound,
    OrderStatus,
    RequestInFlight,
    StoredResponse,
)
from services.orders.ports import UnitOfWork, UnitOfWorkEnded
from services.orders.postgres import PostgresUnitOfWork
from tests.unit.fakes import FakeOrdersDatabase

ANA = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
BEN = "9f8e7d6c-5b4a-4c3d-9e2f-1a0b9c8d7e6f"
SHOE = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
SOCK = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
FINGERPRINT = "a" * 64


@dataclass
class Store:
    """Units of work over one store, from two containers (two connections for PostgreSQL)."""

    here: Callable[[], UnitOfWork]
    there: Callable[[], UnitOfWork]


@pytest.fixture(params=["postgres", "fake"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "fake":
        fake = FakeOrdersDatabase()
        yield Store(fake.new_unit_of_work, fake.new_unit_of_work)
        return
    endpoint = request.getfixturevalue("postgres")
    request.getfixturevalue("orders_sql")  # emptied
    here, there = Database(endpoint.connect), Database(endpoint.connect)
    yield Store(lambda: PostgresUnitOfWork(here), lambda: PostgresUnitOfWork(there))
    here.discard()
    there.discard()


def order(user: str = ANA, second: int = 0, **changes: Any) -> Order:
    moment = f"2026-03-01T09:30:{second:02d}.123Z"
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "user_id": user,
        "status": OrderStatus.PENDING,
        "status_reason": None,
        "lines": (
            OrderLine(SHOE, "Trail shoe", Decimal("129.99"), 2),
            OrderLine(SOCK, "Wool sock", Decimal("0.10"), 3),
        ),
        "payment_token": "tok_visa",
        "created_at": moment,
        "updated_at": moment,
        **changes,
    }
    return Order(**values)


def committed(store: Store, *orders: Order) -> None:
    with store.here() as uow:
        for each in orders:
            uow.orders.add(each)
        uow.commit()


def as_sent(body: dict[str, Any]) -> str:
    return json.dumps(body, default=json_number, sort_keys=True)


# --- orders -------------------------------------------------------------------------------------


def test_a_committed_order_is_read_back_equal(store):
    placed = order()
    committed(store, placed)

    with store.there() as uow:
        found = uow.orders.get(ANA, placed.id)

    assert found == placed
    assert found.total == Decimal("260.28")


def test_an_order_not_committed_is_not_stored(store):
    placed = order()
    with store.here() as uow:
        uow.orders.add(placed)

    with store.here() as uow, pytest.raises(OrderNotFound):
        uow.orders.get(ANA, placed.id)


def test_another_transaction_does_not_see_an_order_before_commit(store):
    placed = order()
    with store.here() as writer:
        writer.orders.add(placed)
        with store.there() as reader, pytest.raises(OrderNotFound):
            reader.orders.get(ANA, placed.id)
        writer.commit()

    with store.there() as reader:
        assert reader.orders.get(ANA, placed.id) == placed


@pytest.mark.parametrize("asked", ["other-user", "absent", "not-a-uuid"])
def test_an_order_is_found_only_by_its_owner_and_id(store, asked):
    placed = order()
    committed(store, placed)
    user, order_id = {
        "other-user": (BEN, placed.id),
        "absent": (ANA, str(uuid.uuid4())),
        "not-a-uuid": (ANA, "nope"),
    }[asked]

    with store.here() as uow, pytest.raises(OrderNotFound):
        uow.orders.get(user, order_id)


def test_the_list_is_the_users_newest_first_in_pages(store):
    mine = [order(second=s) for s in (5, 1, 3, 2, 4)]
    tied = [order(second=9) for _ in range(3)]
    committed(store, *mine, *tied, order(user=BEN, second=7))
    expected = [o.id for o in sorted(tied, key=lambda o: o.id, reverse=True)] + [
        o.id for o in sorted(mine, key=lambda o: o.created_at, reverse=True)
    ]

    seen, cursor = [], None
    with store.there() as uow:
        while True:
            page = uow.orders.list(ANA, 3, cursor)
            assert len(page.items) <= 3
            seen += [o.id for o in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break

    assert seen == expected


def test_a_last_full_page_has_no_next_cursor(store):
    committed(store, order(second=1), order(second=2))

    with store.here() as uow:
        assert uow.orders.list(ANA, 2, None).next_cursor is None


@pytest.mark.parametrize("cursor", ["nope", "e30", "W10", "%%%"])
def test_a_cursor_not_issued_here_is_refused(store, cursor):
    with store.here() as uow, pytest.raises(InvalidCursor):
        uow.orders.list(ANA, 20, cursor)


# --- status changes -----------------------------------------------------------------------------

LATER = "2026-03-01T10:00:00.000Z"
CANCEL = (OrderStatus.CANCELLED, CancelReason.CANCELLED_BY_CUSTOMER, LATER)


@pytest.mark.parametrize(
    "spelling", [str.upper, lambda i: "{" + i + "}", lambda i: i.replace("-", "")]
)
def test_an_order_id_spelled_otherwise_is_the_same_order(store, spelling):
    placed = order()
    committed(store, placed)

    with store.here() as uow:
        assert uow.orders.get(ANA, spelling(placed.id)) == placed
        moved = uow.orders.transition(spelling(placed.id), OrderStatus.CONFIRMED, None, LATER)
        uow.commit()

    assert moved.id == placed.id


def status_of(store: Store, order_id: str) -> tuple[OrderStatus, str | None, str]:
    with store.there() as uow:
        found = uow.orders.find(order_id)
    return found.status, found.status_reason, found.updated_at


def pending_bodies(store: Store) -> list[dict[str, Any]]:
    with store.there() as uow:
        return [message.body for message in uow.outbox.pending(10)]


def test_a_move_along_the_table_returns_the_order_moved_and_commits(store):
    placed = order()
    committed(store, placed)

    with store.here() as uow:
        moved = uow.orders.transition(placed.id, *CANCEL)
        assert status_of(store, placed.id) == (OrderStatus.PENDING, None, placed.updated_at)
        uow.commit()

    assert moved == dataclasses.replace(
        placed,
        status=OrderStatus.CANCELLED,
        status_reason="CANCELLED_BY_CUSTOMER",
        updated_at=LATER,
    )
    assert status_of(store, placed.id) == (OrderStatus.CANCELLED, "CANCELLED_BY_CUSTOMER", LATER)


@pytest.mark.parametrize(
    ("status", "target"),
    [
        (OrderStatus.PENDING, OrderStatus.SHIPPED),
        (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
        (OrderStatus.CANCELLED, OrderStatus.CONFIRMED),
        (OrderStatus.DELIVERED, OrderStatus.DELIVERED),
    ],
)
def test_a_move_the_table_refuses_is_a_conflict_and_changes_nothing(store, status, target):
    placed = order(
        status=status, status_reason="FAILED" if status is OrderStatus.CANCELLED else None
    )
    committed(store, placed)

    with store.here() as uow, pytest.raises(InvalidTransition) as refused:
        uow.orders.transition(placed.id, target, None, LATER, message={"n": 1})

    assert (refused.value.current, refused.value.target) == (status, target)
    assert status_of(store, placed.id) == (status, placed.status_reason, placed.updated_at)
    assert pending_bodies(store) == []


@pytest.mark.parametrize("asked", ["absent", "not-a-uuid"])
def test_moving_an_order_that_does_not_exist_is_not_found(store, asked):
    order_id = {"absent": str(uuid.uuid4()), "not-a-uuid": "nope"}[asked]

    with store.here() as uow, pytest.raises(OrderNotFound):
        uow.orders.transition(order_id, *CANCEL, owner=ANA, message={"n": 1})

    assert pending_bodies(store) == []


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.SHIPPED])
def test_an_owned_move_of_someone_elses_order_is_not_found_and_changes_nothing(store, status):
    """Not found even where the table would refuse the move: nothing is told about the order."""
    placed = order(status=status)
    committed(store, placed)

    with store.here() as uow, pytest.raises(OrderNotFound):
        uow.orders.transition(placed.id, *CANCEL, owner=BEN, message={"n": 1})

    assert status_of(store, placed.id) == (status, None, placed.updated_at)
    assert pending_bodies(store) == []


def test_an_owned_move_of_ones_own_order_moves_it(store):
    placed = order(status=OrderStatus.CONFIRMED)
    committed(store, placed)

    with store.here() as uow:
        moved = uow.orders.transition(placed.id, *CANCEL, owner=ANA)
        uow.commit()

    assert moved.status is OrderStatus.CANCELLED
    assert status_of(store, placed.id) == (OrderStatus.CANCELLED, "CANCELLED_BY_CUSTOMER", LATER)


def test_a_move_writes_its_message_which_commits_with_it_or_not_at_all(store):
    placed = order()
    committed(store, placed)
    body = {"type": "OrderCancelled", "orderId": placed.id, "note": "50% 'off' %s"}

    with store.here() as uow:
        uow.orders.transition(placed.id, *CANCEL, owner=ANA, message=body)
        # no commit: neither the move nor its message

    assert status_of(store, placed.id)[0] is OrderStatus.PENDING
    assert pending_bodies(store) == []

    with store.here() as uow:
        uow.orders.transition(placed.id, *CANCEL, owner=ANA, message=body)
        (message,) = uow.commit()

    assert (message.order_id, message.body) == (placed.id, body)
    assert status_of(store, placed.id)[0] is OrderStatus.CANCELLED
    with store.there() as uow:
        assert uow.outbox.pending(10) == [message]


def test_a_move_from_a_status_a_concurrent_change_left_is_refused_with_the_new_one(store):
    """Confirm and cancel race: whichever commits first wins, and the other is told what won."""
    placed = order()
    committed(store, placed)
    with store.here() as uow:
        uow.orders.transition(placed.id, *CANCEL, owner=ANA, message={"n": 1})
        uow.commit()

    with store.there() as uow:
        uow.next_is_last()
        with pytest.raises(InvalidTransition) as refused:
            uow.orders.transition(placed.id, OrderStatus.CONFIRMED, None, LATER)

    assert refused.value.current is OrderStatus.CANCELLED
    assert pending_bodies(store) == [{"n": 1}]


# --- the last operation -------------------------------------------------------------------------


def test_a_move_announced_as_the_last_commits_with_its_message(store):
    placed = order()
    committed(store, placed)

    with store.here() as uow:
        uow.next_is_last()
        moved = uow.orders.transition(placed.id, *CANCEL, owner=ANA, message={"n": 1})
        messages = uow.commit()

    assert moved.status is OrderStatus.CANCELLED
    assert [(m.order_id, m.body) for m in messages] == [(placed.id, {"n": 1})]
    assert status_of(store, placed.id)[0] is OrderStatus.CANCELLED
    with store.there() as uow:
        assert uow.outbox.pending(10) == messages


def test_a_last_move_after_writes_commits_them_all_together(store):
    placed = order()

    with store.here() as uow:
        uow.orders.add(placed)
        uow.next_is_last()
        uow.orders.transition(placed.id, *CANCEL, message={"n": 1})
        with store.there() as other, pytest.raises(OrderNotFound):
            other.orders.find(placed.id)  # nothing seen before commit
        uow.commit()

    assert status_of(store, placed.id)[0] is OrderStatus.CANCELLED
    assert pending_bodies(store) == [{"n": 1}]


@pytest.mark.parametrize("written_first", [False, True])
def test_a_last_move_that_fails_leaves_nothing(store, written_first):
    placed, other = order(status=OrderStatus.SHIPPED), order()
    committed(store, placed)

    with store.here() as uow:
        if written_first:
            uow.orders.add(other)
        uow.next_is_last()
        with pytest.raises(InvalidTransition):
            uow.orders.transition(placed.id, *CANCEL, message={"n": 1})

    assert status_of(store, placed.id)[0] is OrderStatus.SHIPPED
    assert pending_bodies(store) == []
    with store.there() as uow, pytest.raises(OrderNotFound):
        uow.orders.find(other.id)


@pytest.mark.parametrize("write", ["add", "message", "move", "mark_sent", "key"])
def test_nothing_is_written_after_the_last_move(store, write):
    """It would commit apart from the move, which has committed already."""
    placed, other = order(), order()
    committed(store, placed, other)
    writes = {
        "add": lambda uow: uow.orders.add(order()),
        "message": lambda uow: uow.outbox.add(placed.id, {"n": 2}),
        "move": lambda uow: uow.orders.transition(other.id, *CANCEL),
        "mark_sent": lambda uow: uow.outbox.mark_sent([1]),
        "key": lambda uow: uow.idempotency.complete(ANA, "k", FINGERPRINT, stored_answer(placed)),
    }

    with store.here() as uow:
        uow.next_is_last()
        uow.orders.transition(placed.id, *CANCEL, message={"n": 1})
        with pytest.raises(UnitOfWorkEnded):
            writes[write](uow)
        uow.commit()

    assert status_of(store, other.id)[0] is OrderStatus.PENDING
    assert pending_bodies(store) == [{"n": 1}]


def test_a_unit_of_work_is_whole_again_after_its_last_move_is_committed(store):
    placed, other = order(), order()
    committed(store, placed)

    with store.here() as uow:
        uow.next_is_last()
        uow.orders.transition(placed.id, *CANCEL)
        uow.commit()
        uow.orders.add(other)  # a new unit, held until its own commit
        with store.there() as reader, pytest.raises(OrderNotFound):
            reader.orders.find(other.id)
        uow.commit()

    assert status_of(store, other.id)[0] is OrderStatus.PENDING


# --- idempotency keys ---------------------------------------------------------------------------


def stored_answer(placed: Order) -> StoredResponse:
    return StoredResponse(202, placed.to_json(), placed.id)


def test_a_new_key_is_claimed_and_its_answer_kept(store):
    placed = order()
    with store.here() as uow:
        assert uow.idempotency.claim(ANA, "k", FINGERPRINT) is None
        uow.orders.add(placed)
        uow.idempotency.complete(ANA, "k", FINGERPRINT, stored_answer(placed))
        uow.commit()

    with store.there() as uow:
        earlier = uow.idempotency.claim(ANA, "k", FINGERPRINT)

    assert earlier is not None
    assert (earlier.status, earlier.order_id) == (202, placed.id)
    assert as_sent(earlier.body) == as_sent(placed.to_json())


def test_a_kept_key_with_another_fingerprint_is_refused(store):
    placed = order()
    with store.here() as uow:
        uow.idempotency.claim(ANA, "k", FINGERPRINT)
        uow.orders.add(placed)
        uow.idempotency.complete(ANA, "k", FINGERPRINT, stored_answer(placed))
        uow.commit()

    with store.there() as uow, pytest.raises(IdempotencyKeyReused):
        uow.idempotency.claim(ANA, "k", "b" * 64)
    with store.there() as uow:
        assert uow.idempotency.claim(BEN, "k", "b" * 64) is None  # keys are per user


def test_a_key_claimed_by_an_open_transaction_is_in_flight_until_it_ends(store):
    with store.here() as holder:
        assert holder.idempotency.claim(ANA, "k", FINGERPRINT) is None
        with store.there() as other, pytest.raises(RequestInFlight):
            other.idempotency.claim(ANA, "k", FINGERPRINT)
        with store.there() as other:
            assert other.idempotency.claim(ANA, "another key", FINGERPRINT) is None
        holder.rollback()

    with store.there() as other:
        assert other.idempotency.claim(ANA, "k", FINGERPRINT) is None  # and nothing was kept


def test_a_key_completed_but_rolled_back_is_not_kept(store):
    placed = order()
    with store.here() as uow:
        uow.idempotency.claim(ANA, "k", FINGERPRINT)
        uow.orders.add(placed)
        uow.idempotency.complete(ANA, "k", FINGERPRINT, stored_answer(placed))

    with store.there() as uow:
        assert uow.idempotency.claim(ANA, "k", "b" * 64) is None


# --- the outbox ---------------------------------------------------------------------------------


def with_messages(store: Store, count: int) -> list[int]:
    placed = order()
    with store.here() as uow:
        uow.orders.add(placed)
        for n in range(count):
            uow.outbox.add(placed.id, {"n": n})
        messages = uow.commit()
    assert [(m.order_id, m.body) for m in messages] == [(placed.id, {"n": n}) for n in range(count)]
    return [m.id for m in messages]


def test_committed_messages_are_pending_oldest_first_and_up_to_a_limit(store):
    ids = with_messages(store, 3)

    with store.there() as uow:
        assert [m.id for m in uow.outbox.pending(10)] == ids
        assert [m.id for m in uow.outbox.pending(2)] == ids[:2]
        assert [m.body for m in uow.outbox.pending(10)] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_message_rolled_back_is_never_pending(store):
    placed = order()
    with store.here() as uow:
        uow.orders.add(placed)
        uow.outbox.add(placed.id, {"n": 0})

    with store.there() as uow:
        assert uow.outbox.pending(10) == []


def test_messages_held_by_one_relay_are_skipped_by_another(store):
    ids = with_messages(store, 4)

    with store.here() as first:
        assert [m.id for m in first.outbox.pending(3)] == ids[:3]
        with store.there() as second:
            assert [m.id for m in second.outbox.pending(10)] == ids[3:]


def test_messages_marked_sent_and_committed_are_no_longer_pending(store):
    ids = with_messages(store, 3)

    with store.here() as uow:
        uow.outbox.pending(10)
        uow.outbox.mark_sent(ids[:2])
        uow.commit()

    with store.there() as uow:
        assert [m.id for m in uow.outbox.pending(10)] == ids[2:]


def test_marking_sent_that_is_rolled_back_leaves_messages_pending(store):
    ids = with_messages(store, 2)

    with store.here() as uow:
        uow.outbox.pending(10)
        uow.outbox.mark_sent(ids)

    with store.there() as uow:
        assert [m.id for m in uow.outbox.pending(10)] == ids
