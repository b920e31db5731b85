"""In-memory fakes that subclass the real ports, so the rules can be tested without I/O."""

import base64
import binascii
import dataclasses
import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any

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
