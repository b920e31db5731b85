"""A small migration runner: versioned SQL files applied in order, once, under a lock.

Why not Alembic or yoyo: the schema is plain SQL, the runner must fit in the Lambda that applies
it on deploy without another dependency, and everything it needs is ~60 lines: a version table,
an advisory lock so that two runs never interleave, one transaction per file, and a checksum
so that an edited, already applied file is refused instead of silently skipped.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIGRATIONS = Path(__file__).with_name("migrations")
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK = 7_432_001  # an arbitrary advisory lock id owned by this runner


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def discover(directory: Path = MIGRATIONS) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migrations are named NNNN_words.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


def apply(connection: Any, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is missing; returns the names applied. Safe to run concurrently."""
    migrations = discover() if migrations is None else migrations
    connection.autocommit = False
    applied_now = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum char(64) NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            connection.commit()
            cursor.execute("SELECT version, checksum FROM schema_migrations")
            done = dict(cursor.fetchall())
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version].strip() != migration.checksum:
                        raise MigrationError(f"{migration.name} changed after it was applied")
                    continue
                cursor.execute(migration.sql)
                cursor.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
                connection.commit()
                applied_now.append(migration.name)
        except BaseException:
            connection.rollback()
            raise
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
            connection.commit()
    return applied_now
