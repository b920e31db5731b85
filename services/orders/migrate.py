"""Lambda entry that applies the schema migrations; the Pulumi program invokes it on deploy."""

from typing import Any

from services.common.aws import AwsClients
from services.common.observability import observed
from services.common.settings import Settings
from services.orders import migrations
from services.orders.database import MIGRATION_LIMITS
from services.orders.wiring import database_from


def migrate(event: dict[str, Any], context: Any) -> dict[str, list[str]]:
    settings = Settings.from_env()
    database = database_from(settings, AwsClients(settings), MIGRATION_LIMITS)
    try:
        applied = migrations.apply(database.connection())
    finally:
        database.discard()
    return {"applied": applied}


handler = observed(migrate, lambda event: {})
