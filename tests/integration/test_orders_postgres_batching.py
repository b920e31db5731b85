"""The PostgreSQL unit of work sends its writes in batches (see services/orders/postgres.py): what
that must never change. A batch is all or nothing, a read sees the writes before it and they can
still be undone, text that looks like SQL stays text, and a failure leaves the connection usable.
A status change announced as the unit's last goes alone and commits as it runs, with its message
or not at all, and a race with another change ends with the loser told what won.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

from services.orders.database import Database
from services.orders.domain import (
    CancelReason,
    InvalidTransition,
    Order,
    OrderLine,
    OrderNotFound,
    OrderStatus,
)
from services.orders.ports import UnitOfWorkEnded
from services.orders.postgres import PostgresUnitOfWork
from tests.integration.conftest import Sql
from tests.integration.test_orders_unit_of_work_contract import ANA, BEN, SHOE, order

_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE


@pytest.fixture
def database(postgres, orders_sql: Sql) -> Iterator[Database]:
    found = Database(postgres.connect)
    yield found
    found.discard()


def idle(database: Database) -> bool:
    return bool(database.connection().info.transaction_status == _IDLE)


def test_a_batch_that_fails_at_its_last_statement_leaves_nothing(
    database: Database, orders_sql: Sql
) -> None:
    placed = order()
    with PostgresUnitOfWork(database) as uow:
        uow.orders.add(placed)
        uow.outbox.add(str(uuid.uuid4()), {"n": 1})  # no such order: the foreign key refuses it
        with pytest.raises(psycopg2.IntegrityError):
            uow.commit()

    assert orders_sql.counts() == dict.fromkeys(orders_sql.counts(), 0)
    assert idle(database)
    with PostgresUnitOfWork(database) as uow:  # the connection is still good
        uow.orders.add(placed)
        uow.commit()
    assert orders_sql.value("SELECT count(*) FROM order_items") == len(placed.lines)


def test_a_failure_inside_an_open_transaction_is_rolled_back_at_exit(
    database: Database, orders_sql: Sql
) -> None:
    with PostgresUnitOfWork(database) as uow:
        assert uow.idempotency.claim(ANA, "k", "a" * 64) is None  # opens the transaction
        uow.orders.add(order())
        uow.outbox.add(str(uuid.uuid4()), {"n": 1})
        with pytest.raises(psycopg2.IntegrityError):
            uow.commit()

    assert idle(database)
    assert orders_sql.value("SELECT count(*) FROM orders") == 0
    with PostgresUnitOfWork(database) as uow:  # and the key's lock went with it
        assert uow.idempotency.claim(ANA, "k", "a" * 64) is None


def test_a_read_sees_the_writes_before_it_which_a_rollback_still_undoes(
    database: Database, orders_sql: Sql
) -> None:
    placed = order()
    with PostgresUnitOfWork(database) as uow:
        uow.orders.add(placed)
        assert uow.orders.get(ANA, placed.id) == placed
        assert orders_sql.value("SELECT count(*) FROM orders") == 0  # not committed

    assert idle(database)
    with PostgresUnitOfWork(database) as uow, pytest.raises(OrderNotFound):
        uow.orders.get(ANA, placed.id)


def test_text_that_looks_like_sql_or_placeholders_is_stored_as_sent(database: Database) -> None:
    name = "Sock; DROP TABLE orders; -- 50% off 'quoted' %s %(x)s \\ ü"
    placed = order(lines=(OrderLine(SHOE, name, Decimal("0.01"), 1),))
    body = {"note": name}
    with PostgresUnitOfWork(database) as uow:
        uow.orders.add(placed)
        uow.outbox.add(placed.id, body)
        (message,) = uow.commit()

    with PostgresUnitOfWork(database) as uow:
        assert uow.orders.get(ANA, placed.id) == placed
        assert [m.body for m in uow.outbox.pending(10) if m.id == message.id] == [body]


def test_a_status_change_and_its_message_commit_together_or_not_at_all(
    database: Database, orders_sql: Sql
) -> None:
    placed = order()
    with PostgresUnitOfWork(database) as uow:
        uow.orders.add(placed)
        uow.commit()

    with PostgresUnitOfWork(database) as uow:
        moved = uow.orders.transition(placed.id, OrderStatus.CONFIRMED, None, placed.updated_at)
        assert moved.lines == placed.lines
        uow.outbox.add(placed.id, {"n": 1})
        # no commit: both undone

    assert orders_sql.value("SELECT status FROM orders") == "PENDING"
    assert orders_sql.value("SELECT count(*) FROM outbox") == 0

    with PostgresUnitOfWork(database) as uow:
        uow.orders.transition(placed.id, OrderStatus.CONFIRMED, None, placed.updated_at)
        uow.outbox.add(placed.id, {"n": 2})
        (message,) = uow.commit()

    assert orders_sql.value("SELECT status FROM orders") == "CONFIRMED"
    assert orders_sql.rows("SELECT id, body FROM outbox") == [(message.id, {"n": 2})]
    assert idle(database)


def test_writes_sent_early_for_a_message_id_are_still_undone_without_commit(
    database: Database, orders_sql: Sql
) -> None:
    """Only a batch's last statement is answered, so a message followed by more writes is sent
    at once: inside a transaction, which a missing commit still undoes."""
    placed = order()
    with PostgresUnitOfWork(database) as uow:
        uow.orders.add(placed)
        uow.outbox.add(placed.id, {"n": 1})
        uow.outbox.add(placed.id, {"n": 2})

    assert orders_sql.counts() == dict.fromkeys(orders_sql.counts(), 0)
    assert idle(database)


def test_a_message_followed_by_a_read_still_comes_back_with_its_id(
    database: Database, orders_sql: Sql
) -> None:
    placed = order()
    with PostgresUnitOfWork(database) as uow:
        uow.orders.add(placed)
        uow.outbox.add(placed.id, {"n": 1})
        assert uow.orders.get(ANA, placed.id) == placed
        messages = uow.commit()

    assert [(m.id, m.body) for m in messages] == orders_sql.rows("SELECT id, body FROM outbox")
    assert idle(database)


# --- a status change announced as the unit's last ---------------------------------------------

CANCEL = (OrderStatus.CANCELLED, CancelReason.CANCELLED_BY_CUSTOMER, "2026-03-01T10:00:00.000Z")


def stored(database: Database, status: OrderStatus = OrderStatus.PENDING) -> Order:
    placed = order(status=status)
    with PostgresUnitOfWork(database) as uow:
        uow.orders.add(placed)
        uow.commit()
    return placed


def row_version(orders_sql: Sql, order_id: str) -> tuple[Any, ...]:
    """The row as stored, with its version (xmin): an UPDATE that touched it would change it."""
    (row,) = orders_sql.rows(
        "SELECT xmin::text, status, status_reason, updated_at FROM orders WHERE id = %s",
        (order_id,),
    )
    return row


def test_a_last_status_change_commits_with_its_message_as_its_one_statement_runs(
    database: Database, orders_sql: Sql
) -> None:
    placed = stored(database)
    with PostgresUnitOfWork(database) as uow:
        uow.next_is_last()
        uow.orders.transition(placed.id, *CANCEL, owner=ANA, message={"n": 1})
        assert idle(database)  # no transaction left open: the statement was its own
        # already visible to another connection, message included, before commit() is called
        assert orders_sql.value("SELECT status FROM orders") == "CANCELLED"
        assert orders_sql.rows("SELECT order_id::text, body FROM outbox") == [(placed.id, {"n": 1})]
        (message,) = uow.commit()

    assert orders_sql.rows("SELECT id FROM outbox") == [(message.id,)]


@pytest.mark.parametrize(
    ("status", "owner"),
    [(OrderStatus.PENDING, BEN), (OrderStatus.SHIPPED, BEN), (OrderStatus.SHIPPED, ANA)],
    ids=["someone-elses", "someone-elses-shipped", "own-shipped"],
)
def test_a_cancel_that_is_refused_leaves_the_order_untouched(
    database: Database, orders_sql: Sql, status: OrderStatus, owner: str
) -> None:
    """Not even a new version of the row: the UPDATE matched nothing, and wrote no message."""
    placed = stored(database, status)
    before = row_version(orders_sql, placed.id)

    with PostgresUnitOfWork(database) as uow:
        uow.next_is_last()
        refused = OrderNotFound if owner != placed.user_id else InvalidTransition
        with pytest.raises(refused):
            uow.orders.transition(placed.id, *CANCEL, owner=owner, message={"n": 1})
        assert idle(database)

    assert row_version(orders_sql, placed.id) == before
    assert orders_sql.value("SELECT count(*) FROM outbox") == 0


@pytest.fixture
def outbox_refusing(orders_sql: Sql) -> Iterator[None]:
    """The outbox refuses every row, at run time: a failure in the middle of a statement."""
    orders_sql.rows(
        "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;"
        " CREATE TRIGGER test_refuse BEFORE INSERT ON outbox"
        " FOR EACH ROW EXECUTE FUNCTION test_refuse();"
        " SELECT 1"
    )
    try:
        yield
    finally:
        orders_sql.rows("DROP FUNCTION test_refuse() CASCADE; SELECT 1")


@pytest.mark.usefixtures("outbox_refusing")
@pytest.mark.parametrize("last", [True, False])
def test_a_message_that_fails_takes_its_status_change_with_it(
    database: Database, orders_sql: Sql, last: bool
) -> None:
    placed = stored(database)
    before = row_version(orders_sql, placed.id)

    with PostgresUnitOfWork(database) as uow:
        if last:
            uow.next_is_last()
        with pytest.raises(psycopg2.errors.RaiseException):
            uow.orders.transition(placed.id, *CANCEL, owner=ANA, message={"n": 1})

    assert idle(database)
    assert row_version(orders_sql, placed.id) == before
    assert orders_sql.value("SELECT count(*) FROM outbox") == 0


def test_nothing_is_written_after_a_last_statement_sent_alone(
    database: Database, orders_sql: Sql
) -> None:
    placed = stored(database)
    with PostgresUnitOfWork(database) as uow:
        uow.next_is_last()
        uow.orders.transition(placed.id, *CANCEL)
        with pytest.raises(UnitOfWorkEnded):
            uow.outbox.add(placed.id, {"n": 1})
        assert uow.orders.get(ANA, placed.id).status is OrderStatus.CANCELLED  # reads may follow
        assert uow.commit() == []

    assert orders_sql.value("SELECT count(*) FROM outbox") == 0


def _racing(database: Database, move: Callable[[PostgresUnitOfWork], Order]) -> Future[Order]:
    """The move, as the unit's last, on a thread: it waits for the row another unit holds."""

    def last_move() -> Order:
        with PostgresUnitOfWork(database) as uow:
            uow.next_is_last()
            moved = move(uow)
            uow.commit()
        return moved

    pool = ThreadPoolExecutor(1)
    racing = pool.submit(last_move)
    pool.shutdown(wait=False)
    return racing


