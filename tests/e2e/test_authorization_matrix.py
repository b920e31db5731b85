"""Who may call what, over HTTP on the local stack: every route of the route table against every
kind of caller, real tokens from real logins and tokens a forger could build from them.

API Gateway's JWT authorizer answers a missing, malformed, forged, expired or misaddressed token
with 401 `{"message":"Unauthorized"}` and a valid token without the access-token scope (an ID
token) with 403 `{"message":"Forbidden"}`, before any function runs. Public routes have no
authorizer: whatever the Authorization header holds, the function answers. The admin group is
checked by the app: a customer gets a 403 problem on an admin route.

Requests are cheap and change nothing: path parameters are random UUIDs (a 404 from the app is a
request that got through), bodies are empty JSON objects (a 422 from the app got through too).
"""

import base64
import json
import re
import time
import uuid
from enum import Enum
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from services.routes import ACCESS_TOKEN_SCOPE, ADMIN_GROUP, ROUTES, Access, Route
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

PASSWORD = "Matrix-pass1!"
PROBLEM = "application/problem+json"


class Outcome(Enum):
    THROUGH = "the function answers, refusing neither the token nor the caller"
    UNAUTHORIZED = "401 from the authorizer"
    FORBIDDEN = "403 from the authorizer: a valid token without the access-token scope"
    NOT_ADMIN = "403 problem from the app: a valid access token outside the admin group"
    PAST_THE_AUTHORIZER = "the function answers, whatever it makes of the token"


# What the authorizer answers on a protected route; callers not listed get through it.
REFUSED_BY_THE_AUTHORIZER = {
    "no-token": Outcome.UNAUTHORIZED,
    "malformed": Outcome.UNAUTHORIZED,
    "bad-signature": Outcome.UNAUTHORIZED,  # the customer's token, its signature altered
    "tampered": Outcome.UNAUTHORIZED,  # the customer's token made admin, the signature kept
    "forged": Outcome.UNAUTHORIZED,  # the same claims signed with another key under the same kid
    "unsigned": Outcome.UNAUTHORIZED,  # alg "none"
    "expired": Outcome.UNAUTHORIZED,  # validly signed, expired an hour ago
    "other-client": Outcome.UNAUTHORIZED,  # a real access token of another app client
    "other-client-claim": Outcome.UNAUTHORIZED,  # validly signed, client_id changed
    "other-issuer": Outcome.UNAUTHORIZED,  # validly signed (moto has one key), another pool's
    "id-token": Outcome.FORBIDDEN,
}
ADMINS = {"admin"}
# "re-signed" is the control for the validly signed refusals: the customer's own claims signed
# with the pool's key, so "expired" and "other-client-claim" fail on the one claim they change.
# The authorizer accepts it; Cognito, which never issued it, need not (GET /users/me asks it).
RE_SIGNED = "re-signed"
ALLOWED = {"customer", RE_SIGNED, "admin"}
CALLERS = [*REFUSED_BY_THE_AUTHORIZER, *sorted(ALLOWED)]


def expected(route: Route, caller: str) -> Outcome:
    if route.access is Access.PUBLIC:
        return Outcome.THROUGH
    if caller in REFUSED_BY_THE_AUTHORIZER:
        return REFUSED_BY_THE_AUTHORIZER[caller]
    if route.access is Access.ADMIN and caller not in ADMINS:
        return Outcome.NOT_ADMIN
    if caller == RE_SIGNED and route.function == "users":
        return Outcome.PAST_THE_AUTHORIZER
    return Outcome.THROUGH


# --- the callers ----------------------------------------------------------------------------


def post(stack: RunningStack, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.api}{path}", json=body, timeout=10)


