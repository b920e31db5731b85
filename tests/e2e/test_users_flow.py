"""Sign-up to profile over HTTP on the local stack, the way a client app does it."""

import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

PASSWORD = "Secret-pass1"


def post(stack: RunningStack, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.api}{path}", json=body, timeout=10)


def me(stack: RunningStack, token: str) -> requests.Response:
    return requests.get(
        f"{stack.api}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@pytest.fixture
def email() -> str:
    return f"shopper-{uuid.uuid4().hex[:10]}@example.com"


def test_signup_confirm_login_me_refresh(stack: RunningStack, email: str) -> None:
    signed_up = post(stack, "/users/signup", {"email": email, "password": PASSWORD, "name": "Ana"})
    assert signed_up.status_code == 201
    assert signed_up.json()["email"] == email
    assert signed_up.json()["confirmed"] is False

    assert post(stack, "/users/login", {"email": email, "password": PASSWORD}).status_code == 403
    assert post(stack, "/users/confirm", {"email": email, "code": "000000"}).status_code == 400

    code = stack.last_code(email, "verify-email")
    confirmed = post(stack, "/users/confirm", {"email": email, "code": code})
    assert (confirmed.status_code, confirmed.json()) == (200, {"confirmed": True})

    login = post(stack, "/users/login", {"email": email.upper(), "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()
    assert tokens["tokenType"] == "Bearer"
    assert isinstance(tokens["expiresIn"], int)

    profile = me(stack, tokens["accessToken"])
    assert profile.status_code == 200
    assert profile.json() == {
        "id": signed_up.json()["id"],
        "email": email,
        "name": "Ana",
        "emailVerified": True,
        "groups": [],
    }

    refreshed = post(stack, "/users/refresh", {"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200
    assert "refreshToken" not in refreshed.json()
    assert me(stack, refreshed.json()["accessToken"]).json()["email"] == email

    # An ID token is not an access token: API Gateway refuses it for lack of the scope.
    refused = me(stack, tokens["idToken"])
    assert refused.status_code == 403
    assert refused.json() == {"message": "Forbidden"}


def test_admin_logs_in_with_the_seeded_credentials(stack: RunningStack) -> None:
    login = post(stack, "/users/login", stack.info["admin"])
    assert login.status_code == 200
    assert me(stack, login.json()["accessToken"]).json()["groups"] == ["admin"]


def test_forgotten_password_is_reset_with_the_emailed_code(stack: RunningStack, email: str) -> None:
    post(stack, "/users/signup", {"email": email, "password": PASSWORD, "name": "Bo"})
    post(stack, "/users/confirm", {"email": email, "code": stack.last_code(email, "verify-email")})

    assert post(stack, "/users/forgot-password", {"email": email}).status_code == 202
    code = stack.last_code(email, "reset-password")
    new_password = "Another-pass2"
    weak = post(
        stack, "/users/reset-password", {"email": email, "code": code, "newPassword": "weak"}
    )
    assert weak.status_code == 422
    reset = post(
        stack, "/users/reset-password", {"email": email, "code": code, "newPassword": new_password}
    )
    assert reset.status_code == 200
    old = post(stack, "/users/login", {"email": email, "password": PASSWORD})
    new = post(stack, "/users/login", {"email": email, "password": new_password})
    assert (old.status_code, new.status_code) == (401, 200)


def test_the_failures_a_client_must_handle(stack: RunningStack, email: str) -> None:
    weak = post(stack, "/users/signup", {"email": email, "password": "password", "name": "Cy"})
    assert weak.status_code == 422
    assert "upper case" in weak.json()["detail"]
    assert [error["field"] for error in weak.json()["errors"]] == ["password"]

    assert (
        post(stack, "/users/signup", {"email": email, "password": PASSWORD, "name": "Cy"})
    ).status_code == 201
    duplicate = post(stack, "/users/signup", {"email": email, "password": PASSWORD, "name": "Cy"})
    assert duplicate.status_code == 409

    post(stack, "/users/confirm", {"email": email, "code": stack.last_code(email, "verify-email")})
    wrong = post(stack, "/users/login", {"email": email, "password": "Wrong-pass1"})
    unknown = post(stack, "/users/login", {"email": f"x{email}", "password": "Wrong-pass1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()

    assert me(stack, "not-a-token").status_code == 401
    not_json = requests.post(
        f"{stack.api}/users/login", data="email=a", timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert not_json.status_code == 415
