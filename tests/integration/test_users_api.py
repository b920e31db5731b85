"""The users API through the real Lambda handler and serverless-wsgi, against moto's Cognito.

moto 5.2.5 accepts any confirmation code and does not implement ResendConfirmationCode; those
answers are covered with botocore's Stubber in test_users_cognito_errors.py.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from services.common.lambda_entry import http_handler
from services.users.app import create_app
from services.users.pool import PASSWORD_POLICY
from tests.integration.conftest import (
    JSON,
    Api,
    Reply,
    load_event,
    rendered_claims,
)

EMAIL = "ana@example.com"
PASSWORD = "Corr3ct-Horse!"
NEW_PASSWORD = "N3w-Battery-Staple"
NAME = "Ana"
TOKEN_FIELDS = {"accessToken", "idToken", "refreshToken", "expiresIn", "tokenType"}
MOTO_CODE_HEADER = "x-moto-forgot-password-confirmation-code"


@pytest.fixture(autouse=True)
def _no_response_is_a_500(users_api: Api) -> Iterator[None]:
    """API.md: no input ever produces a 500. Every reply in this file is checked."""
    yield
    failures = [(reply.status, reply.text) for reply in users_api.replies if reply.status >= 500]
    assert failures == []


def sign_up(api: Api, email: str = EMAIL, password: str = PASSWORD, name: str = NAME) -> Reply:
    return api.post("/users/signup", body={"email": email, "password": password, "name": name})


def confirm(api: Api, email: str = EMAIL) -> Reply:
    # moto confirms with any code.
    return api.post("/users/confirm", body={"email": email, "code": "123456"})


def confirmed_user(api: Api, email: str = EMAIL) -> dict[str, Any]:
    reply = sign_up(api, email)
    assert reply.status == 201, reply.text
    assert confirm(api, email).status == 200
    account: dict[str, Any] = reply.json()
    return account


def log_in(api: Api, email: str = EMAIL, password: str = PASSWORD) -> Reply:
    return api.post("/users/login", body={"email": email, "password": password})


def tokens_of(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.text
    assert reply.content_type == JSON
    tokens: dict[str, Any] = reply.json()
    return tokens


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


# --- sign-up and confirmation -------------------------------------------------------------------


def test_signup_answers_201_with_the_unconfirmed_account_and_location(users_api, cognito):
    reply = sign_up(users_api)

    assert reply.status == 201, reply.text
    assert reply.content_type == JSON
    account = reply.json()
    assert set(account) == {"id", "email", "name", "confirmed"}
    assert str(uuid.UUID(account["id"])) == account["id"]
    assert (account["email"], account["name"], account["confirmed"]) == (EMAIL, NAME, False)
    assert reply.headers["location"] == "/users/me"
    assert cognito.users() == [(EMAIL, "UNCONFIRMED")]


def test_an_email_is_normalised_before_cognito_sees_it(users_api, cognito):
    reply = sign_up(users_api, email=" Ana@Example.com ")

    assert reply.status == 201, reply.text
    assert reply.json()["email"] == EMAIL
    assert cognito.users() == [(EMAIL, "UNCONFIRMED")]
    assert confirm(users_api, "ANA@EXAMPLE.COM").status == 200
    assert tokens_of(log_in(users_api, "ANA@example.com"))["accessToken"]


@pytest.mark.parametrize("again", [EMAIL, "ANA@example.com", f"  {EMAIL}"])
def test_a_taken_email_is_a_409_problem(users_api, cognito, again):
    sign_up(users_api)

    sign_up(users_api, email=again, name="Another Ana").problem(409)

    assert cognito.users() == [(EMAIL, "UNCONFIRMED")]


@pytest.mark.parametrize("password", ["short1!", "passw0rd!", "Password!", "Passw0rdd"])
def test_a_weak_password_is_a_422_stating_the_policy_before_cognito_is_asked(
    users_api, cognito, cognito_calls, password
):
    reply = sign_up(users_api, password=password)

    document = reply.problem(422)
    assert PASSWORD_POLICY.describe() in document["detail"]
    assert set(reply.field_errors()) == {"password"}
    assert cognito_calls == []
    assert cognito.users() == []


def test_confirm_answers_200_and_confirms_the_account(users_api, cognito, cognito_calls):
    sign_up(users_api)

    reply = confirm(users_api)

    assert reply.status == 200, reply.text
    assert reply.content_type == JSON
    assert reply.json() == {"confirmed": True}
    assert cognito.users() == [(EMAIL, "CONFIRMED")]
    assert cognito_calls == ["SignUp", "ConfirmSignUp"]


def test_confirming_an_unknown_email_is_a_400_problem(users_api):
    confirm(users_api, "bob@example.com").problem(400)


# --- login and refresh --------------------------------------------------------------------------


def test_login_before_confirmation_is_a_403_problem(users_api):
    sign_up(users_api)

    log_in(users_api).problem(403)


def test_login_answers_200_with_bearer_tokens(users_api):
    account = confirmed_user(users_api)

    tokens = tokens_of(log_in(users_api))

    assert set(tokens) == TOKEN_FIELDS
    assert tokens["tokenType"] == "Bearer"
    assert type(tokens["expiresIn"]) is int
    assert tokens["expiresIn"] > 0
    assert claims(tokens["accessToken"])["token_use"] == "access"
    assert claims(tokens["accessToken"])["sub"] == account["id"]
    assert claims(tokens["idToken"])["token_use"] == "id"
    assert tokens["refreshToken"]


def test_a_wrong_password_and_an_unknown_email_get_byte_identical_401s(users_api):
    confirmed_user(users_api)

    wrong = log_in(users_api, password=PASSWORD + "x")
    unknown = log_in(users_api, email="bob@example.com")

    wrong.problem(401)
    assert (unknown.status, unknown.content_type, unknown.text) == (
        wrong.status,
        wrong.content_type,
        wrong.text,
    )


def test_refresh_answers_200_with_new_tokens_but_no_refresh_token(users_api):
    confirmed_user(users_api)
    refresh_token = tokens_of(log_in(users_api))["refreshToken"]

    tokens = tokens_of(users_api.post("/users/refresh", body={"refreshToken": refresh_token}))

    assert set(tokens) == TOKEN_FIELDS - {"refreshToken"}
    assert tokens["tokenType"] == "Bearer"
    assert type(tokens["expiresIn"]) is int
    assert claims(tokens["accessToken"])["token_use"] == "access"


@pytest.mark.parametrize("token", ["not-a-refresh-token", str(uuid.uuid4())])
def test_a_bad_refresh_token_is_a_401_problem(users_api, token):
    confirmed_user(users_api)
    log_in(users_api)

    users_api.post("/users/refresh", body={"refreshToken": token}).problem(401)


# --- password reset -----------------------------------------------------------------------------


@pytest.fixture
def reset_codes(users_clients: Any) -> list[str]:
    """The codes moto "emails": it returns each in a response header of ForgotPassword."""
    codes: list[str] = []

    def observe(http_response: Any, **_: Any) -> None:
        code = http_response.headers.get(MOTO_CODE_HEADER)
        if code:  # none for an unknown email
            codes.append(code)

    users_clients.cognito.meta.events.register("after-call.cognito-idp.ForgotPassword", observe)
    return codes


def test_forgot_password_answers_the_same_202_for_known_and_unknown_emails(
    users_api, cognito_calls, reset_codes
):
    confirmed_user(users_api)

    known = users_api.post("/users/forgot-password", body={"email": EMAIL})
    unknown = users_api.post("/users/forgot-password", body={"email": "bob@example.com"})

    assert known.status == 202, known.text
    assert (unknown.status, unknown.content_type, unknown.text) == (
        known.status,
        known.content_type,
        known.text,
    )
    assert cognito_calls.count("ForgotPassword") == 2
    assert len(reset_codes) == 1


def test_a_reset_with_the_emailed_code_sets_the_new_password(users_api, reset_codes):
    confirmed_user(users_api)
    users_api.post("/users/forgot-password", body={"email": "ANA@example.com"})

    reply = users_api.post(
        "/users/reset-password",
        body={"email": EMAIL, "code": reset_codes[-1], "newPassword": NEW_PASSWORD},
    )

    assert reply.status == 200, reply.text
    assert reply.content_type == JSON
    assert tokens_of(log_in(users_api, password=NEW_PASSWORD))["accessToken"]
    log_in(users_api).problem(401)


def test_a_reset_with_a_wrong_code_is_a_400_problem_and_keeps_the_password(users_api, reset_codes):
    confirmed_user(users_api)
    users_api.post("/users/forgot-password", body={"email": EMAIL})
    # moto checks only codes in its own format; any other code it takes as right.
    wrong = "moto-confirmation-code:000000"
    assert reset_codes[-1] != wrong

    reply = users_api.post(
        "/users/reset-password", body={"email": EMAIL, "code": wrong, "newPassword": NEW_PASSWORD}
    )

    reply.problem(400)
    assert tokens_of(log_in(users_api))["accessToken"]


def test_a_weak_new_password_is_a_422_naming_new_password_before_cognito_is_asked(
    users_api, cognito_calls, reset_codes
):
    confirmed_user(users_api)
    users_api.post("/users/forgot-password", body={"email": EMAIL})
    cognito_calls.clear()

    reply = users_api.post(
        "/users/reset-password",
        body={"email": EMAIL, "code": reset_codes[-1], "newPassword": "weak"},
    )

    assert PASSWORD_POLICY.describe() in reply.problem(422)["detail"]
    assert set(reply.field_errors()) == {"newPassword"}
    assert cognito_calls == []
    assert tokens_of(log_in(users_api))["accessToken"]


# --- the caller's profile -----------------------------------------------------------------------


def test_me_answers_the_profile_with_the_groups_of_the_token(users_api, cognito):
    account = confirmed_user(users_api)
    cognito.client.create_group(UserPoolId=cognito.pool.pool_id, GroupName="buyers")
    for group in ("buyers", "admin"):
        cognito.client.admin_add_user_to_group(
            UserPoolId=cognito.pool.pool_id, Username=EMAIL, GroupName=group
        )
    cognito.client.admin_update_user_attributes(
        UserPoolId=cognito.pool.pool_id,
        Username=EMAIL,
        UserAttributes=[{"Name": "email_verified", "Value": "true"}],
    )
    access_token = tokens_of(log_in(users_api))["accessToken"]
    rendered = rendered_claims(access_token)
    assert sorted(rendered["cognito:groups"].strip("[]").split()) == ["admin", "buyers"]

    reply = users_api.get(
        "/users/me", claims=rendered, headers={"authorization": f"Bearer {access_token}"}
    )

    assert reply.status == 200, reply.text
    assert reply.content_type == JSON
    assert reply.json() == {
        "id": account["id"],
        "email": EMAIL,
        "name": NAME,
        "emailVerified": True,
        "groups": ["admin", "buyers"],
    }


def test_me_without_groups_or_a_verified_email(users_api):
    confirmed_user(users_api)
    access_token = tokens_of(log_in(users_api))["accessToken"]
    rendered = rendered_claims(access_token)
    assert "cognito:groups" not in rendered

    reply = users_api.get(
        "/users/me", claims=rendered, headers={"authorization": f"Bearer {access_token}"}
    )

    assert reply.status == 200, reply.text
    profile = reply.json()
    assert (profile["groups"], profile["emailVerified"]) == ([], False)


@pytest.mark.parametrize("authorization", ["Bearer {}", "bearer {}", "BEARER  {}", "{}"])
def test_me_reads_the_token_however_the_authorizer_accepted_it(users_api, authorization):
    """API Gateway's JWT authorizer, and the local one (test_authorizer.py), accept the token
    with or without a Bearer prefix in any case; the app must find the same token."""
    confirmed_user(users_api)
    access_token = tokens_of(log_in(users_api))["accessToken"]

    reply = users_api.get(
        "/users/me",
        claims=rendered_claims(access_token),
        headers={"authorization": authorization.format(access_token)},
    )

    assert reply.status == 200, reply.text
    assert reply.json()["email"] == EMAIL


def test_me_without_claims_is_a_401_problem_and_asks_cognito_nothing(users_api, cognito_calls):
    users_api.get("/users/me").problem(401)

    assert cognito_calls == []


def test_me_with_a_token_cognito_does_not_know_is_a_401_problem(users_api):
    confirmed_user(users_api)
    rendered = rendered_claims(tokens_of(log_in(users_api))["accessToken"])

    reply = users_api.get(
        "/users/me", claims=rendered, headers={"authorization": "Bearer not.a.token"}
    )

    reply.problem(401)


def test_the_recorded_signup_event_runs_unchanged(cognito):
    """The JSON file under tests/events, through the entry exactly as Lambda builds it."""
    handler = http_handler(create_app)

    reply = Reply.of(handler(load_event("apigw_v2_users_signup.json"), None))

    assert reply.status == 201, reply.text
    assert reply.json()["email"] == EMAIL
    assert cognito.users() == [(EMAIL, "UNCONFIRMED")]
