"""The orders unit of work on PostgreSQL: repositories that share one transaction.

Every statement is parameterised; the lines of an order go in with one multi-row INSERT, so
placing an order costs the same number of statements whatever its size.
"""

import base64
import binascii
import json
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg2
from psycopg2.extras import Json, execute_values

from services.common.clock import timestamp
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
    OutboxMessage,
    RequestInFlight,
    StoredResponse,
    check_transition,
    predecessors,
)
from services.orders.ports import (
    IdempotencyStore,
    OrderPage,
    OrderRepository,
    Outbox,
    UnitOfWork,
)

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", re.ASCII)


def _jsonb(value: Any) -> Json:
    return Json(value, dumps=lambda data: json.dumps(data, default=json_number))


class _Statements:
    def __init__(self, uow: "PostgresUnitOfWork") -> None:
        self._uow = uow

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self._uow.execute(sql, params)


class PostgresOrders(_Statements, OrderRepository):
    _COLUMNS = "id, user_id, status, status_reason, payment_token, created_at, updated_at"

    def add(self, order: Order) -> None:
        self._run(
            "INSERT INTO orders (id, user_id, status, status_reason, total, currency,"
            " payment_token, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                order.id,
                order.user_id,
                order.status.value,
                order.status_reason,
                order.total,
                order.currency,
                order.payment_token,
                order.created_at,
                order.updated_at,
            ),
        )
        rows = [
            (order.id, number, line.product_id, line.name, line.unit_price, line.quantity,
             line.line_total)
            for number, line in enumerate(order.lines, start=1)
        ]  # fmt: skip
        with self._uow.translated():
            execute_values(
                self._uow.cursor,
                "INSERT INTO order_items (order_id, line_no, product_id, name, unit_price,"
                " quantity, line_total) VALUES %s",
                rows,
                page_size=len(rows),
            )

    def _with_lines(self, rows: list[tuple[Any, ...]]) -> list[Order]:
        if not rows:
            return []
        ids = [str(row[0]) for row in rows]
        self._run(
            "SELECT order_id, product_id, name, unit_price, quantity FROM order_items"
            " WHERE order_id = ANY(%s::uuid[]) ORDER BY order_id, line_no",
            (ids,),
        )
        lines: dict[str, list[OrderLine]] = {order_id: [] for order_id in ids}
        for order_id, product_id, name, unit_price, quantity in self._uow.cursor.fetchall():
            lines[str(order_id)].append(OrderLine(str(product_id), name, unit_price, quantity))
        return [
            Order(
                id=str(order_id),
                user_id=user,
                status=OrderStatus(status),
                status_reason=reason,
                lines=tuple(lines[str(order_id)]),
                payment_token=token,
                created_at=timestamp(created),
                updated_at=timestamp(updated),
            )
            for order_id, user, status, reason, token, created, updated in rows
        ]

    def get(self, user_id: str, order_id: str) -> Order:
        return self._one(order_id, " AND user_id = %s", (user_id,))

    def find(self, order_id: str) -> Order:
        return self._one(order_id, "", ())

    def _one(self, order_id: str, condition: str, parameters: tuple[str, ...]) -> Order:
        try:
            order_id = str(uuid.UUID(order_id))  # PostgreSQL reads only some spellings
        except ValueError as exc:
            raise OrderNotFound(order_id[:64]) from exc
        self._run(
            f"SELECT {self._COLUMNS} FROM orders WHERE id = %s{condition}",  # noqa: S608
            (order_id, *parameters),
        )
        row = self._uow.cursor.fetchone()
        if row is None:
            raise OrderNotFound(order_id)
        return self._with_lines([row])[0]

    def transition(
        self, order_id: str, target: OrderStatus, reason: CancelReason | None, now: str
    ) -> Order:
        try:
            order_id = str(uuid.UUID(order_id))
        except ValueError as exc:
            raise OrderNotFound(order_id[:64]) from exc
        allowed = sorted(status.value for status in predecessors(target))
        # The status check and the change are one statement: a concurrent change cannot slip in.
        self._run(
            f"UPDATE orders SET status = %s, status_reason = %s, updated_at = %s"  # noqa: S608
            f" WHERE id = %s AND status = ANY(%s) RETURNING {self._COLUMNS}",
            (target.value, reason.value if reason else None, now, order_id, allowed),
        )
        row = self._uow.cursor.fetchone()
        if row is not None:
            return self._with_lines([row])[0]
        self._run("SELECT status FROM orders WHERE id = %s", (order_id,))
        current = self._uow.cursor.fetchone()
        if current is None:
            raise OrderNotFound(order_id)
        check_transition(OrderStatus(current[0]), target)
        raise InvalidTransition(OrderStatus(current[0]), target)  # allowed, yet changed meanwhile

    def list(self, user_id: str, limit: int, cursor: str | None) -> OrderPage:
        if cursor is None:
            self._run(
                f"SELECT {self._COLUMNS} FROM orders WHERE user_id = %s"  # noqa: S608
                " ORDER BY created_at DESC, id DESC LIMIT %s",
                (user_id, limit + 1),
            )
        else:
            created_at, order_id = _decode_cursor(cursor)
            self._run(
                f"SELECT {self._COLUMNS} FROM orders WHERE user_id = %s"  # noqa: S608
                " AND (created_at, id) < (%s, %s) ORDER BY created_at DESC, id DESC LIMIT %s",
                (user_id, created_at, order_id, limit + 1),
            )
        rows = self._uow.cursor.fetchall()
        orders = self._with_lines(rows[:limit])
        more = len(rows) > limit
        return OrderPage(orders, _encode_cursor(orders[-1]) if more else None)


