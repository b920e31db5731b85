"""The orders database connection: one per container, opened lazily, re-opened after a failure.

Credentials come from the cluster-managed Secrets Manager secret on every (re)connect, so a
rotated password is picked up without a deploy; no password ever sits in the environment.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError

from services.common.errors import DependencyUnavailable
from services.common.settings import Settings

UNAVAILABLE = "The orders database is unavailable; retry shortly."


@dataclass(frozen=True)
class Limits:
    """How long to wait for the server, a statement and an idle transaction."""

    connect_seconds: int = 5
    statement_ms: int = 5_000
    idle_in_transaction_ms: int = 15_000

    @property
    def options(self) -> str:
        return (
            f"-c statement_timeout={self.statement_ms}"
            f" -c idle_in_transaction_session_timeout={self.idle_in_transaction_ms}"
        )


# API requests fail fast rather than hold a client or a Lambda slot (a paused Aurora resumes on
# the attempt, and the client retries after Retry-After); migrations wait for a resuming
# database and may run long statements.
API_LIMITS = Limits()
MIGRATION_LIMITS = Limits(connect_seconds=60, statement_ms=0, idle_in_transaction_ms=0)


def secret_connector(
    settings: Settings, secrets: Any, limits: Limits = API_LIMITS
) -> Callable[[], Any]:
    """Connect with the credentials in the database secret (RDS's {"username", "password"})."""

    def connect() -> Any:
        try:
            value = secrets.get_secret_value(SecretId=settings.database_secret_arn)
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable(UNAVAILABLE) from exc
        credentials = json.loads(value["SecretString"])
        return psycopg2.connect(
            host=settings.database_host,
            port=settings.database_port,
            dbname=settings.database_name,
            user=credentials["username"],
            password=credentials["password"],
            sslmode=settings.database_sslmode,  # libpq ignores it on Unix sockets
            connect_timeout=limits.connect_seconds,
            application_name="ecommerce-orders",
            options=limits.options,
        )

    return connect


class Database:
    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._connection: Any = None

    def connection(self) -> Any:
        if self._connection is None or self._connection.closed:
            with self.translated():
                self._connection = self._connect()
                # The unit of work sends BEGIN itself, with the statement that needs it.
                self._connection.autocommit = True
        return self._connection

    def discard(self) -> None:
        """Forget a connection that failed; the next use opens a new one."""
        if self._connection is not None and not self._connection.closed:
            with suppress(psycopg2.Error):  # already broken: closing it is all we want
                self._connection.close()
        self._connection = None

    @contextmanager
    def translated(self) -> Iterator[None]:
        """A lost or unreachable server becomes a 503, and the connection is re-opened later."""
        try:
            yield
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self.discard()
            raise DependencyUnavailable(UNAVAILABLE) from exc
