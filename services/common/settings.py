"""Process settings, read once: explicit argument, then environment variable, then default."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

PRODUCTS_TABLE = "PRODUCTS_TABLE"
USER_POOL_CLIENT_ID = "USER_POOL_CLIENT_ID"
ORDERS_QUEUE_URL = "ORDERS_QUEUE_URL"
STATE_MACHINE_ARN = "STATE_MACHINE_ARN"  # the fulfilment workflow the order worker starts
# Where the orders database is; the credentials come from the Secrets Manager secret.
DATABASE_HOST = "DATABASE_HOST"
DATABASE_PORT = "DATABASE_PORT"
DATABASE_NAME = "DATABASE_NAME"
DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"  # noqa: S105 (the name of a variable, not a secret)
DATABASE_SSLMODE = "DATABASE_SSLMODE"  # libpq's sslmode; Aurora and RDS Proxy speak TLS
REGION = "AWS_REGION"


@dataclass(frozen=True)
class Settings:
    region: str
    products_table: str
    user_pool_client_id: str = ""
    orders_queue_url: str = ""
    state_machine_arn: str = ""
    database_host: str = ""
    database_port: int = 5432
    database_name: str = "ecommerce"
    database_secret_arn: str = ""
    database_sslmode: str = "require"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        return cls(
            region=env.get(REGION) or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            products_table=env.get(PRODUCTS_TABLE, "products"),
            user_pool_client_id=env.get(USER_POOL_CLIENT_ID, ""),
            orders_queue_url=env.get(ORDERS_QUEUE_URL, ""),
            state_machine_arn=env.get(STATE_MACHINE_ARN, ""),
            database_host=env.get(DATABASE_HOST, ""),
            database_port=int(env.get(DATABASE_PORT) or 5432),
            database_name=env.get(DATABASE_NAME, "ecommerce"),
            database_secret_arn=env.get(DATABASE_SECRET_ARN, ""),
            database_sslmode=env.get(DATABASE_SSLMODE) or "require",
        )
