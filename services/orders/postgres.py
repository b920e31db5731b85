"""The orders unit of work on PostgreSQL: repositories that share one transaction.

Every statement is parameterised; the lines of an order go in with one multi-row INSERT, so
placing an order costs the same number of statements whatever its size.

Round trips are what a request waits for, so the unit of work spends as few as it can. Writes
wait in a batch and travel with the next statement whose answer is needed, or with the commit:
a unit of work that only writes is one round trip, one multi-statement query that PostgreSQL runs
as a single transaction. BEGIN is sent only when something must be seen or held before the writes
(a key's lock, the outbox rows a relay takes, a status change whose answer shapes the rest), and
it and COMMIT ride with the statements next to them. A statement announced as the unit's last
(`next_is_last`) with nothing before it needs neither: alone, it is a transaction of its own, so a
status change and the outbox message written by the same statement commit as it runs. An order is
read with its lines in one statement, outside any transaction.
"""

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2.extras import Json

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
    order_id_of,
    predecessors,
)
from services.orders.ports import (
    IdempotencyStore,
    OrderPage,
    OrderRepository,
    Outbox,
    UnitOfWork,
    UnitOfWorkEnded,
)

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", re.ASCII)
_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE
Rows = list[tuple[Any, ...]]
Parameters = Sequence[Any] | Mapping[str, Any]


def _jsonb(value: Any) -> Json:
    return Json(value, dumps=lambda data: json.dumps(data, default=json_number))


class _Statements:
    def __init__(self, uow: "PostgresUnitOfWork") -> None:
        self._uow = uow


