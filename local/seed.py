"""Sample data for a fresh local stack: an admin and a catalogue, written through the real code."""

import json
import secrets
import string
from pathlib import Path
from typing import Any

from services.common.http import loads
from services.products import service
from services.products.ports import ProductRepository
from services.products.schemas import ProductIn
from services.routes import ADMIN_GROUP

CATALOGUE = Path(__file__).with_name("catalogue.json")
ADMIN_EMAIL = "admin@example.com"


def new_password() -> str:
    """A random password that meets the pool's policy (every character class present)."""
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(16))
    return f"Aa1!{core}"


def ensure_admin(cognito: Any, pool_id: str, email: str, password: str) -> None:
    try:
        cognito.admin_get_user(UserPoolId=pool_id, Username=email)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "name", "Value": "Local Admin"},
            ],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=email, Password=password, Permanent=True
    )
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=ADMIN_GROUP)


def seed_catalogue(repository: ProductRepository) -> int:
    """Add the sample catalogue when the table holds no product; returns how many were added."""
    if repository.list(None, 1, None).items:
        return 0
    entries = loads(CATALOGUE.read_text())
    for entry in entries:
        service.create_product(repository, ProductIn.model_validate(entry).fields())
    return len(entries)


def previous_password(stack_file: Path) -> str | None:
    if not stack_file.exists():
        return None
    try:
        password = json.loads(stack_file.read_text())["admin"]["password"]
    except (ValueError, KeyError, TypeError):
        return None
    return password if isinstance(password, str) else None
