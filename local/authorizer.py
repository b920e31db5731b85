"""The rules of API Gateway's JWT authorizer, applied by the local gateway.

On AWS, API Gateway checks the token before the function runs; the apps never parse tokens.
Locally this module does the same checks in the same order, against the user pool's JWKS
served by the fake AWS endpoint, and answers as API Gateway does.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import jwt


class Denied(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status  # 401 for a bad token, 403 for a good token without the scopes
        self.description = description

    @property
    def message(self) -> str:
        return "Unauthorized" if self.status == 401 else "Forbidden"

    @property
    def www_authenticate(self) -> str:
        error = "invalid_token" if self.status == 401 else "insufficient_scope"
        return f'Bearer scope="" error="{error}" error_description="{self.description}"'


class JwtAuthorizer:
    def __init__(self, issuer: str, audiences: Iterable[str], jwks_url: str) -> None:
        self.issuer = issuer
        self.audiences = frozenset(audiences)
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600)

    def authorize(self, header: str | None, scopes: Iterable[str]) -> dict[str, Any]:
        """Claims of a valid token carrying one of `scopes` (when any), else Denied."""
        token = self._token(header)
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Denied(401, "the token has expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise Denied(401, "the token does not have a valid issuer") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Denied(401, f"the token is not valid: {exc}") from exc
        self._check_audience(claims)
        required = set(scopes)
        granted = set(str(claims.get("scope") or claims.get("scp") or "").split())
        if required and not required & granted:
            raise Denied(403, f"expected scopes: {sorted(required)}")
        return claims

    @staticmethod
    def _token(header: str | None) -> str:
        if not header or not header.strip():
            raise Denied(401, "no token in the Authorization header")
        value = header.strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        return value

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        # API Gateway evaluates `aud` when present, and `client_id` only when it is not.
        audience = claims.get("aud", claims.get("client_id"))
        values = audience if isinstance(audience, list) else [audience]
        if not self.audiences & {str(value) for value in values if value is not None}:
            raise Denied(401, "the token does not have a valid audience")


def event_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway hands them to the integration: every value a string, lists "[a b]"."""
    rendered = {}
    for name, value in claims.items():
        if isinstance(value, list):
            rendered[name] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, bool):
            rendered[name] = str(value).lower()
        else:
            rendered[name] = str(value)
    return rendered
