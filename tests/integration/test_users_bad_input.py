"""Bad input to every users route is refused before Cognito is asked anything.

What the app asks Cognito is observed through the SDK's own events on the client handed to
create_app. The requests change nothing, so the whole table shares one moto user pool.
"""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from services.common.aws import AwsClients
from tests.integration.conftest import (
    Api,
    Cognito,
    record_cognito_calls,
    users_api_over,
    users_clients_for,
)

EMAIL = "ana@example.com"
PASSWORD = "Corr3ct-Horse!"
VALID: dict[str, dict[str, str]] = {
    "/users/signup": {"email": EMAIL, "password": PASSWORD, "name": "Ana"},
    "/users/confirm": {"email": EMAIL, "code": "123456"},
    "/users/resend-code": {"email": EMAIL},
    "/users/login": {"email": EMAIL, "password": PASSWORD},
    "/users/refresh": {"refreshToken": "eyJjdHkiOiJKV1QifQ.abc.def"},
    "/users/forgot-password": {"email": EMAIL},
    "/users/reset-password": {"email": EMAIL, "code": "123456", "newPassword": "N3w-Battery!"},
}
OVERSIZED = {
    "email": "a" * 243 + "@example.com",
    "password": "P" * 257,
    "name": "n" * 101,
    "code": "1" * 65,
    "refreshToken": "t" * 8193,
    "newPassword": "P" * 257,
}


def bad_bodies(path: str) -> list[tuple[str, dict[str, Any], int, set[str] | None]]:
    """(case, request options, status, fields a 422 names) for one route."""
    valid = VALID[path]
    text = json.dumps(valid)
    return [
        ("malformed JSON", {"body": text[:-1]}, 400, None),
        ("trailing garbage", {"body": text + "}"}, 400, None),
        ("invalid UTF-8", {"body": b'{"email": "\xff\xfe"}'}, 400, None),
        ("empty body", {"body": ""}, 400, None),
        ("whitespace body", {"body": " \n "}, 400, None),
        ("text/plain", {"body": text, "content_type": "text/plain"}, 415, None),
        (
            "form",
            {"body": "email=x", "content_type": "application/x-www-form-urlencoded"},
            415,
            None,
        ),
        ("no content type", {"body": text, "content_type": None}, 415, None),
        ("JSON array", {"body": [valid]}, 422, {"body"}),
        ("JSON null", {"body": "null"}, 422, {"body"}),
        ("unknown field", {"body": {**valid, "role": "admin"}}, 422, {"role"}),
        ("missing fields", {"body": {}}, 422, set(valid)),
        ("oversized values", {"body": {k: OVERSIZED[k] for k in valid}}, 422, set(valid)),
        ("body over 64 KiB", {"body": {**valid, "pad": "p" * (64 * 1024)}}, 413, None),
    ]


BAD_INPUT = [(path, *case) for path in VALID for case in bad_bodies(path)]


@pytest.fixture(scope="module")
def pool(module_cognito: Cognito) -> Cognito:
    """The shared pool, holding one unconfirmed user that no request may change."""
    module_cognito.client.sign_up(
        ClientId=module_cognito.pool.client_id,
        Username=EMAIL,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": EMAIL}],
    )
    return module_cognito


@pytest.fixture
def clients(
    pool: Cognito, aws_session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> AwsClients:
    return users_clients_for(pool, aws_session, monkeypatch)


@pytest.fixture
def calls(clients: AwsClients) -> list[str]:
    return record_cognito_calls(clients)


@pytest.fixture
def api(clients: AwsClients) -> Iterator[Api]:
    api = users_api_over(clients)
    yield api
    assert [reply.status for reply in api.replies if reply.status >= 500] == []


@pytest.mark.parametrize(
    ("path", "case", "options", "status", "fields"),
    BAD_INPUT,
    ids=[f"{path.removeprefix('/users/')}-{case}" for path, case, *_ in BAD_INPUT],
)
def test_bad_input_is_refused_before_cognito_is_asked(
    api, pool, calls, path, case, options, status, fields
):
    before = pool.users()

    reply = api.post(path, **options)

    problem = reply.problem(status)
    if fields is not None:
        assert set(reply.field_errors()) == fields
        assert set(problem) == {"type", "title", "status", "detail", "errors"}
    assert calls == []
    assert pool.users() == before == [(EMAIL, "UNCONFIRMED")]


# moto 5.2.5 does not implement ResendConfirmationCode (test_users_cognito_errors.py stubs it).
@pytest.mark.parametrize("path", sorted(set(VALID) - {"/users/resend-code"}))
def test_the_same_bodies_when_valid_do_reach_cognito(api, calls, path):
    """The observation above can fail: a valid body is answered by asking Cognito."""
    reply = api.post(path, body=VALID[path])

    assert reply.status < 500
    assert len(calls) == 1


def test_me_without_claims_asks_cognito_nothing(api, calls):
    api.get("/users/me").problem(401)

    assert calls == []
