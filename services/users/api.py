"""HTTP routes of the users service: parse, call the service, shape the answer."""

from typing import Any

from flask import Blueprint, Response, current_app, request

from services.common.auth import require_user
from services.common.http import current_principal, json_response, read_json
from services.users import service
from services.users.domain import Tokens
from services.users.ports import IdentityProvider
from services.users.schemas import (
    ConfirmIn,
    EmailIn,
    LoginIn,
    RefreshIn,
    ResetPasswordIn,
    SignUpIn,
)

IDENTITY = "users.identity"

bp = Blueprint("users", __name__)


def _identity() -> IdentityProvider:
    identity: IdentityProvider = current_app.extensions[IDENTITY]
    return identity


def _tokens(tokens: Tokens) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accessToken": tokens.access_token,
        "idToken": tokens.id_token,
        "expiresIn": tokens.expires_in,
        "tokenType": "Bearer",
    }
    if tokens.refresh_token is not None:
        body["refreshToken"] = tokens.refresh_token
    return body


def _accepted() -> Response:
    return Response(status=202)


@bp.post("/users/signup")
def sign_up() -> Response:
    body = read_json(SignUpIn)
    account = service.sign_up(_identity(), body.email, body.password, body.name)
    payload = {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "confirmed": account.confirmed,
    }
    return json_response(payload, 201, {"Location": "/users/me"})


@bp.post("/users/confirm")
def confirm() -> Response:
    body = read_json(ConfirmIn)
    service.confirm(_identity(), body.email, body.code)
    return json_response({"confirmed": True})


@bp.post("/users/resend-code")
def resend_code() -> Response:
    service.resend_code(_identity(), read_json(EmailIn).email)
    return _accepted()


@bp.post("/users/login")
def login() -> Response:
    body = read_json(LoginIn)
    return json_response(_tokens(service.login(_identity(), body.email, body.password)))


@bp.post("/users/refresh")
def refresh() -> Response:
    body = read_json(RefreshIn)
    return json_response(_tokens(service.refresh(_identity(), body.refresh_token)))


@bp.post("/users/forgot-password")
def forgot_password() -> Response:
    service.forgot_password(_identity(), read_json(EmailIn).email)
    return _accepted()


@bp.post("/users/reset-password")
def reset_password() -> Response:
    body = read_json(ResetPasswordIn)
    service.reset_password(_identity(), body.email, body.code, body.new_password)
    return json_response({"passwordReset": True})


@bp.get("/users/me")
def me() -> Response:
    caller = require_user(current_principal())
    # The authorizer has verified this token (with or without its scheme, in any case);
    # Cognito reads the profile with it.
    token = request.headers.get("Authorization", "").strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    profile = service.me(_identity(), caller, token)
    return json_response(
        {
            "id": profile.id,
            "email": profile.email,
            "name": profile.name,
            "emailVerified": profile.email_verified,
            "groups": list(profile.groups),
        }
    )
