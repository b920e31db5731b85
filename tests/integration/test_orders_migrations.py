"""The migration runner on a real PostgreSQL, and the schema's constraints refusing bad states
directly in SQL, whatever the code above them does.

Runner tests work in a fresh schema of their own (first on the search path), so they migrate an
empty database without touching the session's; constraint tests run in a transaction that is
rolled back."""

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from local.database import Endpoint
from services.orders import migrations
from services.orders.migrations import Migration, MigrationError

ORDER = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
PRODUCT = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
OTHER_PRODUCT = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
RUNNER_LOCK = 7_432_001


def connect_in(endpoint: Endpoint, schema: str) -> Any:
    connection = endpoint.connect()
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    connection.commit()
    return connection


@pytest.fixture
def schema(postgres: Endpoint) -> Iterator[str]:
    """An empty schema, dropped afterwards."""
    name = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = postgres.connect()
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def connection(postgres: Endpoint, schema: str) -> Iterator[Any]:
    connection = connect_in(postgres, schema)
    yield connection
    connection.close()


def tables_in(connection: Any, schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
        return {row[0] for row in cursor.fetchall()}


def recorded(connection: Any) -> list[tuple[int, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        rows = [(version, name, checksum.strip()) for version, name, checksum in cursor.fetchall()]
    connection.commit()
    return rows


def lock_is_free(endpoint: Endpoint) -> bool:
    other = endpoint.connect()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (RUNNER_LOCK,))
            free = bool(cursor.fetchone()[0])
            if free:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (RUNNER_LOCK,))
            return free
    finally:
        other.close()


# --- the runner ---------------------------------------------------------------------------------


def test_an_empty_database_gets_every_migration_then_nothing_the_second_time(
    postgres, schema, connection
):
    expected = migrations.discover()
    assert [m.version for m in expected] == sorted(m.version for m in expected)

    first = migrations.apply(connection)
    second = migrations.apply(connection)

    assert first == [migration.name for migration in expected]
    assert second == []
    assert recorded(connection) == [(m.version, m.name, m.checksum) for m in expected]
    assert {"orders", "order_items", "idempotency_keys", "outbox", "schema_migrations"} <= (
        tables_in(connection, schema)
    )
    assert lock_is_free(postgres)


def test_an_edited_migration_that_was_applied_is_refused(postgres, connection):
    applied = migrations.apply(connection)
    assert applied
    first = migrations.discover()[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- an afterthought\n")
    before = recorded(connection)

    with pytest.raises(MigrationError, match=first.name):
        migrations.apply(connection, [edited])

    assert recorded(connection) == before
    assert lock_is_free(postgres)


def test_a_failing_migration_is_rolled_back_and_not_recorded(postgres, schema, connection):
    broken = Migration(9001, "9001_broken.sql", "CREATE TABLE half_done (id int);\nSELECT nope;")

    with pytest.raises(psycopg2.errors.UndefinedColumn):
        migrations.apply(connection, [*migrations.discover(), broken])

    assert "half_done" not in tables_in(connection, schema)
    assert [version for version, *_ in recorded(connection)] == [
        m.version for m in migrations.discover()
    ]
    assert lock_is_free(postgres)
    assert migrations.apply(connection) == []


def test_runs_at_the_same_time_apply_each_migration_once(postgres, schema):
    connections = [connect_in(postgres, schema) for _ in range(4)]
    start = threading.Barrier(len(connections))
    results: list[list[str]] = []

    def run(connection: Any) -> None:
        start.wait(timeout=10)
        results.append(migrations.apply(connection))

    threads = [threading.Thread(target=run, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for connection in connections:
        connection.close()

    names = [m.name for m in migrations.discover()]
    assert sorted(results, key=len) == [[], [], [], names]


def test_the_session_database_is_fully_migrated(postgres):
    connection = postgres.connect()
    try:
        assert migrations.apply(connection) == []
    finally:
        connection.close()


def test_files_are_found_in_version_order(tmp_path: Path):
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "README.md").write_text("not a migration")

    found = migrations.discover(tmp_path)

    assert [(m.version, m.name, m.sql) for m in found] == [
        (1, "0001_first.sql", "SELECT 1;"),
        (2, "0002_second.sql", "SELECT 2;"),
    ]


@pytest.mark.parametrize(
    "names",
    [["1_short.sql"], ["0001-dash.sql"], ["0001_Upper.sql"], ["0001_a.sql", "0001_b.sql"]],
    ids=["short-version", "dash", "upper-case", "same-version"],
)
def test_badly_named_or_clashing_files_are_refused(tmp_path: Path, names):
    for name in names:
        (tmp_path / name).write_text("SELECT 1;")

    with pytest.raises(MigrationError):
        migrations.discover(tmp_path)


def test_the_shipped_migrations_are_well_named():
    found = migrations.discover()

    assert found
    assert [m.version for m in found] == list(range(1, len(found) + 1))


# --- constraints --------------------------------------------------------------------------------


@pytest.fixture
def cursor(postgres: Endpoint) -> Iterator[Any]:
    """A cursor in a transaction holding one valid order with one line; rolled back after."""
    connection = postgres.connect()
    try:
        with connection.cursor() as cursor:
            insert_order(cursor, ORDER)
            insert_line(cursor, ORDER, 1, PRODUCT)
            yield cursor
    finally:
        connection.rollback()
        connection.close()


def insert_order(cursor: Any, order_id: str, **changes: Any) -> None:
    row = {
        "id": order_id,
        "user_id": "9f8e7d6c-5b4a-4c3d-9e2f-1a0b9c8d7e6f",
        "status": "PENDING",
        "status_reason": None,
        "total": "259.98",
        "currency": "USD",
        "payment_token": "tok_visa",
        "created_at": "2026-03-01T09:30:15.123Z",
        "updated_at": "2026-03-01T09:30:15.123Z",
        **changes,
    }
    insert(cursor, "orders", row)


def insert_line(cursor: Any, order_id: str, line_no: int, product_id: str, **changes: Any) -> None:
    row = {
        "order_id": order_id,
        "line_no": line_no,
        "product_id": product_id,
        "name": "Trail shoe",
        "unit_price": "129.99",
        "quantity": 2,
        "line_total": "259.98",
        **changes,
    }
    insert(cursor, "order_items", row)


def insert(cursor: Any, table: str, row: dict[str, Any]) -> None:
    cursor.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(column) for column in row),
            sql.SQL(", ").join(sql.Placeholder() * len(row)),
        ),
        list(row.values()),
    )


