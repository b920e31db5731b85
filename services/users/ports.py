"""The port the account rules need from an identity provider: Cognito or a test fake."""

from abc import ABC, abstractmethod

from services.users.domain import NewAccount, Profile, Tokens


class IdentityProvider(ABC):
    @abstractmethod
    def sign_up(self, email: str, password: str, name: str) -> NewAccount:
        """Create an unconfirmed account and send its verification code; EmailTaken if taken."""

    @abstractmethod
    def confirm(self, email: str, code: str) -> None:
        """Confirm the email with its code; InvalidCode or AlreadyConfirmed."""

    @abstractmethod
    def resend_code(self, email: str) -> None:
        """Send the verification code again; silent for unknown emails."""

    @abstractmethod
    def login(self, email: str, password: str) -> Tokens:
        """Tokens for a confirmed account; InvalidCredentials, NotConfirmed or SignInChallenge."""

    @abstractmethod
    def refresh(self, refresh_token: str) -> Tokens:
        """New access and ID tokens; InvalidRefreshToken."""

    @abstractmethod
    def forgot_password(self, email: str) -> None:
        """Send a password reset code; silent for unknown emails."""

    @abstractmethod
    def reset_password(self, email: str, code: str, new_password: str) -> None:
        """Set a new password with the emailed code; InvalidCode or WeakPassword."""

    @abstractmethod
    def profile(self, access_token: str) -> Profile:
        """The caller's own profile, read with their access token (groups left empty)."""
