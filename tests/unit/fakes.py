"""In-memory fakes that subclass the real ports, so the rules can be tested without I/O."""

import base64
import binascii
import dataclasses
import itertools
import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.common.clock import Clock, timestamp, utc_now
from services.common.errors import DependencyUnavailable
from services.orders.domain import (
    CancelReason,
    IdempotencyKeyReused,
    Order,
    OrderNotFound,
    OrderStatus,
    OutboxMessage,
    PricedProduct,
    RequestInFlight,
    StoredResponse,
    check_transition,
    order_id_of,
)
from services.orders.domain import InvalidCursor as OrderInvalidCursor
from services.orders.inventory import Inventory, Lines, OutOfStock, Reservation
from services.orders.payments import (
    Charge,
    ChargeStatus,
    Outcome,
    PaymentDeclined,
    PaymentProvider,
    PaymentTemporarilyFailed,
    checked_amount,
    simulated_outcome,
)
from services.orders.ports import (
    Catalogue,
    IdempotencyStore,
    OrderPage,
    OrderRepository,
    Outbox,
    Publisher,
    UnitOfWork,
    UnitOfWorkEnded,
)
from services.products.domain import (
    InvalidCursor,
    Product,
    ProductFields,
    ProductNotFound,
    StaleVersion,
)
from services.products.ports import Page, ProductRepository
from services.users.domain import (
    AlreadyConfirmed,
    EmailTaken,
    InvalidCode,
    InvalidCredentials,
    InvalidRefreshToken,
    NewAccount,
    NotConfirmed,
    Profile,
    Tokens,
    WeakPassword,
)
from services.users.pool import PASSWORD_POLICY
from services.users.ports import IdentityProvider


class FakeProductRepository(ProductRepository):
    """Honours the ProductRepository contract: versions, newest first, categories and cursors."""

    def __init__(self, products: list[Product] | None = None) -> None:
        self._products: dict[str, Product] = {}
        for product in products or []:
            self.add(product)

    def add(self, product: Product) -> None:
        if product.id in self._products:
            raise ValueError(f"a product with the id {product.id} is already stored")
        self._products[product.id] = product

    def get(self, product_id: str) -> Product:
        try:
            return self._products[product_id]
        except KeyError:
            raise ProductNotFound(product_id) from None

    def update(
        self, product_id: str, fields: ProductFields, expected_version: int | None, now: str
    ) -> Product:
        current = self._checked(product_id, expected_version)
        changes: dict[str, Any] = dict(fields)
        updated = dataclasses.replace(
            current, **changes, updated_at=now, version=current.version + 1
        )
        self._products[product_id] = updated
        return updated

    def delete(self, product_id: str, expected_version: int | None) -> None:
        self._checked(product_id, expected_version)
        del self._products[product_id]

    def list(self, category: str | None, limit: int, cursor: str | None) -> Page:
        partition = category if category is not None else "*"
        ordered = sorted(
            (p for p in self._products.values() if category is None or p.category == category),
            key=_position,
            reverse=True,
        )
        if cursor is not None:
            after = _decode(cursor, partition)
            ordered = [p for p in ordered if _position(p) < after]
        page = ordered[:limit]
        more = len(ordered) > limit
        return Page(page, _encode(_position(page[-1]), partition) if more else None)

    def _checked(self, product_id: str, expected_version: int | None) -> Product:
        current = self.get(product_id)
        if expected_version is not None and current.version != expected_version:
            raise StaleVersion(product_id, expected_version)
        return current


def _position(product: Product) -> tuple[str, str]:
    return (product.created_at, product.id)


