"""The identity provider on Cognito: the app client's public operations, errors mapped once.

Every call here is one Cognito allows an app client to make without IAM credentials, so the
users function needs no Cognito permission at all.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.common.errors import DependencyUnavailable, Throttled
from services.users.domain import (
    AlreadyConfirmed,
    EmailTaken,
    InvalidCode,
    InvalidCredentials,
    InvalidRefreshToken,
    NewAccount,
    NotConfirmed,
    Profile,
    RefusedEmail,
    SignInChallenge,
    Tokens,
    WeakPassword,
)
from services.users.ports import IdentityProvider

_THROTTLING = {
    "TooManyRequestsException",
    "LimitExceededException",
    "TooManyFailedAttemptsException",
}
# CodeDeliveryFailure: Cognito could not send the e-mail; the client may ask again later.
_UNAVAILABLE = {
    "InternalErrorException",
    "ServiceUnavailable",
    "InternalServerError",
    "CodeDeliveryFailureException",
}
_BAD_CODE = {"CodeMismatchException", "ExpiredCodeException"}
# With prevent-user-existence-errors Cognito hides unknown users; these keep the same promise
# where a provider (or an older pool) still tells them apart.
_NO_SUCH_USER = {"UserNotFoundException", "NotAuthorizedException"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _cognito(*mapping: tuple[set[str], Exception | None]) -> Iterator[None]:
    """Translate Cognito errors: each pair maps error codes to a domain error (None: ignore)."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        for codes, error in mapping:
            if code in codes:
                if error is None:
                    return
                raise error from exc
        if code in _THROTTLING:
            raise Throttled("Too many attempts; wait a moment and retry.") from exc
        if code in _UNAVAILABLE:
            raise DependencyUnavailable("Sign-in is unavailable; retry shortly.") from exc
        raise
    except BotoCoreError as exc:
        raise DependencyUnavailable("Sign-in is unreachable; retry shortly.") from exc


def _tokens(result: dict[str, Any]) -> Tokens:
    if "AuthenticationResult" not in result:
        raise SignInChallenge(str(result.get("ChallengeName", "unknown")))
    auth = result["AuthenticationResult"]
    return Tokens(
        access_token=auth["AccessToken"],
        id_token=auth["IdToken"],
        expires_in=int(auth["ExpiresIn"]),
        refresh_token=auth.get("RefreshToken"),
    )


class CognitoIdentityProvider(IdentityProvider):
    def __init__(self, client: Any, client_id: str) -> None:
        self._client = client
        self._client_id = client_id

    def sign_up(self, email: str, password: str, name: str) -> NewAccount:
        with _cognito(
            ({"UsernameExistsException", "AliasExistsException"}, EmailTaken()),
            ({"InvalidPasswordException"}, WeakPassword()),
            ({"InvalidParameterException"}, RefusedEmail()),
        ):
            result = self._client.sign_up(
                ClientId=self._client_id,
                Username=email,
                Password=password,
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": name}],
            )
        return NewAccount(
            id=result["UserSub"], email=email, name=name, confirmed=bool(result["UserConfirmed"])
        )

    def confirm(self, email: str, code: str) -> None:
        with _cognito(
            (_BAD_CODE | {"UserNotFoundException"}, InvalidCode()),
            ({"NotAuthorizedException"}, AlreadyConfirmed()),
        ):
            self._client.confirm_sign_up(
                ClientId=self._client_id, Username=email, ConfirmationCode=code
            )

    def resend_code(self, email: str) -> None:
        # Unknown or already confirmed: answer as if sent, so emails cannot be probed.
        with _cognito(({"UserNotFoundException", "InvalidParameterException"}, None)):
            self._client.resend_confirmation_code(ClientId=self._client_id, Username=email)

    def login(self, email: str, password: str) -> Tokens:
        with _cognito(
            (_NO_SUCH_USER, InvalidCredentials()),
            ({"UserNotConfirmedException"}, NotConfirmed()),
            ({"PasswordResetRequiredException"}, SignInChallenge("password reset")),
        ):
            result = self._client.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        return _tokens(result)

    def refresh(self, refresh_token: str) -> Tokens:
        with _cognito((_NO_SUCH_USER, InvalidRefreshToken())):
            result = self._client.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        tokens = _tokens(result)
        return Tokens(tokens.access_token, tokens.id_token, tokens.expires_in)

    def forgot_password(self, email: str) -> None:
        with _cognito(({"UserNotFoundException", "InvalidParameterException"}, None)):
            self._client.forgot_password(ClientId=self._client_id, Username=email)

    def reset_password(self, email: str, code: str, new_password: str) -> None:
        with _cognito(
            (_BAD_CODE | {"UserNotFoundException"}, InvalidCode()),
            ({"InvalidPasswordException"}, WeakPassword("newPassword")),
        ):
            self._client.confirm_forgot_password(
                ClientId=self._client_id,
                Username=email,
                ConfirmationCode=code,
                Password=new_password,
            )

    def profile(self, access_token: str) -> Profile:
        with _cognito(
            (_NO_SUCH_USER, InvalidCredentials()),
            ({"UserNotConfirmedException"}, NotConfirmed()),
            ({"PasswordResetRequiredException"}, SignInChallenge("password reset")),
        ):
            result = self._client.get_user(AccessToken=access_token)
        attributes = {item["Name"]: item["Value"] for item in result["UserAttributes"]}
        return Profile(
            id=attributes.get("sub", result["Username"]),
            email=attributes.get("email", ""),
            name=attributes.get("name", ""),
            email_verified=attributes.get("email_verified", "false").lower() == "true",
            groups=(),
        )
