"""The PostgreSQL unit of work sends its writes in batches (see services/orders/postgres.py): what
that must never change. A batch is all or nothing, a read sees the writes before it and they can
still be undone, text that looks like SQL stays text, and a failure leaves the connection usable.
"""

import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg2
import psycopg2.extensions
import pytest

from services.orders.database import Database
from services.orders.domain import OrderLine, OrderNotFound, OrderStatus
from services.orders.postgres import PostgresUnitOfWork
from tests.integration.conftest import Sql
from tests.integration.test_orders_unit_of_work_contract import ANA, SHOE, order

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