class PostgresOrders(_Statements, OrderRepository):
    # One statement reads an order whole: its lines travel with it as one JSON array (the price
    # as text, so that it comes back a Decimal, not a float). `o` is the order's row.
    _COLUMNS_AND_LINES = (
        "o.id, o.user_id, o.status, o.status_reason, o.payment_token, o.created_at, o.updated_at,"
        " (SELECT coalesce(json_agg(json_build_array(i.product_id, i.name, i.unit_price::text,"
        " i.quantity) ORDER BY i.line_no), '[]') FROM order_items i WHERE i.order_id = o.id)"
    )
    _SELECT = "SELECT " + _COLUMNS_AND_LINES + " FROM orders o"  # noqa: S608 (constants)
    # The status check and the change are one statement: a concurrent change cannot slip in. The
    # owner (if any) is a condition of the same UPDATE, and the message (if any) is inserted by it
    # for the row it moved: someone else's order, or one that may not move, is left untouched and
    # gets no message. The last column is the message's id. (A NULL owner or message is folded
    # away when the statement is planned.)
    _OWNER = "(%(owner)s::text IS NULL OR user_id = %(owner)s)"
    _MOVE = (
        "WITH moved AS (UPDATE orders"  # noqa: S608 (constants)
        " SET status = %(target)s, status_reason = %(reason)s, updated_at = %(now)s"
        " WHERE id = %(id)s AND status = ANY(%(allowed)s) AND " + _OWNER + " RETURNING *),"
        " sent AS (INSERT INTO outbox (order_id, body) SELECT id, %(message)s::jsonb FROM moved"
        " WHERE %(message)s::jsonb IS NOT NULL RETURNING id)"
        " SELECT " + _COLUMNS_AND_LINES + ", (SELECT id FROM sent) FROM moved o"
    )
    _STATUS = "SELECT status FROM orders WHERE id = %(id)s AND " + _OWNER  # noqa: S608

    def add(self, order: Order) -> None:
        self._uow.write(
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
        line_rows = [
            (order.id, number, line.product_id, line.name, line.unit_price, line.quantity,
             line.line_total)
            for number, line in enumerate(order.lines, start=1)
        ]  # fmt: skip
        rows = b",".join(self._uow.mogrify("(%s, %s, %s, %s, %s, %s, %s)", r) for r in line_rows)
        self._uow.write(
            b"INSERT INTO order_items (order_id, line_no, product_id, name, unit_price,"
            b" quantity, line_total) VALUES " + rows
        )

    @staticmethod
    def _order(row: tuple[Any, ...]) -> Order:
        order_id, user, status, reason, token, created, updated, lines = row
        return Order(
            id=str(order_id),
            user_id=user,
            status=OrderStatus(status),
            status_reason=reason,
            lines=tuple(
                OrderLine(str(product_id), name, Decimal(price), quantity)
                for product_id, name, price, quantity in lines
            ),
            payment_token=token,
            created_at=timestamp(created),
            updated_at=timestamp(updated),
        )

    def get(self, user_id: str, order_id: str) -> Order:
        return self._one(order_id, " AND o.user_id = %s", (user_id,))

    def find(self, order_id: str) -> Order:
        return self._one(order_id, "", ())

    def _one(self, order_id: str, condition: str, parameters: tuple[str, ...]) -> Order:
        order_id = order_id_of(order_id)
        rows = self._uow.read(f"{self._SELECT} WHERE o.id = %s{condition}", (order_id, *parameters))
        if not rows:
            raise OrderNotFound(order_id)
        return self._order(rows[0])

    def transition(
        self,
        order_id: str,
        target: OrderStatus,
        reason: CancelReason | None,
        now: str,
        *,
        owner: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> Order:
        order_id = order_id_of(order_id)
        parameters = {
            "target": target.value,
            "reason": reason.value if reason else None,
            "now": now,
            "id": order_id,
            "allowed": sorted(status.value for status in predecessors(target)),
            "owner": owner,
            "message": None if message is None else _jsonb(message),
        }
        # It holds the change until commit, so that what follows commits with it or not at all;
        # announced as the unit's last, it is sent alone and commits as it runs.
        rows = self._uow.hold(self._MOVE, parameters)
        if rows:
            *columns, message_id = rows[0]
            if message is not None:
                self._uow.written(OutboxMessage(int(message_id), order_id, message))
            return self._order(tuple(columns))
        # Why nothing moved, asked in a statement of its own: the UPDATE saw the row's latest
        # version, but the rest of its statement sees the snapshot taken when it began, which a
        # concurrent change (the workflow's confirm, another cancel) may have overtaken.
        current = self._uow.read(self._STATUS, parameters)
        if not current:
            raise OrderNotFound(order_id)
        status = OrderStatus(current[0][0])
        check_transition(status, target)
        raise InvalidTransition(status, target)  # allowed, yet changed meanwhile

    def list(self, user_id: str, limit: int, cursor: str | None) -> OrderPage:
        if cursor is None:
            rows = self._uow.read(
                f"{self._SELECT} WHERE o.user_id = %s"
                " ORDER BY o.created_at DESC, o.id DESC LIMIT %s",
                (user_id, limit + 1),
            )
        else:
            created_at, order_id = _decode_cursor(cursor)
            rows = self._uow.read(
                f"{self._SELECT} WHERE o.user_id = %s AND (o.created_at, o.id) < (%s, %s)"
                " ORDER BY o.created_at DESC, o.id DESC LIMIT %s",
                (user_id, created_at, order_id, limit + 1),
            )
        orders = [self._order(row) for row in rows[:limit]]
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
        # A transaction-scoped lock per key: a concurrent holder means "still in flight". The
        # read is a statement of its own, so that its snapshot is taken once the lock is held.
        (locked,) = self._uow.hold(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
            (json.dumps([user_id, key]),),
        )
        if not locked[0]:
            raise RequestInFlight()
        rows = self._uow.read(
            "SELECT request_hash, response_status, response_body, order_id FROM idempotency_keys"
            " WHERE user_id = %s AND key = %s",
            (user_id, key),
        )
        if not rows:
            return None
        request_hash, status, body, order_id = rows[0]
        if request_hash.strip() != fingerprint:
            raise IdempotencyKeyReused()
        return StoredResponse(int(status), body, str(order_id))

    def complete(self, user_id: str, key: str, fingerprint: str, response: StoredResponse) -> None:
        # The primary key, not the lock, is what guarantees one order per key.
        self._uow.write(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, order_id,"
            " response_status, response_body) VALUES (%s, %s, %s, %s, %s, %s)",
            (user_id, key, fingerprint, response.order_id, response.status,
             _jsonb(response.body)),
        )  # fmt: skip


class PostgresOutbox(_Statements, Outbox):
    def add(self, order_id: str, body: dict[str, Any]) -> None:
        def added(rows: Rows) -> None:
            self._uow.written(OutboxMessage(int(rows[0][0]), order_id, body))

        self._uow.write(
            "INSERT INTO outbox (order_id, body) VALUES (%s, %s) RETURNING id",
            (order_id, _jsonb(body)),
            answer=added,
        )

    def pending(self, limit: int) -> list[OutboxMessage]:
        # SKIP LOCKED: two relays at once each take different messages, held until commit.
        rows = self._uow.hold(
            "SELECT id, order_id, body FROM outbox WHERE sent_at IS NULL"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (limit,),
        )
        return [OutboxMessage(int(i), str(o), b) for i, o, b in rows]

    def mark_sent(self, message_ids: Sequence[int]) -> None:
        if message_ids:
            self._uow.write(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY(%s) AND sent_at IS NULL",
                (list(message_ids),),
            )


class PostgresUnitOfWork(UnitOfWork):
    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: Any = None
        self._cursor: Any = None
        self._batch: list[bytes] = []
        self._answer: Callable[[Rows], None] | None = None  # for the batch's last statement
        self._messages: list[OutboxMessage] = []
        self._last = False  # next_is_last() was called
        self._ended = False  # a statement announced as the last was sent alone: it committed
        self.orders = PostgresOrders(self)
        self.idempotency = PostgresIdempotency(self)
        self.outbox = PostgresOutbox(self)

    def __enter__(self) -> "PostgresUnitOfWork":
        self._connection = self._database.connection()
        with self._database.translated():
            self._cursor = self._connection.cursor()
        return self

    def mogrify(self, sql: str | bytes, params: Parameters | None = None) -> bytes:
        """The statement with its parameters quoted by psycopg2, as it would send it."""
        with self._database.translated():
            statement: bytes = self._cursor.mogrify(sql, params)
        return statement

    def write(
        self,
        sql: str | bytes,
        params: Parameters | None = None,
        answer: Callable[[Rows], None] | None = None,
    ) -> None:
        """A statement whose answer can wait: it goes with the next one sent. Only a batch's
        last statement is answered, so one awaiting `answer` is sent before anything follows."""
        self._not_ended()
        self._answered_first()
        self._batch.append(self.mogrify(sql, params))
        self._answer = answer

    def read(self, sql: str, params: Parameters) -> Rows:
        """A statement answered now. Alone it runs in autocommit, like any statement under READ
        COMMITTED; after writes, it opens the transaction so that they can still be undone."""
        self._answered_first()
        return self._send(self.mogrify(sql, params), begin=bool(self._batch))

    def hold(self, sql: str, params: Parameters) -> Rows:
        """A statement answered now whose effect (a lock, a change) lasts until commit. The
        unit's announced last, with nothing before it, goes alone instead: a transaction of its
        own, committed as it runs, after which nothing may be written."""
        self._not_ended()
        self._answered_first()
        alone = self._last and not self._batch and not self._in_transaction()
        rows = self._send(self.mogrify(sql, params), begin=not alone)
        self._ended = alone
        return rows

    def next_is_last(self) -> None:
        self._last = True

    def _not_ended(self) -> None:
        """Reads may follow the last statement (they see what it committed); changes may not,
        as they would commit on their own."""
        if self._ended:
            raise UnitOfWorkEnded()

    def _answered_first(self) -> None:
        """A batch awaiting its answer goes before anything is added: only a query's last
        statement is answered. Inside a transaction, since more is to come."""
        if self._answer is not None:
            self._send(begin=True)

    def written(self, message: OutboxMessage) -> None:
        self._messages.append(message)

    def _in_transaction(self) -> bool:
        return bool(self._connection.info.transaction_status != _IDLE)

    def _send(self, last: bytes | None = None, *, begin: bool, commit: bool = False) -> Rows:
        """One round trip: BEGIN if asked and none is open, the batch, `last`, COMMIT if asked."""
        statements, answer = self._batch, self._answer
        self._batch, self._answer = [], None
        if last is not None:
            assert answer is None, "a batch awaiting its answer goes first"
            statements = [*statements, last]
        if not statements and not commit:
            return []
        if begin and not self._in_transaction():
            statements = [b"BEGIN", *statements]
        if commit:
            statements = [*statements, b"COMMIT"]
        with self._database.translated():
            self._cursor.execute(b";".join(statements))
            rows: Rows = self._cursor.fetchall() if self._cursor.description else []
        if answer is not None:
            answer(rows)
        return rows

    def commit(self) -> list[OutboxMessage]:
        if not self._in_transaction():
            self._send(begin=False)  # one query is one transaction: atomic without BEGIN
        else:
            if self._answer is not None:
                self._send(begin=False)  # its answer would be COMMIT's otherwise
            self._send(begin=False, commit=True)
        messages, self._messages = self._messages, []
        self._last = self._ended = False
        return messages

    def rollback(self) -> None:
        """Undo what was not committed; a connection lost meanwhile has undone it already."""
        self._batch, self._answer, self._messages = [], None, []
        self._last = self._ended = False
        if self._connection is None or self._connection.closed:
            return
        try:
            if self._in_transaction():
                self._cursor.execute("ROLLBACK")
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self._database.discard()
