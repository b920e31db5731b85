"""Request models of the users routes, checked before Cognito is asked anything, and the answers."""

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from services.common.openapi import ANSWER, UuidText
from services.common.validation import BODY, OPAQUE_PATTERN, text, text_of

MAX_EMAIL = 254
# Pragmatic: one @, no spaces, a dot in the domain. Cognito checks the rest.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _normalised_email(value: Any) -> Any:
    """Emails are compared trimmed and in lower case, here and in Cognito (case-insensitive)."""
    return value.strip().lower() if isinstance(value, str) else value


def _email_shape(value: str) -> str:
    if not _EMAIL.match(value):
        raise PydanticCustomError("email", "must be an email address such as ana@example.com")
    return value


# What `str.strip` removes (Python's white space), spelled out so the document says the same.
_SPACE = r"\t-\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_PATTERN = rf"^[{_SPACE}]*[^@{_SPACE}]+@[^@.{_SPACE}]+(\.[^@.{_SPACE}]+)+[{_SPACE}]*$"


def _email_schema(schema: dict[str, Any]) -> None:
    """The limits hold for the trimmed address: the document says so with two patterns."""
    schema.pop("maxLength", None)
    schema.pop("minLength", None)
    schema["allOf"] = [
        {"pattern": EMAIL_PATTERN},
        {"pattern": rf"^[{_SPACE}]*[^{_SPACE}]{{3,{MAX_EMAIL}}}[{_SPACE}]*$"},
    ]


Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_EMAIL),
    Field(json_schema_extra=_email_schema),
    AfterValidator(_email_shape),
    BeforeValidator(_normalised_email),
]
# Cognito accepts up to 256 characters; the policy itself is checked by the service.
Password = Annotated[str, text_of(256), BeforeValidator(text)]
Name = Annotated[str, text_of(100), BeforeValidator(text)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=OPAQUE_PATTERN)]
RefreshToken = Annotated[
    str, StringConstraints(min_length=1, max_length=8192, pattern=OPAQUE_PATTERN)
]


class _Body(BaseModel):
    model_config = BODY


class _Answer(BaseModel):
    model_config = ANSWER


class SignUpIn(_Body):
    email: Email
    password: Password
    name: Name


class ConfirmIn(_Body):
    email: Email
    code: Code


class EmailIn(_Body):
    email: Email


class LoginIn(_Body):
    email: Email
    password: Password


class RefreshIn(_Body):
    refresh_token: RefreshToken = Field(alias="refreshToken")


class ResetPasswordIn(_Body):
    email: Email
    code: Code
    new_password: Password = Field(alias="newPassword")


class Account(_Answer):
    """A new account, not yet confirmed."""

    id: UuidText
    email: str
    name: str
    confirmed: bool


class Confirmed(_Answer):
    confirmed: Literal[True]


class PasswordReset(_Answer):
    password_reset: Literal[True] = Field(alias="passwordReset")


class RefreshedTokens(_Answer):
    """Tokens from a refresh: the refresh token itself stays the same and is not sent again."""

    access_token: str = Field(alias="accessToken")
    id_token: str = Field(alias="idToken")
    expires_in: int = Field(alias="expiresIn", ge=0)
    token_type: Literal["Bearer"] = Field(alias="tokenType")


class Tokens(RefreshedTokens):
    """Tokens from a login; send the access token as `Authorization: Bearer <accessToken>`."""

    refresh_token: str = Field(alias="refreshToken")


class Profile(_Answer):
    id: UuidText
    email: str
    name: str
    email_verified: bool = Field(alias="emailVerified")
    groups: list[str]
