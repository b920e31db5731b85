"""What moto's Cognito lacks for the sign-up flow to read as it does on AWS.

moto accepts any confirmation code, sends no e-mail, has no ResendConfirmationCode and does not
mark the e-mail verified on confirmation. In the local stack's process, `install` teaches moto's
Cognito to issue six-digit codes, deliver them to the outbox with the pool's own verification
message, check them, resend them and verify the address. It changes the fake AWS endpoint only;
the service code and its Cognito calls stay the same.
"""

import secrets
from collections.abc import Callable
from typing import Any

from moto.cognitoidp.exceptions import (
    CodeMismatchException,
    InvalidParameterException,
    NotAuthorizedError,
)
from moto.cognitoidp.models import CognitoIdpUser, RegionAgnosticBackend, UserStatus
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.responses import ActionResult, EmptyResult

from local.outbox import Outbox
from services.users import pool as pool_definition

VERIFY, RESET = "verify-email", "reset-password"
_CODES = "local_codes"  # kept on moto's user object, so the codes are saved with the state
_INVALID_CODE = "Invalid verification code provided, please try again."
_ORIGINALS: dict[str, Callable[[CognitoIdpResponse], Any]] = {}
_outbox: Outbox | None = None


def install(outbox: Outbox) -> None:
    """Deliver codes to `outbox` from now on; the handlers are replaced once per process."""
    global _outbox
    _outbox = outbox
    if _ORIGINALS:
        return
    handlers = {
        "sign_up": _sign_up,
        "confirm_sign_up": _confirm_sign_up,
        "resend_confirmation_code": _resend_confirmation_code,
        "forgot_password": _forgot_password,
        "confirm_forgot_password": _confirm_forgot_password,
    }
    for name, handler in handlers.items():
        if hasattr(CognitoIdpResponse, name):
            _ORIGINALS[name] = getattr(CognitoIdpResponse, name)
        setattr(CognitoIdpResponse, name, handler)


def _user(response: CognitoIdpResponse) -> CognitoIdpUser | None:
    client_id = response._get_param("ClientId")
    backend = RegionAgnosticBackend(response.current_account, response.region)
    found = backend._find_backend_for_clientid(client_id)
    user_pool = next(p for p in found.user_pools.values() if client_id in p.clients)
    return user_pool._get_user(response._get_param("Username"))


def _email(user: CognitoIdpUser) -> str:
    return next((a["Value"] for a in user.attributes if a["Name"] == "email"), user.username)


def _issue(user: CognitoIdpUser, kind: str) -> str:
    code = f"{secrets.randbelow(1_000_000):06d}"
    codes = getattr(user, _CODES, {})
    codes[kind] = code
    setattr(user, _CODES, codes)
    if _outbox is not None:
        body = pool_definition.VERIFICATION_MESSAGE.replace("{####}", code)
        _outbox.send(_email(user), pool_definition.VERIFICATION_SUBJECT, body, kind=kind, code=code)
    return code


def _check(user: CognitoIdpUser | None, kind: str, code: str) -> None:
    codes = getattr(user, _CODES, {}) if user is not None else {}
    if kind not in codes or not secrets.compare_digest(codes[kind], str(code)):
        raise CodeMismatchException(_INVALID_CODE)
    del codes[kind]


def _sign_up(response: CognitoIdpResponse) -> Any:
    result = _ORIGINALS["sign_up"](response)
    user = _user(response)
    if user is not None:
        _issue(user, VERIFY)
    return result


def _confirm_sign_up(response: CognitoIdpResponse) -> Any:
    user = _user(response)
    if user is not None and user.status == UserStatus.CONFIRMED:
        raise NotAuthorizedError("User cannot be confirmed. Current status is CONFIRMED")
    _check(user, VERIFY, response._get_param("ConfirmationCode"))
    result = _ORIGINALS["confirm_sign_up"](response)
    if user is not None:  # the emailed code proved the address, as Cognito records it
        user.update_attributes([{"Name": "email_verified", "Value": "true"}])
    return result


def _resend_confirmation_code(response: CognitoIdpResponse) -> Any:
    user = _user(response)
    if user is not None:
        if user.status == UserStatus.CONFIRMED:
            raise InvalidParameterException("User is already confirmed.")
        _issue(user, VERIFY)
    # Unknown users get the same answer: the pool prevents user-existence errors.
    address = _email(user) if user is not None else str(response._get_param("Username"))
    masked = f"{address[:1]}***@{address.rpartition('@')[2]}"
    delivery = {"Destination": masked, "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    return ActionResult({"CodeDeliveryDetails": delivery})


def _forgot_password(response: CognitoIdpResponse) -> Any:
    result = _ORIGINALS["forgot_password"](response)
    user = _user(response)
    if user is not None:
        code = _issue(user, RESET)
        response.response_headers["x-moto-forgot-password-confirmation-code"] = code
    return result


def _confirm_forgot_password(response: CognitoIdpResponse) -> Any:
    _check(_user(response), RESET, response._get_param("ConfirmationCode"))
    _ORIGINALS["confirm_forgot_password"](response)
    return EmptyResult()