def _encode_cursor(last: Order) -> str:
    raw = json.dumps({"t": last.created_at, "id": last.id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(position, dict) or set(position) != {"t", "id"}:
            raise ValueError("unexpected shape")
        created_at, order_id = str(position["t"]), str(uuid.UUID(str(position["id"])))
        if not _TIMESTAMP.fullmatch(created_at):
            raise ValueError("unexpected timestamp")
        datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ")  # a real date, not just its shape
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor() from exc
    return created_at, order_id


class PostgresIdempotency(_Statements, IdempotencyStore):
    def claim(self, user_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        # A transaction-scoped lock per key: a concurrent holder means "still in flight".
        self._run(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
            (json.dumps([user_id, key]),),
        )
        if not self._uow.cursor.fetchone()[0]:
            raise RequestInFlight()
        self._run(
            "SELECT request_hash, response_status, response_body, order_id FROM idempotency_keys"
            " WHERE user_id = %s AND key = %s",
            (user_id, key),
        )
        row = self._uow.cursor.fetchone()
        if row is None:
            return None
        request_hash, status, body, order_id = row
        if request_hash.strip() != fingerprint:
            raise IdempotencyKeyReused()
        return StoredResponse(int(status), body, str(order_id))

    def complete(self, user_id: str, key: str, fingerprint: str, response: StoredResponse) -> None:
        # The primary key, not the lock, is what guarantees one order per key.
        self._run(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, order_id,"
            " response_status, response_body) VALUES (%s, %s, %s, %s, %s, %s)",
            (user_id, key, fingerprint, response.order_id, response.status,
             _jsonb(response.body)),
        )  # fmt: skip


class PostgresOutbox(_Statements, Outbox):
    def add(self, order_id: str, body: dict[str, Any]) -> OutboxMessage:
        self._run(
            "INSERT INTO outbox (order_id, body) VALUES (%s, %s) RETURNING id",
            (order_id, _jsonb(body)),
        )
        return OutboxMessage(int(self._uow.cursor.fetchone()[0]), order_id, body)

    def pending(self, limit: int) -> list[OutboxMessage]:
        # SKIP LOCKED: two relays at once each take different messages.
        self._run(
            "SELECT id, order_id, body FROM outbox WHERE sent_at IS NULL"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (limit,),
        )
        return [OutboxMessage(int(i), str(o), b) for i, o, b in self._uow.cursor.fetchall()]

    def mark_sent(self, message_ids: Sequence[int]) -> None:
        if message_ids:
            self._run(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY(%s) AND sent_at IS NULL",
                (list(message_ids),),
            )


class PostgresUnitOfWork(UnitOfWork):
    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: Any = None
        self.cursor: Any = None
        self.orders = PostgresOrders(self)
        self.idempotency = PostgresIdempotency(self)
        self.outbox = PostgresOutbox(self)

    def __enter__(self) -> "PostgresUnitOfWork":
        self._connection = self._database.connection()
        with self._database.translated():
            self.cursor = self._connection.cursor()
        return self

    def translated(self) -> Any:
        return self._database.translated()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._database.translated():
            self.cursor.execute(sql, params)

    def commit(self) -> None:
        with self._database.translated():
            self._connection.commit()

    def rollback(self) -> None:
        """Undo what was not committed; a connection lost meanwhile has undone it already."""
        if self._connection is None or self._connection.closed:
            return
        try:
            self._connection.rollback()
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self._database.discard()
