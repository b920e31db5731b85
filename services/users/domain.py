"""Accounts and tokens, and the errors sign-up and sign-in can raise. No I/O here."""

from dataclasses import dataclass

from services.common.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    Unauthorized,
    ValidationFailed,
)
from services.users.pool import PASSWORD_POLICY


@dataclass(frozen=True)
class NewAccount:
    id: str
    email: str
    name: str
    confirmed: bool


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    expires_in: int
    refresh_token: str | None = None  # absent when tokens come from a refresh


@dataclass(frozen=True)
class Profile:
    id: str
    email: str
    name: str
    email_verified: bool
    groups: tuple[str, ...]


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("An account with this email already exists.")


class WeakPassword(ValidationFailed):
    def __init__(self, field: str = "password") -> None:
        policy = PASSWORD_POLICY.describe()
        super().__init__(
            [FieldError(field, f"must have {policy}")],
            detail=f"The password does not meet the policy: {policy}.",
        )


class RefusedEmail(ValidationFailed):
    """Cognito refused an address our own check let through."""

    def __init__(self) -> None:
        super().__init__(
            [FieldError("email", "is not an address the user pool accepts")],
            detail="The email address was refused.",
        )


class InvalidCode(BadRequest):
    def __init__(self) -> None:
        super().__init__("The code is wrong or has expired; ask for a new one.")


class InvalidCredentials(Unauthorized):
    """The same answer whether the email exists or not."""

    def __init__(self) -> None:
        super().__init__("The email or password is incorrect.")


class InvalidRefreshToken(Unauthorized):
    def __init__(self) -> None:
        super().__init__("The refresh token is not valid; log in again.")


class NotConfirmed(Forbidden):
    def __init__(self) -> None:
        super().__init__("Confirm your email address before logging in.")


class AlreadyConfirmed(Conflict):
    def __init__(self) -> None:
        super().__init__("This account is already confirmed; log in.")


class SignInChallenge(Forbidden):
    """Cognito asks for a step this API does not offer (for example a new password)."""

    def __init__(self, challenge: str) -> None:
        super().__init__(f"This account must complete the {challenge} step before logging in.")
