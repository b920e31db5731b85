"""The local gateway's JWT authorizer rules, against real tokens from a moto server's user pool.

API Gateway's HTTP API answers a missing, malformed, forged, expired or misaddressed token with
401, and a valid token without the route's scope with 403. The apps then read the claims as API
Gateway renders them: every value a string, lists as "[a b]".
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer
from moto.utilities.utils import load_resource

from local.authorizer import Denied, JwtAuthorizer, event_claims
from local.resources import ensure_user_pool
from services.common.auth import principal_from_authorizer
from services.routes import ACCESS_TOKEN_SCOPE

REGION = "us-east-1"
PASSWORD = "Corr3ct-Horse!"
REQUIRED = [ACCESS_TOKEN_SCOPE]


@dataclass(frozen=True)
class Pool:
    endpoint: str
    pool_id: str
    client_id: str
    other_client_id: str
    cognito: Any

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"

    def authorizer(self) -> JwtAuthorizer:
        """As the local stack builds it: the pool's issuer, its app client, its JWKS from moto."""
        return JwtAuthorizer(
            issuer=self.issuer,
            audiences=[self.client_id],
            jwks_url=f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json",
        )

    def login(self, email: str, client_id: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.cognito.initiate_auth(
            ClientId=client_id or self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        return result


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def pool(endpoint: str) -> Pool:
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    user_pool = ensure_user_pool(cognito, "authorizer-tests")
    for email in ("admin@example.com", "customer@example.com"):
        cognito.admin_create_user(
            UserPoolId=user_pool.pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(
            UserPoolId=user_pool.pool_id, Username=email, Password=PASSWORD, Permanent=True
        )
    cognito.admin_add_user_to_group(
        UserPoolId=user_pool.pool_id, Username="admin@example.com", GroupName="admin"
    )
    other = cognito.create_user_pool_client(
        UserPoolId=user_pool.pool_id,
        ClientName="another-app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return Pool(endpoint, user_pool.pool_id, user_pool.client_id, other, cognito)


@pytest.fixture(scope="module")
def authorizer(pool: Pool) -> JwtAuthorizer:
    return pool.authorizer()


@pytest.fixture(scope="module")
def admin_tokens(pool: Pool) -> dict[str, Any]:
    return pool.login("admin@example.com")


@pytest.fixture(scope="module")
def customer_tokens(pool: Pool) -> dict[str, Any]:
    return pool.login("customer@example.com")


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def moto_key() -> Any:
    """The private key moto signs the pool's tokens with, published with moto itself."""
    return jwt.algorithms.RSAAlgorithm.from_jwk(
        json.dumps(load_resource("cognitoidp/resources/jwks-private.json"))
    )


def signed(claims: dict[str, Any], key: Any = None, **headers: Any) -> str:
    return jwt.encode(
        claims, key or moto_key(), algorithm="RS256", headers={"kid": "dummy", **headers}
    )


def denied(authorizer: JwtAuthorizer, header: str | None, scopes: list[str] = REQUIRED) -> Denied:
    with pytest.raises(Denied) as refusal:
        authorizer.authorize(header, scopes)
    return refusal.value


# --- accepted -------------------------------------------------------------------------------


def test_a_real_access_token_is_accepted_with_its_claims(pool, authorizer, customer_tokens):
    claims = authorizer.authorize(f"Bearer {customer_tokens['AccessToken']}", REQUIRED)

    assert claims["client_id"] == pool.client_id
    assert claims["iss"] == pool.issuer
    assert claims["token_use"] == "access"
    assert ACCESS_TOKEN_SCOPE in claims["scope"].split()
    assert claims["sub"]
    assert "cognito:groups" not in claims


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", "BEARER  ", ""])
def test_the_token_may_come_with_or_without_the_bearer_prefix(authorizer, customer_tokens, prefix):
    claims = authorizer.authorize(prefix + customer_tokens["AccessToken"], REQUIRED)

    assert claims["token_use"] == "access"


def test_an_admin_token_becomes_an_admin_principal_through_the_rendered_claims(
    authorizer, admin_tokens, customer_tokens
):
    admin = authorizer.authorize(f"Bearer {admin_tokens['AccessToken']}", REQUIRED)
    customer = authorizer.authorize(f"Bearer {customer_tokens['AccessToken']}", REQUIRED)

    assert admin["cognito:groups"] == ["admin"]
    assert event_claims(admin)["cognito:groups"] == "[admin]"
    admin_principal = principal_from_authorizer({"jwt": {"claims": event_claims(admin)}})
    customer_principal = principal_from_authorizer({"jwt": {"claims": event_claims(customer)}})
    assert admin_principal is not None
    assert admin_principal.is_admin
    assert admin_principal.user_id == admin["sub"]
    assert customer_principal is not None
    assert not customer_principal.is_admin


def test_an_id_token_passes_a_route_that_requires_no_scope(pool, authorizer, customer_tokens):
    claims = authorizer.authorize(f"Bearer {customer_tokens['IdToken']}", [])

    assert claims["aud"] == pool.client_id
    assert claims["token_use"] == "id"


def test_a_token_signed_here_with_moto_s_key_is_accepted(authorizer, customer_tokens):
    """The control for the self-signed refusals below: only the one changed claim matters."""
    claims = unverified(customer_tokens["AccessToken"])

    assert authorizer.authorize(signed(claims), REQUIRED)["sub"] == claims["sub"]


# --- 401 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        "garbage",
        "Bearer garbage",
        "Bearer a.b.c",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Bearer eyJraWQiOiJkdW1teSIsImFsZyI6IlJTMjU2In0.e30.c2lnbmF0dXJl",
    ],
)
def test_a_missing_or_malformed_token_is_401(authorizer, header):
    refusal = denied(authorizer, header)

    assert refusal.status == 401
    assert refusal.message == "Unauthorized"
    assert 'error="invalid_token"' in refusal.www_authenticate


def test_a_token_signed_with_another_key_under_the_same_kid_is_401(authorizer, customer_tokens):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = signed(unverified(customer_tokens["AccessToken"]), key=forger)

    assert denied(authorizer, f"Bearer {forged}").status == 401


def test_a_tampered_payload_is_401(authorizer, customer_tokens):
    header, _, signature = customer_tokens["AccessToken"].split(".")
    claims = {**unverified(customer_tokens["AccessToken"]), "cognito:groups": ["admin"]}
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()

    assert denied(authorizer, f"Bearer {header}.{payload}.{signature}").status == 401


def test_an_expired_token_is_401(authorizer, customer_tokens):
    now = int(time.time())
    claims = {**unverified(customer_tokens["AccessToken"]), "iat": now - 7200, "exp": now - 3600}

    refusal = denied(authorizer, f"Bearer {signed(claims)}")

    assert refusal.status == 401
    assert "expired" in refusal.description


@pytest.mark.parametrize(
    "issuer",
    [
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Another1",
        "https://cognito-idp.eu-west-1.amazonaws.com/{pool_id}",
        "https://evil.example.com/{pool_id}",
    ],
)
def test_a_token_from_another_issuer_is_401(pool, authorizer, customer_tokens, issuer):
    claims = {
        **unverified(customer_tokens["AccessToken"]),
        "iss": issuer.format(pool_id=pool.pool_id),
    }

    refusal = denied(authorizer, f"Bearer {signed(claims)}")

    assert refusal.status == 401
    assert "issuer" in refusal.description


@pytest.mark.parametrize("missing", ["exp", "iss"])
def test_a_token_without_a_required_claim_is_401(authorizer, customer_tokens, missing):
    claims = unverified(customer_tokens["AccessToken"])
    del claims[missing]

    assert denied(authorizer, f"Bearer {signed(claims)}").status == 401


def test_a_real_token_for_another_app_client_is_401(pool, authorizer):
    tokens = pool.login("customer@example.com", client_id=pool.other_client_id)
    assert unverified(tokens["AccessToken"])["client_id"] == pool.other_client_id

    refusal = denied(authorizer, f"Bearer {tokens['AccessToken']}")

    assert refusal.status == 401
    assert "audience" in refusal.description


def test_an_id_token_for_another_app_client_is_401(pool, authorizer):
    tokens = pool.login("customer@example.com", client_id=pool.other_client_id)

    assert denied(authorizer, f"Bearer {tokens['IdToken']}", []).status == 401


def test_a_wrong_aud_is_401_even_with_the_right_client_id(pool, authorizer, customer_tokens):
    """API Gateway checks `aud` when the token has one, and `client_id` only when it has none."""
    claims = {**unverified(customer_tokens["AccessToken"]), "aud": pool.other_client_id}

    assert denied(authorizer, f"Bearer {signed(claims)}").status == 401


def test_an_unsigned_token_is_401(authorizer, customer_tokens):
    unsigned = jwt.encode(
        unverified(customer_tokens["AccessToken"]), "", algorithm="none", headers={"kid": "dummy"}
    )

    assert denied(authorizer, f"Bearer {unsigned}").status == 401


def test_a_token_for_an_unknown_key_id_is_401(authorizer, customer_tokens):
    token = signed(unverified(customer_tokens["AccessToken"]), kid="rotated-away")

    assert denied(authorizer, f"Bearer {token}").status == 401


# --- 403 ------------------------------------------------------------------------------------


def test_an_id_token_on_a_route_requiring_the_access_scope_is_403(authorizer, admin_tokens):
    refusal = denied(authorizer, f"Bearer {admin_tokens['IdToken']}")

    assert refusal.status == 403
    assert refusal.message == "Forbidden"
    assert 'error="insufficient_scope"' in refusal.www_authenticate


@pytest.mark.parametrize("scope", [None, "", "openid email", "aws.cognito.signin.user"])
def test_an_access_token_without_the_scope_is_403(authorizer, customer_tokens, scope):
    claims = unverified(customer_tokens["AccessToken"])
    claims.pop("scope")
    if scope is not None:
        claims["scope"] = scope

    refusal = denied(authorizer, f"Bearer {signed(claims)}")

    assert refusal.status == 403


# --- claims as API Gateway renders them -----------------------------------------------------


def test_event_claims_renders_every_value_as_api_gateway_does():
    claims = {
        "cognito:groups": ["admin", "customers"],
        "single": ["admin"],
        "none": [],
        "exp": 1795611500,
        "email_verified": True,
        "disabled": False,
        "sub": "a1b2",
    }

    assert event_claims(claims) == {
        "cognito:groups": "[admin customers]",
        "single": "[admin]",
        "none": "[]",
        "exp": "1795611500",
        "email_verified": "true",
        "disabled": "false",
        "sub": "a1b2",
    }
