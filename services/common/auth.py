"""Who is calling: the principal built from the claims API Gateway's JWT authorizer verified."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import Forbidden, Unauthorized
from services.routes import ADMIN_GROUP


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    groups: frozenset[str]
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


def _as_list(value: Any) -> list[str]:
    """API Gateway renders list claims as "[a b]"; tests and other sources may pass real lists."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [part for part in text.replace(",", " ").split() if part]


def principal_from_authorizer(authorizer: Mapping[str, Any] | None) -> Principal | None:
    """Read `requestContext.authorizer` of a payload 2.0 event; None when the route is public."""
    claims = ((authorizer or {}).get("jwt") or {}).get("claims") or {}
    subject = claims.get("sub")
    if not subject:
        return None
    return Principal(
        user_id=str(subject),
        username=str(claims.get("username") or claims.get("cognito:username") or subject),
        groups=frozenset(_as_list(claims.get("cognito:groups"))),
        scopes=frozenset(str(claims.get("scope") or "").split()),
    )


def require_user(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("An access token is required.")
    return principal


def require_admin(principal: Principal | None) -> Principal:
    caller = require_user(principal)
    if not caller.is_admin:
        raise Forbidden("Only administrators may do this.")
    return caller
