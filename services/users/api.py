"""HTTP routes of the users service: parse, call the service, shape the answer."""

from typing import Any

from flask import Blueprint, Response, current_app, request

from services.common.auth import require_user
from services.common.http import current_principal, json_response, read_json
from services.common.openapi import operation
from services.users import schemas, service
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
@operation(
    "POST /users/signup",
    body=SignUpIn,
    ok={201: schemas.Account},
    problems=[409],
    answer_headers=["Location"],
)
def sign_up() -> Response:
    """Create an account; a confirmation code is e-mailed."""
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
@operation("POST /users/confirm", body=ConfirmIn, ok={200: schemas.Confirmed}, problems=[409])
def confirm() -> Response:
    """Confirm an e-mail address with the code sent to it."""
    body = read_json(ConfirmIn)
    service.confirm(_identity(), body.email, body.code)
    return json_response({"confirmed": True})


@bp.post("/users/resend-code")
@operation("POST /users/resend-code", body=EmailIn, ok={202: None})
def resend_code() -> Response:
    """Send the confirmation code again (202 for any address)."""
    service.resend_code(_identity(), read_json(EmailIn).email)
    return _accepted()


@bp.post("/users/login")
@operation("POST /users/login", body=LoginIn, ok={200: schemas.Tokens}, problems=[401, 403])
def login() -> Response:
    """Sign in with e-mail and password."""
    body = read_json(LoginIn)
    return json_response(_tokens(service.login(_identity(), body.email, body.password)))


@bp.post("/users/refresh")
@operation("POST /users/refresh", body=RefreshIn, ok={200: schemas.RefreshedTokens}, problems=[401])
def refresh() -> Response:
    """New access and ID tokens for a refresh token."""
    body = read_json(RefreshIn)
    return json_response(_tokens(service.refresh(_identity(), body.refresh_token)))


@bp.post("/users/forgot-password")
@operation("POST /users/forgot-password", body=EmailIn, ok={202: None})
def forgot_password() -> Response:
    """E-mail a password reset code (202 for any address)."""
    service.forgot_password(_identity(), read_json(EmailIn).email)
    return _accepted()


@bp.post("/users/reset-password")
@operation("POST /users/reset-password", body=ResetPasswordIn, ok={200: schemas.PasswordReset})
def reset_password() -> Response:
    """Set a new password with the e-mailed code."""
    body = read_json(ResetPasswordIn)
    service.reset_password(_identity(), body.email, body.code, body.new_password)
    return json_response({"passwordReset": True})


@bp.get("/users/me")
@operation("GET /users/me", ok={200: schemas.Profile})
def me() -> Response:
    """The caller's profile."""
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