def _waiting(orders_sql: Sql) -> None:
    """Until another connection waits for a row lock."""
    for _ in range(500):
        if orders_sql.value(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            return
        time.sleep(0.01)
    raise AssertionError("nothing waited for the row")


def test_a_confirm_that_loses_to_a_cancel_is_told_the_order_is_cancelled(
    postgres, database: Database, orders_sql: Sql
) -> None:
    """The confirm's UPDATE waits for the cancel, then finds the row moved on; the status it is
    refused with must be the one that won (CANCELLED), not the one its statement began with."""
    placed = stored(database)
    workflow = Database(postgres.connect)
    try:
        with PostgresUnitOfWork(database) as customer:
            customer.orders.transition(placed.id, *CANCEL, owner=ANA, message={"n": 1})  # held
            confirm = _racing(
                workflow,
                lambda uow: uow.orders.transition(
                    placed.id, OrderStatus.CONFIRMED, None, CANCEL[2]
                ),
            )
            _waiting(orders_sql)
            customer.commit()
        with pytest.raises(InvalidTransition) as refused:
            confirm.result(timeout=10)
    finally:
        workflow.discard()

    assert refused.value.current is OrderStatus.CANCELLED
    assert orders_sql.value("SELECT status FROM orders") == "CANCELLED"
    assert orders_sql.value("SELECT count(*) FROM outbox") == 1


def test_a_cancel_that_waits_for_a_confirm_cancels_the_confirmed_order(
    postgres, database: Database, orders_sql: Sql
) -> None:
    placed = stored(database)
    customer = Database(postgres.connect)
    try:
        with PostgresUnitOfWork(database) as workflow:
            workflow.orders.transition(placed.id, OrderStatus.CONFIRMED, None, CANCEL[2])  # held
            cancel = _racing(
                customer,
                lambda uow: uow.orders.transition(placed.id, *CANCEL, owner=ANA, message={"n": 1}),
            )
            _waiting(orders_sql)
            workflow.commit()
        cancelled = cancel.result(timeout=10)
    finally:
        customer.discard()

    assert cancelled.status is OrderStatus.CANCELLED
    assert orders_sql.rows("SELECT status, status_reason FROM orders") == [
        ("CANCELLED", "CANCELLED_BY_CUSTOMER")
    ]
    assert orders_sql.rows("SELECT body FROM outbox") == [({"n": 1},)]
