"""Process settings, read once: explicit argument, then environment variable, then default."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

PRODUCTS_TABLE = "PRODUCTS_TABLE"
USER_POOL_CLIENT_ID = "USER_POOL_CLIENT_ID"
REGION = "AWS_REGION"


@dataclass(frozen=True)
class Settings:
    region: str
    products_table: str
    user_pool_client_id: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        return cls(
            region=env.get(REGION) or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            products_table=env.get(PRODUCTS_TABLE, "products"),
            user_pool_client_id=env.get(USER_POOL_CLIENT_ID, ""),
        )