def logged_in(stack: RunningStack, email: str, password: str) -> dict[str, Any]:
    reply = post(stack, "/users/login", {"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    tokens: dict[str, Any] = reply.json()
    return tokens


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def moto_key() -> Any:
    """The private key moto signs every pool's tokens with, published with moto itself."""
    return jwt.algorithms.RSAAlgorithm.from_jwk(
        json.dumps(load_resource("cognitoidp/resources/jwks-private.json"))
    )


def signed(claims: dict[str, Any], kid: str, key: Any = None) -> str:
    return jwt.encode(claims, key or moto_key(), algorithm="RS256", headers={"kid": kid})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def with_bad_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0xFF  # one byte in the middle: every bit of it counts
    return f"{header}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, dict[str, Any]]:
    """Real tokens of a customer signed up and logged in through the API, and of the admin."""
    email = f"matrix-{uuid.uuid4().hex[:10]}@example.com"
    signup = post(stack, "/users/signup", {"email": email, "password": PASSWORD, "name": "Mat"})
    assert signup.status_code == 201, signup.text
    code = stack.last_code(email, "verify-email")
    assert post(stack, "/users/confirm", {"email": email, "code": code}).status_code == 200
    admin = stack.info["admin"]
    cognito = stack.cognito()
    other_client = cognito.create_user_pool_client(
        UserPoolId=stack.info["userPoolId"],
        ClientName=f"another-app-{uuid.uuid4().hex[:6]}",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    other = cognito.initiate_auth(
        ClientId=other_client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    return {
        "customer": logged_in(stack, email, PASSWORD),
        "admin": logged_in(stack, admin["email"], admin["password"]),
        "other-client": {"accessToken": other["AccessToken"]},
    }


@pytest.fixture(scope="module")
def headers(tokens: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Each caller's request headers."""
    access = tokens["customer"]["accessToken"]
    kid = jwt.get_unverified_header(access)["kid"]
    claims = unverified(access)
    now = int(time.time())
    fresh = {**claims, "iat": now, "exp": now + 3600}
    escalated = {**claims, "cognito:groups": [ADMIN_GROUP]}
    header_part, _, signature = access.split(".")
    built = {
        "malformed": "not-a-jwt",
        "bad-signature": with_bad_signature(access),
        "tampered": f"{header_part}.{b64(escalated)}.{signature}",
        "forged": signed(
            escalated, kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
        "unsigned": f"{b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{b64(escalated)}.",
        "expired": signed({**claims, "iat": now - 7200, "exp": now - 3600}, kid),
        "other-client": tokens["other-client"]["accessToken"],
        "other-client-claim": signed({**fresh, "client_id": f"x{claims['client_id']}"}, kid),
        "other-issuer": signed({**fresh, "iss": f"{claims['iss'][:-4]}Othr"}, kid),
        "id-token": tokens["customer"]["idToken"],
        "customer": access,
        RE_SIGNED: signed(fresh, kid),
        "admin": tokens["admin"]["accessToken"],
    }
    found = {
        "no-token": {},
        **{name: {"Authorization": f"Bearer {t}"} for name, t in built.items()},
    }
    assert sorted(found) == sorted(CALLERS)
    return found


def test_the_callers_are_what_they_claim_to_be(tokens, headers, stack: RunningStack) -> None:
    """The matrix proves nothing if a token is refused for another reason than its own."""

    def claims_of(caller: str) -> dict[str, Any]:
        return unverified(headers[caller]["Authorization"].removeprefix("Bearer "))

    client_id = stack.info["userPoolClientId"]
    customer = claims_of("customer")
    assert (customer["token_use"], customer["client_id"]) == ("access", client_id)
    assert ACCESS_TOKEN_SCOPE in customer["scope"].split()
    assert "cognito:groups" not in customer
    assert claims_of("admin")["cognito:groups"] == [ADMIN_GROUP]
    id_token = claims_of("id-token")
    assert (id_token["token_use"], id_token["aud"]) == ("id", client_id)
    assert "scope" not in id_token
    for caller in ("tampered", "forged", "unsigned"):
        assert claims_of(caller)["cognito:groups"] == [ADMIN_GROUP], caller
    assert claims_of("expired")["exp"] < time.time() < claims_of("re-signed")["exp"]
    for caller in ("other-client", "other-client-claim"):
        other = claims_of(caller)
        assert other["client_id"] != client_id, caller
        assert (other["token_use"], other["sub"]) == ("access", customer["sub"]), caller
    # The validly signed tokens differ from the accepted control in the one claim they change.
    control = claims_of("re-signed")
    assert {k: v for k, v in claims_of("expired").items() if k not in {"iat", "exp"}} == {
        k: v for k, v in control.items() if k not in {"iat", "exp"}
    }
    assert {**claims_of("other-client-claim"), "client_id": client_id} == control
    assert claims_of("other-issuer")["iss"] != stack.info["issuer"] == control["iss"]
    assert {**claims_of("other-issuer"), "iss": control["iss"]} == control


# --- the matrix -----------------------------------------------------------------------------


def call(stack: RunningStack, route: Route, headers: dict[str, str]) -> requests.Response:
    path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), route.path)
    body: dict[str, Any] | None = {} if route.method in {"POST", "PUT", "PATCH"} else None
    return requests.request(
        route.method, f"{stack.api}{path}", json=body, headers=headers, timeout=10
    )


def from_the_authorizer(response: requests.Response, status: int, message: str, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": message}
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer "), challenge
    assert f'error="{error}"' in challenge, challenge


def from_the_function(response: requests.Response) -> None:
    """The function answered: a success, or one of its problem documents; never a 5xx."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == PROBLEM, response.text
        assert response.json()["status"] == response.status_code


def check(response: requests.Response, outcome: Outcome) -> None:
    if outcome is Outcome.UNAUTHORIZED:
        from_the_authorizer(response, 401, "Unauthorized", "invalid_token")
    elif outcome is Outcome.FORBIDDEN:
        from_the_authorizer(response, 403, "Forbidden", "insufficient_scope")
    elif outcome is Outcome.NOT_ADMIN:
        assert response.status_code == 403, response.text
        from_the_function(response)
    elif outcome is Outcome.PAST_THE_AUTHORIZER:
        from_the_function(response)
    else:
        assert response.status_code not in {401, 403}, response.text
        from_the_function(response)


@pytest.fixture(scope="module")
def answered() -> dict[str, int]:
    """Each public route's status without a token, filled in as the matrix first needs it."""
    return {}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.key)
def test_every_route_answers_every_caller_as_api_gateway_and_the_app_should(
    stack: RunningStack,
    headers: dict[str, dict[str, str]],
    answered: dict[str, int],
    route: Route,
    caller: str,
) -> None:
    outcome = expected(route, caller)

    response = call(stack, route, headers[caller])

    check(response, outcome)
    if route.access is Access.PUBLIC:
        # No authorizer: the token, good or bad, changes nothing in the answer.
        if route.key not in answered:
            answered[route.key] = call(stack, route, headers["no-token"]).status_code
        assert response.status_code == answered[route.key], response.text


def test_the_matrix_covers_every_access_level_and_every_outcome() -> None:
    """Were the route table to lose its admin or public routes, the matrix would still run."""
    assert {route.access for route in ROUTES} == set(Access)
    assert {expected(route, caller) for route in ROUTES for caller in CALLERS} == set(Outcome)
