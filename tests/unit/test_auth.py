"""Who is calling, read from the claims API Gateway's JWT authorizer hands to the function."""

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.auth import Principal, principal_from_authorizer, require_admin, require_user
from services.common.errors import Forbidden, Unauthorized

EVENTS = Path(__file__).parent.parent / "events"
SUBJECT = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def authorizer(**claims: Any) -> dict[str, Any]:
    return {"jwt": {"claims": {"sub": SUBJECT, **claims}, "scopes": []}}


def test_the_recorded_admin_event_gives_an_admin_principal():
    event = json.loads((EVENTS / "apigw_v2_jwt.json").read_text())

    principal = principal_from_authorizer(event["requestContext"]["authorizer"])

    assert principal == Principal(
        user_id=SUBJECT,
        username=SUBJECT,
        groups=frozenset({"admin"}),
        scopes=frozenset({"aws.cognito.signin.user.admin"}),
    )
    assert principal.is_admin


@pytest.mark.parametrize(
    ("rendered", "groups"),
    [
        ("[admin]", {"admin"}),
        ("[admin customers]", {"admin", "customers"}),
        ("[customers admin]", {"admin", "customers"}),
        ("[customers]", {"customers"}),
        ("[]", set()),
        (["admin"], {"admin"}),
        (["admin", "customers"], {"admin", "customers"}),
        ([], set()),
        (None, set()),
    ],
)
def test_groups_as_api_gateway_renders_them_and_as_lists(rendered, groups):
    principal = principal_from_authorizer(authorizer(**{"cognito:groups": rendered}))

    assert principal is not None
    assert principal.groups == frozenset(groups)
    assert principal.is_admin is ("admin" in groups)


@pytest.mark.parametrize(
    "rendered", ["[administrators]", "[admins]", "[Admin]", "[notadmin]", ["administrators"]]
)
def test_only_the_exact_admin_group_makes_an_admin(rendered):
    principal = principal_from_authorizer(authorizer(**{"cognito:groups": rendered}))

    assert principal is not None
    assert not principal.is_admin


def test_a_customer_without_groups_is_not_an_admin():
    principal = principal_from_authorizer(authorizer(username="jane"))

    assert principal is not None
    assert principal.groups == frozenset()
    assert principal.username == "jane"
    assert not principal.is_admin


def test_scopes_are_split_on_spaces():
    principal = principal_from_authorizer(authorizer(scope="openid aws.cognito.signin.user.admin"))

    assert principal is not None
    assert principal.scopes == frozenset({"openid", "aws.cognito.signin.user.admin"})


@pytest.mark.parametrize(
    ("claims", "username"),
    [
        ({"username": "by-username"}, "by-username"),
        ({"cognito:username": "by-id-token"}, "by-id-token"),
        ({}, SUBJECT),
    ],
)
def test_username_falls_back_to_the_subject(claims, username):
    principal = principal_from_authorizer(authorizer(**claims))

    assert principal is not None
    assert principal.username == username
    assert principal.user_id == SUBJECT


@pytest.mark.parametrize(
    "context",
    [
        None,
        {},
        {"jwt": None},
        {"jwt": {}},
        {"jwt": {"claims": {}}},
        {"jwt": {"claims": {"sub": ""}, "scopes": []}},
        {"jwt": {"claims": {"username": "no-subject"}}},
    ],
)
def test_no_subject_means_no_principal(context):
    assert principal_from_authorizer(context) is None


def test_require_user_refuses_an_anonymous_caller():
    with pytest.raises(Unauthorized):
        require_user(None)


def test_require_user_returns_the_caller():
    principal = principal_from_authorizer(authorizer())

    assert require_user(principal) is principal


def test_require_admin_refuses_an_anonymous_caller_as_unauthorized():
    with pytest.raises(Unauthorized):
        require_admin(None)


@pytest.mark.parametrize("groups", [None, "[]", "[customers]", ["customers"]])
def test_require_admin_refuses_a_non_admin_as_forbidden(groups):
    principal = principal_from_authorizer(authorizer(**{"cognito:groups": groups}))

    with pytest.raises(Forbidden):
        require_admin(principal)


@pytest.mark.parametrize("groups", ["[admin]", "[customers admin]", ["admin"]])
def test_require_admin_returns_an_admin(groups):
    principal = principal_from_authorizer(authorizer(**{"cognito:groups": groups}))

    assert require_admin(principal) is principal