def _encode(position: tuple[str, str], partition: str) -> str:
    raw = json.dumps({"p": partition, "k": list(position)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str, partition: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(data, dict) or data.get("p") != partition:
        raise InvalidCursor()
    key = data.get("k")
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise InvalidCursor()
    return (key[0], key[1])


@dataclass
class _Account:
    id: str
    email: str
    name: str
    password: str
    code: str
    confirmed: bool = False
    reset_code: str | None = None


class FakeIdentityProvider(IdentityProvider):
    """Honours the IdentityProvider contract in memory, as Cognito behind this API answers.

    `calls` records every operation asked of it, so tests can prove a request never got here.
    Codes are "sent" by keeping them: `code_for` and `reset_code_for` read the last one.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._accounts: dict[str, _Account] = {}
        self._access_tokens: dict[str, str] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._codes = itertools.count(100_000)

    def sign_up(self, email: str, password: str, name: str) -> NewAccount:
        self.calls.append("sign_up")
        if email in self._accounts:
            raise EmailTaken()
        if not PASSWORD_POLICY.is_met_by(password):
            raise WeakPassword()
        account = _Account(str(uuid.uuid4()), email, name, password, self._code())
        self._accounts[email] = account
        return NewAccount(account.id, email, name, confirmed=False)

    def confirm(self, email: str, code: str) -> None:
        self.calls.append("confirm")
        account = self._accounts.get(email)
        if account is None:
            raise InvalidCode()
        if account.confirmed:
            raise AlreadyConfirmed()
        if code != account.code:
            raise InvalidCode()
        account.confirmed = True

    def resend_code(self, email: str) -> None:
        self.calls.append("resend_code")
        account = self._accounts.get(email)
        if account is not None and not account.confirmed:
            account.code = self._code()

    def login(self, email: str, password: str) -> Tokens:
        self.calls.append("login")
        account = self._accounts.get(email)
        if account is None or account.password != password:
            raise InvalidCredentials()
        if not account.confirmed:
            raise NotConfirmed()
        refresh_token = f"refresh-{uuid.uuid4()}"
        self._refresh_tokens[refresh_token] = email
        return dataclasses.replace(self._issue(email), refresh_token=refresh_token)

    def refresh(self, refresh_token: str) -> Tokens:
        self.calls.append("refresh")
        email = self._refresh_tokens.get(refresh_token)
        if email is None:
            raise InvalidRefreshToken()
        return self._issue(email)

    def forgot_password(self, email: str) -> None:
        self.calls.append("forgot_password")
        account = self._accounts.get(email)
        if account is not None:
            account.reset_code = self._code()

    def reset_password(self, email: str, code: str, new_password: str) -> None:
        self.calls.append("reset_password")
        account = self._accounts.get(email)
        if account is None or account.reset_code is None or code != account.reset_code:
            raise InvalidCode()
        if not PASSWORD_POLICY.is_met_by(new_password):
            raise WeakPassword("newPassword")
        account.password = new_password
        account.reset_code = None

    def profile(self, access_token: str) -> Profile:
        self.calls.append("profile")
        email = self._access_tokens.get(access_token)
        if email is None:
            raise InvalidCredentials()
        account = self._accounts[email]
        return Profile(account.id, email, account.name, email_verified=account.confirmed, groups=())

    def code_for(self, email: str) -> str:
        return self._accounts[email].code

    def reset_code_for(self, email: str) -> str | None:
        return self._accounts[email].reset_code

    def _code(self) -> str:
        return str(next(self._codes))

    def _issue(self, email: str) -> Tokens:
        access_token = f"access-{uuid.uuid4()}"
        self._access_tokens[access_token] = email
        return Tokens(access_token, id_token=f"id-{uuid.uuid4()}", expires_in=3600)


# --- orders ---------------------------------------------------------------------------------


class FakeCatalogue(Catalogue):
    """Prices in memory; `calls` holds the ids of every read, to count round trips."""

    def __init__(self, products: Iterable[PricedProduct] = ()) -> None:
        self.products = {product.id: product for product in products}
        self.calls: list[list[str]] = []

    def prices(self, product_ids: Sequence[str]) -> dict[str, PricedProduct]:
        self.calls.append(list(product_ids))
        return {pid: self.products[pid] for pid in product_ids if pid in self.products}


@dataclass
class _Message:
    message: OutboxMessage
    sent: bool = False


@dataclass
class _StoredKey:
    fingerprint: str
    response: StoredResponse


class FakeOrdersDatabase:
    """The committed state a FakeUnitOfWork reads and writes: orders, keys and the outbox.

    As in PostgreSQL, a key claimed by an open unit of work is in flight for every other one,
    an outbox message read by one is skipped by the others, and outbox ids are never reused.
    """

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.keys: dict[tuple[str, str], _StoredKey] = {}
        self.outbox: dict[int, _Message] = {}
        self.commits = 0
        self.claimed: set[tuple[str, str]] = set()
        self.held_messages: set[int] = set()
        self._ids = itertools.count(1)

    def new_unit_of_work(self) -> "FakeUnitOfWork":
        return FakeUnitOfWork(self)

    def next_message_id(self) -> int:
        return next(self._ids)

    def pending(self) -> list[OutboxMessage]:
        return [entry.message for entry in self.outbox.values() if not entry.sent]

    def sent(self) -> list[OutboxMessage]:
        return [entry.message for entry in self.outbox.values() if entry.sent]


class FakeOrders(OrderRepository):
    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self._uow = uow
        self.added: dict[str, Order] = {}

    def _visible(self) -> dict[str, Order]:
        return {**self._uow.database.orders, **self.added}

    def add(self, order: Order) -> None:
        self._uow.writing()
        if order.id in self._visible():
            raise ValueError(f"an order with the id {order.id} is already stored")
        self.added[order.id] = order

    def get(self, user_id: str, order_id: str) -> Order:
        return self._found(order_id, user_id)

    def find(self, order_id: str) -> Order:
        return self._found(order_id, None)

    def _found(self, order_id: str, owner: str | None) -> Order:
        order = self._visible().get(order_id_of(order_id))
        if order is None or owner not in (None, order.user_id):
            raise OrderNotFound(order_id)
        return order

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
        with self._uow.holding():
            order = self._found(order_id, owner)
            check_transition(order.status, target)
            moved = dataclasses.replace(
                order, status=target, status_reason=reason.value if reason else None, updated_at=now
            )
            self.added[order.id] = moved
            if message is not None:
                self._uow.written(order.id, message)
        return moved

    def list(self, user_id: str, limit: int, cursor: str | None) -> OrderPage:
        mine = [order for order in self._visible().values() if order.user_id == user_id]
        ordered = sorted(mine, key=_order_position, reverse=True)
        if cursor is not None:
            after = _decode_order_cursor(cursor)
            ordered = [order for order in ordered if _order_position(order) < after]
        page = ordered[:limit]
        more = len(ordered) > limit
        return OrderPage(page, _encode_order_cursor(_order_position(page[-1])) if more else None)


def _order_position(order: Order) -> tuple[str, str]:
    return (order.created_at, order.id)


def _encode_order_cursor(position: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def _decode_order_cursor(cursor: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise OrderInvalidCursor() from exc
    if not (isinstance(data, list) and len(data) == 2 and all(isinstance(k, str) for k in data)):
        raise OrderInvalidCursor()
    return (data[0], data[1])


class FakeIdempotency(IdempotencyStore):
    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self._uow = uow
        self.claimed: set[tuple[str, str]] = set()
        self.completed: dict[tuple[str, str], _StoredKey] = {}

    def claim(self, user_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        self._uow.writing()
        database = self._uow.database
        if (user_id, key) in database.claimed and (user_id, key) not in self.claimed:
            raise RequestInFlight()
        database.claimed.add((user_id, key))
        self.claimed.add((user_id, key))
        stored = database.keys.get((user_id, key))
        if stored is None:
            return None
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        return stored.response

    def complete(self, user_id: str, key: str, fingerprint: str, response: StoredResponse) -> None:
        self._uow.writing()
        if (user_id, key) in self._uow.database.keys or (user_id, key) in self.completed:
            raise ValueError(f"the key {key!r} of {user_id} is already stored")  # a primary key
        self.completed[(user_id, key)] = _StoredKey(fingerprint, response)


class FakeOutbox(Outbox):
    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self._uow = uow
        self.added: dict[int, _Message] = {}
        self.held: set[int] = set()
        self.marked: set[int] = set()

    def add(self, order_id: str, body: dict[str, Any]) -> None:
        self._uow.writing()
        self.added_message(order_id, body)

    def added_message(self, order_id: str, body: dict[str, Any]) -> None:
        message = OutboxMessage(self._uow.database.next_message_id(), order_id, body)
        self.added[message.id] = _Message(message)

    def pending(self, limit: int) -> list[OutboxMessage]:
        with self._uow.holding():
            database = self._uow.database
            held_by_others = database.held_messages - self.held
            free = [
                entry.message
                for entry in database.outbox.values()
                if not entry.sent and entry.message.id not in held_by_others
            ][:limit]
            ids = {message.id for message in free}
            self.held |= ids
            database.held_messages |= ids
        return free

    def mark_sent(self, message_ids: Sequence[int]) -> None:
        self._uow.writing()
        self.marked |= set(message_ids)


class FakeUnitOfWork(UnitOfWork):
    """One transaction over a FakeOrdersDatabase: nothing is seen by others before commit.

    As on PostgreSQL, an operation that holds what it does (a status change, the outbox rows a
    relay takes) announced as the last with nothing before it commits as it is done, and
    anything written after it raises UnitOfWorkEnded.
    """

    def __init__(self, database: FakeOrdersDatabase) -> None:
        self.database = database
        self._start()

    def _start(self) -> None:
        self.orders = self._orders = FakeOrders(self)
        self.idempotency = self._idempotency = FakeIdempotency(self)
        self.outbox = self._outbox = FakeOutbox(self)
        self._last = False
        self._committed: list[OutboxMessage] | None = None  # by the last operation

    def next_is_last(self) -> None:
        self._last = True

    def written(self, order_id: str, body: dict[str, Any]) -> None:
        """A message written by another operation than the outbox's own (a status change)."""
        self._outbox.added_message(order_id, body)

    def writing(self) -> None:
        if self._committed is not None:
            raise UnitOfWorkEnded()

    @contextmanager
    def holding(self) -> Iterator[None]:
        self.writing()
        alone = self._last and not self._pending()
        yield
        if alone:
            self._committed = self._apply()

    def _pending(self) -> bool:
        return bool(
            self._orders.added or self._idempotency.claimed or self._idempotency.completed
            or self._outbox.added or self._outbox.held or self._outbox.marked
        )  # fmt: skip

    def commit(self) -> list[OutboxMessage]:
        messages = self._apply() if self._committed is None else self._committed
        self._start()
        return messages

    def _apply(self) -> list[OutboxMessage]:
        database = self.database
        messages = [entry.message for entry in self._outbox.added.values()]
        database.orders.update(self._orders.added)
        database.keys.update(self._idempotency.completed)
        database.outbox.update(self._outbox.added)
        for message_id in self._outbox.marked:
            if message_id in database.outbox:
                database.outbox[message_id].sent = True
        database.commits += 1
        self._release()
        self._orders.added, self._idempotency.completed, self._outbox.added = {}, {}, {}
        self._idempotency.claimed, self._outbox.held, self._outbox.marked = set(), set(), set()
        return messages

    def rollback(self) -> None:
        self._release()
        self._start()

    def _release(self) -> None:
        self.database.claimed -= self._idempotency.claimed
        self.database.held_messages -= self._outbox.held


class FakePublisher(Publisher):
    """Keeps what it is asked to send. `failing` makes it unavailable; `refuse` makes the queue
    turn away the messages with those ids while accepting the others."""

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.refuse: set[int] = set()
        self.sent: list[OutboxMessage] = []
        self.calls = 0

    def publish(self, messages: Sequence[OutboxMessage]) -> list[int]:
        self.calls += 1
        if self.failing:
            raise DependencyUnavailable("The orders queue is unavailable.")
        accepted = [message for message in messages if message.id not in self.refuse]
        self.sent += accepted
        return [message.id for message in accepted]


# --- payments -------------------------------------------------------------------------------


class FakePaymentProvider(PaymentProvider):
    """Honours the PaymentProvider contract in memory, with the simulated provider's rules.

    `charges` and `refunds` record every movement of money, in order, so a test can prove an
    order was charged once; `failing` makes the provider unreachable (it then moves nothing).
    Safe to share between threads, as one provider is shared by concurrent callers.
    """

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock
        self.failing = False
        self.charges: list[Charge] = []
        self.refunds: list[Charge] = []
        self._records: dict[str, Charge] = {}
        self._failed_attempts: dict[str, int] = {}
        self._lock = threading.Lock()

    def charge(self, order_id: str, amount: Decimal, currency: str, token: str) -> Charge:
        amount = checked_amount(amount, currency, token)
        with self._lock:
            self._reachable()
            existing = self._records.get(order_id)
            if existing is not None:
                return existing.repeated(amount, token)
            attempt = self._failed_attempts.get(order_id, 0) + 1
            outcome = simulated_outcome(token, attempt)
            if outcome is Outcome.DECLINE:
                raise PaymentDeclined(order_id)
            if outcome is Outcome.TRANSIENT:
                self._failed_attempts[order_id] = attempt
                raise PaymentTemporarilyFailed(order_id)
            charge = Charge(
                order_id=order_id,
                amount=amount,
                currency=currency,
                token=token,
                status=ChargeStatus.CHARGED,
                charged_at=timestamp(self.clock()),
                refunded_at=None,
                attempts=attempt,
            )
            self._records[order_id] = charge
            self.charges.append(charge)
            return charge

    def refund(self, order_id: str) -> Charge | None:
        with self._lock:
            self._reachable()
            existing = self._records.get(order_id)
            if existing is None or existing.status is ChargeStatus.REFUNDED:
                return existing
            refunded = dataclasses.replace(
                existing, status=ChargeStatus.REFUNDED, refunded_at=timestamp(self.clock())
            )
            self._records[order_id] = refunded
            self.refunds.append(refunded)
            return refunded

    def get(self, order_id: str) -> Charge | None:
        with self._lock:
            self._reachable()
            return self._records.get(order_id)

    def _reachable(self) -> None:
        if self.failing:
            raise DependencyUnavailable("The payment provider is unreachable.")


# --- stock ----------------------------------------------------------------------------------


class FakeInventory(Inventory):
    """Honours the Inventory contract in memory: every line or none, at most once per order,
    released at most once, never below zero; a product it does not stock is out of stock.

    `stock` is what is left per product; `taken` and `given_back` record each order whose stock
    actually moved, in order; `failing` makes the stock store unreachable (it then moves nothing).
    """

    def __init__(self, stock: Mapping[str, int] | None = None) -> None:
        self.stock = dict(stock or {})
        self.failing = False
        self.taken: list[str] = []
        self.given_back: list[str] = []
        self._reservations: dict[str, Reservation] = {}
        self._lock = threading.Lock()

    def reserve(self, order_id: str, lines: Lines) -> Reservation:
        product_ids = [product_id for product_id, _ in lines]
        if len(set(product_ids)) != len(product_ids) or any(q < 1 for _, q in lines):
            raise ValueError("a reservation holds each product once, with a positive quantity")
        with self._lock:
            self._reachable()
            existing = self._reservations.get(order_id)
            if existing is not None:
                return existing
            short = [pid for pid, quantity in lines if self.stock.get(pid, 0) < quantity]
            if short:
                raise OutOfStock(short)
            for product_id, quantity in lines:
                self.stock[product_id] -= quantity
            reservation = Reservation(order_id, tuple(lines), released=False)
            self._reservations[order_id] = reservation
            self.taken.append(order_id)
            return reservation

    def release(self, order_id: str) -> bool:
        with self._lock:
            self._reachable()
            reservation = self._reservations.get(order_id)
            if reservation is None or reservation.released:
                return False
            for product_id, quantity in reservation.lines:
                if product_id in self.stock:  # a product deleted since has nothing to get back
                    self.stock[product_id] += quantity
            self._reservations[order_id] = dataclasses.replace(reservation, released=True)
            self.given_back.append(order_id)
            return True

    def get(self, order_id: str) -> Reservation | None:
        with self._lock:
            self._reachable()
            return self._reservations.get(order_id)

    def _reachable(self) -> None:
        if self.failing:
            raise DependencyUnavailable("The stock store is unavailable.")