def test_the_valid_rows_of_every_table_are_accepted(cursor):
    insert_line(cursor, ORDER, 2, OTHER_PRODUCT, quantity=100, unit_price="0", line_total="0")
    insert_order(
        cursor,
        str(uuid.uuid4()),
        status="CANCELLED",
        status_reason="OUT_OF_STOCK",
        updated_at="2026-03-01T09:31:00.000Z",
    )
    insert(
        cursor,
        "idempotency_keys",
        {
            "user_id": "u",
            "key": "k" * 255,
            "request_hash": "0" * 64,
            "order_id": ORDER,
            "response_status": 202,
            "response_body": "{}",
        },
    )
    cursor.execute("INSERT INTO outbox (order_id, body) VALUES (%s, '{}') RETURNING id", (ORDER,))

    cursor.execute("SELECT count(*) FROM order_items WHERE order_id = %s", (ORDER,))
    assert cursor.fetchone()[0] == 2


NEW_ORDER = "5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
# (id, the statement's arguments, the SQLSTATE class it raises, the constraint it names)
VIOLATIONS: list[tuple[str, Any, type[Exception], str]] = [
    ("status-unknown", lambda c: insert_order(c, NEW_ORDER, status="LOST"),
     psycopg2.errors.CheckViolation, "orders_status_check"),
    ("status-lower-case", lambda c: insert_order(c, NEW_ORDER, status="pending"),
     psycopg2.errors.CheckViolation, "orders_status_check"),
    ("cancelled-without-reason", lambda c: insert_order(c, NEW_ORDER, status="CANCELLED"),
     psycopg2.errors.CheckViolation, "orders_reason_iff_cancelled"),
    ("reason-while-pending", lambda c: insert_order(c, NEW_ORDER, status_reason="FAILED"),
     psycopg2.errors.CheckViolation, "orders_reason_iff_cancelled"),
    ("reason-unknown", lambda c: insert_order(c, NEW_ORDER, status="CANCELLED",
                                              status_reason="BORED"),
     psycopg2.errors.CheckViolation, "orders_status_reason_check"),
    ("negative-total", lambda c: insert_order(c, NEW_ORDER, total="-0.01"),
     psycopg2.errors.CheckViolation, "orders_total_check"),
    ("currency", lambda c: insert_order(c, NEW_ORDER, currency="EUR"),
     psycopg2.errors.CheckViolation, "orders_currency_check"),
    ("updated-before-created", lambda c: insert_order(c, NEW_ORDER,
                                                      updated_at="2026-03-01T09:30:15.122Z"),
     psycopg2.errors.CheckViolation, "orders_updated_after_created"),
    ("empty-user", lambda c: insert_order(c, NEW_ORDER, user_id=""),
     psycopg2.errors.CheckViolation, "orders_user_id_check"),
    ("empty-token", lambda c: insert_order(c, NEW_ORDER, payment_token=""),
     psycopg2.errors.CheckViolation, "orders_payment_token_check"),
    ("same-order-twice", lambda c: insert_order(c, ORDER),
     psycopg2.errors.UniqueViolation, "orders_pkey"),
    ("status-update-unknown", lambda c: c.execute("UPDATE orders SET status = 'LOST'"),
     psycopg2.errors.CheckViolation, "orders_status_check"),
    ("cancel-without-reason", lambda c: c.execute("UPDATE orders SET status = 'CANCELLED'"),
     psycopg2.errors.CheckViolation, "orders_reason_iff_cancelled"),
    ("quantity-0", lambda c: insert_line(c, ORDER, 2, OTHER_PRODUCT, quantity=0, line_total="0"),
     psycopg2.errors.CheckViolation, "order_items_quantity_check"),
    ("quantity-101", lambda c: insert_line(c, ORDER, 2, OTHER_PRODUCT, quantity=101,
                                           line_total="13128.99"),
     psycopg2.errors.CheckViolation, "order_items_quantity_check"),
    ("negative-price", lambda c: insert_line(c, ORDER, 2, OTHER_PRODUCT, unit_price="-1",
                                             quantity=1, line_total="-1"),
     psycopg2.errors.CheckViolation, "order_items_unit_price_check"),
    ("price-too-high", lambda c: insert_line(c, ORDER, 2, OTHER_PRODUCT, unit_price="1000000.01",
                                             quantity=1, line_total="1000000.01"),
     psycopg2.errors.CheckViolation, "order_items_unit_price_check"),
    ("line-total-mismatch", lambda c: insert_line(c, ORDER, 2, OTHER_PRODUCT,
                                                  line_total="259.97"),
     psycopg2.errors.CheckViolation, "order_items_line_total"),
    ("line-total-update", lambda c: c.execute("UPDATE order_items SET quantity = 3"),
     psycopg2.errors.CheckViolation, "order_items_line_total"),
    ("duplicate-product", lambda c: insert_line(c, ORDER, 2, PRODUCT),
     psycopg2.errors.UniqueViolation, "order_items_distinct_products"),
    ("duplicate-line-no", lambda c: insert_line(c, ORDER, 1, OTHER_PRODUCT),
     psycopg2.errors.UniqueViolation, "order_items_pkey"),
    ("line-51", lambda c: insert_line(c, ORDER, 51, OTHER_PRODUCT),
     psycopg2.errors.CheckViolation, "order_items_line_no_check"),
    ("line-0", lambda c: insert_line(c, ORDER, 0, OTHER_PRODUCT),
     psycopg2.errors.CheckViolation, "order_items_line_no_check"),
    ("empty-name", lambda c: insert_line(c, ORDER, 2, OTHER_PRODUCT, name=""),
     psycopg2.errors.CheckViolation, "order_items_name_check"),
    ("line-of-no-order", lambda c: insert_line(c, NEW_ORDER, 1, PRODUCT),
     psycopg2.errors.ForeignKeyViolation, "order_items_order_id_fkey"),
    ("outbox-of-no-order", lambda c: c.execute(
        "INSERT INTO outbox (order_id, body) VALUES (%s, '{}')", (NEW_ORDER,)),
     psycopg2.errors.ForeignKeyViolation, "outbox_order_id_fkey"),
    ("outbox-id-by-hand", lambda c: c.execute(
        "INSERT INTO outbox (id, order_id, body) VALUES (1, %s, '{}')", (ORDER,)),
     psycopg2.errors.GeneratedAlways, ""),
    ("key-empty", lambda c: insert(c, "idempotency_keys", {
        "user_id": "u", "key": "", "request_hash": "0" * 64, "order_id": ORDER,
        "response_status": 202, "response_body": "{}"}),
     psycopg2.errors.CheckViolation, "idempotency_keys_key_check"),
    ("key-of-no-order", lambda c: insert(c, "idempotency_keys", {
        "user_id": "u", "key": "k", "request_hash": "0" * 64, "order_id": NEW_ORDER,
        "response_status": 202, "response_body": "{}"}),
     psycopg2.errors.ForeignKeyViolation, "idempotency_keys_order_id_fkey"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("statement", "error", "constraint"),
    [(statement, error, constraint) for _, statement, error, constraint in VIOLATIONS],
    ids=[name for name, *_ in VIOLATIONS],
)
def test_a_bad_state_is_refused_by_the_database(cursor, statement, error, constraint):
    with pytest.raises(error) as refused:
        statement(cursor)

    assert (refused.value.diag.constraint_name or "") == constraint


def test_a_key_is_held_once_per_user(cursor):
    row = {
        "user_id": "u",
        "key": "k",
        "request_hash": "0" * 64,
        "order_id": ORDER,
        "response_status": 202,
        "response_body": "{}",
    }
    insert(cursor, "idempotency_keys", row)
    insert(cursor, "idempotency_keys", {**row, "user_id": "someone else"})

    with pytest.raises(psycopg2.errors.UniqueViolation) as refused:
        insert(cursor, "idempotency_keys", {**row, "request_hash": "1" * 64})

    assert refused.value.diag.constraint_name == "idempotency_keys_pkey"


def test_deleting_an_order_takes_its_lines_keys_and_messages(cursor):
    cursor.execute("INSERT INTO outbox (order_id, body) VALUES (%s, '{}')", (ORDER,))

    cursor.execute("DELETE FROM orders WHERE id = %s", (ORDER,))

    cursor.execute(
        "SELECT (SELECT count(*) FROM order_items WHERE order_id = %s),"
        " (SELECT count(*) FROM outbox WHERE order_id = %s)",
        (ORDER, ORDER),
    )
    assert cursor.fetchone() == (0, 0)
