"""Cognito's answers that moto cannot give, mapped once in the adapter and seen by clients.

Answers are queued with botocore's Stubber on a real cognito-idp client handed to
CognitoIdentityProvider, which the users app receives through create_app and the Lambda entry.
"""

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from services.common.errors import DependencyUnavailable, Throttled
from services.common.lambda_entry import http_handler
from services.users.app import create_app
from services.users.cognito import CognitoIdentityProvider
from services.users.domain import (
    AlreadyConfirmed,
    EmailTaken,
    InvalidCode,
    InvalidCredentials,
    InvalidRefreshToken,
    NotConfirmed,
    SignInChallenge,
    WeakPassword,
)
from services.users.pool import PASSWORD_POLICY
from tests.integration.conftest import (
    ADMIN_BEARER,
    CUSTOMER_CLAIMS,
    JSON,
    Api,
    Reply,
    unreachable_client,
)

CLIENT_ID = "5example1client2id3abcdefg"
EMAIL = "ana@example.com"
PASSWORD = "Corr3ct-Horse!"
SDK_MESSAGE = "internal detail from Cognito that must not reach clients"
ACCESS_TOKEN = ADMIN_BEARER.removeprefix("Bearer ")
DELIVERY = {
    "CodeDeliveryDetails": {
        "Destination": "a***@e***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
}
AUTHENTICATED = {
    "AuthenticationResult": {
        "AccessToken": "access.token.value",
        "ExpiresIn": 3600,
        "TokenType": "Bearer",
        "RefreshToken": "refresh.token.value",
        "IdToken": "id.token.value",
    },
    "ChallengeParameters": {},
}

# (route id, SDK operation, method, path, body)
CALLS: list[tuple[str, str, str, str, dict[str, str] | None]] = [
    (
        "signup",
        "sign_up",
        "POST",
        "/users/signup",
        {"email": EMAIL, "password": PASSWORD, "name": "Ana"},
    ),
    ("confirm", "confirm_sign_up", "POST", "/users/confirm", {"email": EMAIL, "code": "123456"}),
    ("resend-code", "resend_confirmation_code", "POST", "/users/resend-code", {"email": EMAIL}),
    ("login", "initiate_auth", "POST", "/users/login", {"email": EMAIL, "password": PASSWORD}),
    ("refresh", "initiate_auth", "POST", "/users/refresh", {"refreshToken": "refresh.token"}),
    ("forgot-password", "forgot_password", "POST", "/users/forgot-password", {"email": EMAIL}),
    (
        "reset-password",
        "confirm_forgot_password",
        "POST",
        "/users/reset-password",
        {"email": EMAIL, "code": "123456", "newPassword": "N3w-Battery!"},
    ),
    ("me", "get_user", "GET", "/users/me", None),
]
CALL_IDS = [call[0] for call in CALLS]
THROTTLING = [
    "TooManyRequestsException",
    "LimitExceededException",
    "TooManyFailedAttemptsException",
]
UNAVAILABLE = [
    ("InternalErrorException", 500),
    ("ServiceUnavailable", 503),
    ("InternalServerError", 500),
    ("CodeDeliveryFailureException", 400),  # Cognito could not send the e-mail
]


@pytest.fixture
def client(aws_session: boto3.session.Session) -> Any:
    return aws_session.client("cognito-idp")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def replies() -> Iterator[list[Reply]]:
    """Every reply any test here received: API.md says no input ever produces a 500."""
    seen: list[Reply] = []
    yield seen
    assert [(reply.status, reply.text) for reply in seen if reply.status == 500] == []


@pytest.fixture
def api_over(replies: list[Reply]) -> Any:
    def build(client: Any) -> Api:
        identity = CognitoIdentityProvider(client, CLIENT_ID)
        return Api(http_handler(lambda: create_app(identity=identity)), replies=replies)

    return build


@pytest.fixture
def api(api_over: Any, client: Any, stubber: Stubber) -> Api:
    built: Api = api_over(client)
    return built


def send(api: Api, method: str, path: str, body: dict[str, str] | None) -> Reply:
    if method == "GET":
        return api.get(path, claims=CUSTOMER_CLAIMS)
    return api.post(path, body=body)


def call(route: str) -> tuple[str, str, str, dict[str, str] | None]:
    return next(found[1:] for found in CALLS if found[0] == route)


def assert_retry_later(reply: Reply, status: int) -> None:
    reply.problem(status)
    assert int(reply.headers["retry-after"]) > 0
    assert SDK_MESSAGE not in reply.text


# --- a dependency that cannot answer now --------------------------------------------------------


@pytest.mark.parametrize("code", THROTTLING)
@pytest.mark.parametrize(
    ("operation", "method", "path", "body"), [c[1:] for c in CALLS], ids=CALL_IDS
)
def test_throttling_is_429_with_retry_after(api, stubber, operation, method, path, body, code):
    stubber.add_client_error(operation, code, SDK_MESSAGE, 400)

    assert_retry_later(send(api, method, path, body), 429)


@pytest.mark.parametrize(("code", "http_status"), UNAVAILABLE)
@pytest.mark.parametrize(
    ("operation", "method", "path", "body"), [c[1:] for c in CALLS], ids=CALL_IDS
)
def test_an_internal_error_is_503_with_retry_after(
    api, stubber, operation, method, path, body, code, http_status
):
    stubber.add_client_error(operation, code, SDK_MESSAGE, http_status)

    assert_retry_later(send(api, method, path, body), 503)


@pytest.mark.parametrize(("method", "path", "body"), [c[2:] for c in CALLS], ids=CALL_IDS)
def test_an_unreachable_cognito_is_503_with_retry_after(api_over, aws_session, method, path, body):
    api = api_over(unreachable_client(aws_session, "cognito-idp"))

    assert_retry_later(send(api, method, path, body), 503)


# --- Cognito's refusals, as the API promises them -----------------------------------------------

# (route, Cognito error code, status, fields a 422 names)
REFUSALS: list[tuple[str, str, int, set[str] | None]] = [
    ("signup", "UsernameExistsException", 409, None),
    ("signup", "AliasExistsException", 409, None),
    ("signup", "InvalidPasswordException", 422, {"password"}),
    ("signup", "InvalidParameterException", 422, {"email"}),
    ("confirm", "CodeMismatchException", 400, None),
    ("confirm", "ExpiredCodeException", 400, None),
    ("confirm", "UserNotFoundException", 400, None),
    ("confirm", "NotAuthorizedException", 409, None),
    ("login", "NotAuthorizedException", 401, None),
    ("login", "UserNotFoundException", 401, None),
    ("login", "UserNotConfirmedException", 403, None),
    ("login", "PasswordResetRequiredException", 403, None),
    ("refresh", "NotAuthorizedException", 401, None),
    ("refresh", "UserNotFoundException", 401, None),
    ("reset-password", "CodeMismatchException", 400, None),
    ("reset-password", "ExpiredCodeException", 400, None),
    ("reset-password", "UserNotFoundException", 400, None),
    ("reset-password", "InvalidPasswordException", 422, {"newPassword"}),
    ("me", "NotAuthorizedException", 401, None),
    ("me", "UserNotFoundException", 401, None),
    ("me", "UserNotConfirmedException", 403, None),
    ("me", "PasswordResetRequiredException", 403, None),
]


@pytest.mark.parametrize(
    ("route", "code", "status", "fields"),
    REFUSALS,
    ids=[f"{route}-{code}" for route, code, _, _ in REFUSALS],
)
def test_a_refusal_is_the_promised_problem(api, stubber, route, code, status, fields):
    operation, method, path, body = call(route)
    stubber.add_client_error(operation, code, SDK_MESSAGE, 400)

    reply = send(api, method, path, body)

    document = reply.problem(status)
    assert SDK_MESSAGE not in reply.text
    if fields is not None:
        assert set(reply.field_errors()) == fields
    if fields is not None and fields & {"password", "newPassword"}:
        assert PASSWORD_POLICY.describe() in document["detail"]


def test_wrong_password_and_unknown_user_get_byte_identical_401s(api, stubber):
    stubber.add_client_error("initiate_auth", "NotAuthorizedException", "Incorrect password.", 400)
    stubber.add_client_error("initiate_auth", "UserNotFoundException", "User does not exist.", 400)
    _, method, path, body = call("login")

    wrong = send(api, method, path, body)
    unknown = send(api, method, path, body)

    wrong.problem(401)
    assert (unknown.status, unknown.headers, unknown.text) == (
        wrong.status,
        wrong.headers,
        wrong.text,
    )


@pytest.mark.parametrize(
    "challenge", ["NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA", "SMS_MFA", "MFA_SETUP"]
)
def test_a_login_answered_with_a_challenge_is_403(api, stubber, challenge):
    stubber.add_response(
        "initiate_auth",
        {"ChallengeName": challenge, "Session": "s" * 64, "ChallengeParameters": {}},
    )
    _, method, path, body = call("login")

    send(api, method, path, body).problem(403)


@pytest.mark.parametrize("route", ["resend-code", "forgot-password"])
def test_resend_and_forgot_answer_the_same_202_whether_or_not_the_email_is_known(
    api, stubber, route
):
    operation, method, path, body = call(route)
    params = {"ClientId": CLIENT_ID, "Username": EMAIL}
    stubber.add_response(operation, DELIVERY, params)
    stubber.add_client_error(operation, "UserNotFoundException", SDK_MESSAGE, 400, None, params)
    stubber.add_client_error(operation, "InvalidParameterException", SDK_MESSAGE, 400, None, params)

    sent, unknown, confirmed = (send(api, method, path, body) for _ in range(3))

    assert sent.status == 202, sent.text
    for other in (unknown, confirmed):
        assert (other.status, other.headers, other.text) == (sent.status, sent.headers, sent.text)


# --- what the app asks Cognito ------------------------------------------------------------------


def test_signup_asks_cognito_with_the_normalised_email_as_username_and_attribute(api, stubber):
    stubber.add_response(
        "sign_up",
        {"UserConfirmed": False, "UserSub": "0b5b6c1e-6f0a-4d6e-9a7e-2f1c3d4e5f60", **DELIVERY},
        {
            "ClientId": CLIENT_ID,
            "Username": EMAIL,
            "Password": PASSWORD,
            "UserAttributes": [{"Name": "email", "Value": EMAIL}, {"Name": "name", "Value": "Ana"}],
        },
    )

    reply = api.post(
        "/users/signup", body={"email": " Ana@Example.COM ", "password": PASSWORD, "name": "Ana"}
    )

    assert reply.status == 201, reply.text
    assert reply.json() == {
        "id": "0b5b6c1e-6f0a-4d6e-9a7e-2f1c3d4e5f60",
        "email": EMAIL,
        "name": "Ana",
        "confirmed": False,
    }


def test_login_asks_for_the_password_flow_and_answers_the_tokens(api, stubber):
    stubber.add_response(
        "initiate_auth",
        AUTHENTICATED,
        {
            "ClientId": CLIENT_ID,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": EMAIL, "PASSWORD": PASSWORD},
        },
    )

    reply = api.post("/users/login", body={"email": "ANA@example.com", "password": PASSWORD})

    assert reply.status == 200, reply.text
    assert reply.content_type == JSON
    assert reply.json() == {
        "accessToken": "access.token.value",
        "idToken": "id.token.value",
        "refreshToken": "refresh.token.value",
        "expiresIn": 3600,
        "tokenType": "Bearer",
    }


def test_refresh_answers_no_refresh_token_even_when_cognito_returns_one(api, stubber):
    stubber.add_response(
        "initiate_auth",
        AUTHENTICATED,
        {
            "ClientId": CLIENT_ID,
            "AuthFlow": "REFRESH_TOKEN_AUTH",
            "AuthParameters": {"REFRESH_TOKEN": "refresh.token"},
        },
    )

    reply = api.post("/users/refresh", body={"refreshToken": "refresh.token"})

    assert reply.status == 200, reply.text
    assert "refreshToken" not in reply.json()


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {"sub": "s-1", "email": EMAIL, "name": "Ana", "email_verified": "true"},
            {"id": "s-1", "email": EMAIL, "name": "Ana", "emailVerified": True},
        ),
        (
            {"sub": "s-1", "email": EMAIL, "name": "Ana", "email_verified": "True"},
            {"id": "s-1", "email": EMAIL, "name": "Ana", "emailVerified": True},
        ),
        (
            {"sub": "s-1", "email": EMAIL, "name": "Ana", "email_verified": "false"},
            {"id": "s-1", "email": EMAIL, "name": "Ana", "emailVerified": False},
        ),
        ({"email": EMAIL}, {"id": "user-name", "email": EMAIL, "name": "", "emailVerified": False}),
    ],
)
def test_me_reads_the_profile_with_the_caller_s_access_token(api, stubber, attributes, expected):
    stubber.add_response(
        "get_user",
        {
            "Username": "user-name",
            "UserAttributes": [
                {"Name": name, "Value": value} for name, value in attributes.items()
            ],
        },
        {"AccessToken": ACCESS_TOKEN},
    )

    reply = api.get("/users/me", claims={**CUSTOMER_CLAIMS, "cognito:groups": "[zeta admin]"})

    assert reply.status == 200, reply.text
    assert reply.json() == {**expected, "groups": ["admin", "zeta"]}


# --- the adapter on its own ---------------------------------------------------------------------


def provider_call(identity: CognitoIdentityProvider, route: str) -> None:
    calls: dict[str, Callable[[], object]] = {
        "signup": lambda: identity.sign_up(EMAIL, PASSWORD, "Ana"),
        "confirm": lambda: identity.confirm(EMAIL, "123456"),
        "login": lambda: identity.login(EMAIL, PASSWORD),
        "refresh": lambda: identity.refresh("refresh.token"),
        "reset-password": lambda: identity.reset_password(EMAIL, "123456", "N3w-Battery!"),
        "me": lambda: identity.profile(ACCESS_TOKEN),
    }
    calls[route]()


@pytest.mark.parametrize(
    ("route", "code", "error"),
    [
        ("signup", "UsernameExistsException", EmailTaken),
        ("signup", "InvalidPasswordException", WeakPassword),
        ("confirm", "CodeMismatchException", InvalidCode),
        ("confirm", "NotAuthorizedException", AlreadyConfirmed),
        ("login", "UserNotFoundException", InvalidCredentials),
        ("login", "UserNotConfirmedException", NotConfirmed),
        ("login", "PasswordResetRequiredException", SignInChallenge),
        ("refresh", "NotAuthorizedException", InvalidRefreshToken),
        ("reset-password", "ExpiredCodeException", InvalidCode),
        ("me", "TooManyRequestsException", Throttled),
        ("me", "InternalErrorException", DependencyUnavailable),
    ],
)
def test_the_adapter_raises_domain_errors_from_the_sdk_error(client, stubber, route, code, error):
    operation = call(route)[0]
    stubber.add_client_error(operation, code, SDK_MESSAGE, 400)

    with pytest.raises(error) as raised:
        provider_call(CognitoIdentityProvider(client, CLIENT_ID), route)

    assert isinstance(raised.value.__cause__, ClientError)
    assert raised.value.__cause__.response["Error"]["Code"] == code
    assert SDK_MESSAGE not in raised.value.detail


def test_the_adapter_lets_an_unknown_sdk_error_through(client, stubber):
    """Only known codes are translated; anything else stays the SDK's own error."""
    stubber.add_client_error("sign_up", "ResourceNotFoundException", SDK_MESSAGE, 400)

    with pytest.raises(ClientError):
        CognitoIdentityProvider(client, CLIENT_ID).sign_up(EMAIL, PASSWORD, "Ana")
