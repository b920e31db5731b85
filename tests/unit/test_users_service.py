"""The account rules, with an in-memory identity provider that records what it was asked."""

import pytest

from services.common.auth import Principal
from services.users import service
from services.users.domain import (
    AlreadyConfirmed,
    EmailTaken,
    InvalidCode,
    InvalidCredentials,
    InvalidRefreshToken,
    NotConfirmed,
    WeakPassword,
)
from services.users.pool import PASSWORD_POLICY
from tests.unit.fakes import FakeIdentityProvider

EMAIL = "ana@example.com"
PASSWORD = "Corr3ct-Horse!"
NEW_PASSWORD = "N3w-Battery-Staple"
WEAK = ["", "short1!", "alllowercase1!", "ALLUPPERCASE1!", "NoDigitsHere!", "NoSymbols123"]


@pytest.fixture
def identity() -> FakeIdentityProvider:
    return FakeIdentityProvider()


def confirmed(identity: FakeIdentityProvider, email: str = EMAIL) -> None:
    service.sign_up(identity, email, PASSWORD, "Ana")
    service.confirm(identity, email, identity.code_for(email))


def caller(*groups: str) -> Principal:
    return Principal("sub-1", "sub-1", frozenset(groups), frozenset())


# --- the policy is checked before the provider is asked ----------------------------------------


@pytest.mark.parametrize("password", WEAK)
def test_sign_up_refuses_a_weak_password_naming_password_without_asking_the_provider(
    identity, password
):
    with pytest.raises(WeakPassword) as refused:
        service.sign_up(identity, EMAIL, password, "Ana")

    assert [error.field for error in refused.value.errors] == ["password"]
    assert PASSWORD_POLICY.describe() in refused.value.detail
    assert identity.calls == []


@pytest.mark.parametrize("password", WEAK)
def test_reset_refuses_a_weak_password_naming_new_password_without_asking_the_provider(
    identity, password
):
    confirmed(identity)
    service.forgot_password(identity, EMAIL)
    code = identity.reset_code_for(EMAIL)
    assert code is not None
    identity.calls.clear()

    with pytest.raises(WeakPassword) as refused:
        service.reset_password(identity, EMAIL, code, password)

    assert [error.field for error in refused.value.errors] == ["newPassword"]
    assert PASSWORD_POLICY.describe() in refused.value.detail
    assert identity.calls == []
    assert identity.reset_code_for(EMAIL) == code


def test_sign_up_with_a_strong_password_asks_the_provider_once(identity):
    account = service.sign_up(identity, EMAIL, PASSWORD, "Ana")

    assert (account.email, account.name, account.confirmed) == (EMAIL, "Ana", False)
    assert identity.calls == ["sign_up"]


# --- the account's life -------------------------------------------------------------------------


def test_a_confirmed_account_logs_in_and_refreshes_without_a_new_refresh_token(identity):
    confirmed(identity)

    tokens = service.login(identity, EMAIL, PASSWORD)
    refreshed = service.refresh(identity, tokens.refresh_token or "")

    assert tokens.refresh_token is not None
    assert tokens.expires_in > 0
    assert refreshed.refresh_token is None
    assert refreshed.access_token != tokens.access_token


def test_a_taken_email_is_refused(identity):
    service.sign_up(identity, EMAIL, PASSWORD, "Ana")

    with pytest.raises(EmailTaken):
        service.sign_up(identity, EMAIL, PASSWORD, "Another Ana")


def test_login_before_confirmation_is_refused(identity):
    service.sign_up(identity, EMAIL, PASSWORD, "Ana")

    with pytest.raises(NotConfirmed):
        service.login(identity, EMAIL, PASSWORD)


def test_a_wrong_code_does_not_confirm(identity):
    service.sign_up(identity, EMAIL, PASSWORD, "Ana")

    with pytest.raises(InvalidCode):
        service.confirm(identity, EMAIL, "000000")
    with pytest.raises(NotConfirmed):
        service.login(identity, EMAIL, PASSWORD)


def test_a_resent_code_replaces_the_old_one(identity):
    service.sign_up(identity, EMAIL, PASSWORD, "Ana")
    old = identity.code_for(EMAIL)

    service.resend_code(identity, EMAIL)

    with pytest.raises(InvalidCode):
        service.confirm(identity, EMAIL, old)
    service.confirm(identity, EMAIL, identity.code_for(EMAIL))


def test_confirming_twice_is_already_confirmed(identity):
    confirmed(identity)

    with pytest.raises(AlreadyConfirmed):
        service.confirm(identity, EMAIL, identity.code_for(EMAIL))


def test_wrong_password_and_unknown_email_are_the_same_error(identity):
    confirmed(identity)

    with pytest.raises(InvalidCredentials) as wrong:
        service.login(identity, EMAIL, PASSWORD + "x")
    with pytest.raises(InvalidCredentials) as unknown:
        service.login(identity, "bob@example.com", PASSWORD)

    assert wrong.value.detail == unknown.value.detail


def test_an_unknown_refresh_token_is_refused(identity):
    with pytest.raises(InvalidRefreshToken):
        service.refresh(identity, "not-a-refresh-token")


def test_resend_and_forgot_are_silent_for_unknown_emails(identity):
    service.resend_code(identity, "bob@example.com")
    service.forgot_password(identity, "bob@example.com")

    assert identity.calls == ["resend_code", "forgot_password"]


def test_a_password_reset_with_the_emailed_code_changes_the_password(identity):
    confirmed(identity)
    service.forgot_password(identity, EMAIL)

    service.reset_password(identity, EMAIL, identity.reset_code_for(EMAIL) or "", NEW_PASSWORD)

    assert service.login(identity, EMAIL, NEW_PASSWORD).access_token
    with pytest.raises(InvalidCredentials):
        service.login(identity, EMAIL, PASSWORD)


@pytest.mark.parametrize("email", [EMAIL, "bob@example.com"])
def test_a_reset_without_the_right_code_is_an_invalid_code(identity, email):
    confirmed(identity)
    service.forgot_password(identity, EMAIL)

    with pytest.raises(InvalidCode):
        service.reset_password(identity, email, "999999", NEW_PASSWORD)
    assert service.login(identity, EMAIL, PASSWORD).access_token


# --- the caller's profile -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ((), ()),
        (("admin",), ("admin",)),
        (("zeta", "admin", "buyers"), ("admin", "buyers", "zeta")),
    ],
)
def test_me_takes_the_groups_from_the_caller_sorted(identity, groups, expected):
    confirmed(identity)
    token = service.login(identity, EMAIL, PASSWORD).access_token

    profile = service.me(identity, caller(*groups), token)

    assert profile.groups == expected
    assert (profile.email, profile.name, profile.email_verified) == (EMAIL, "Ana", True)


def test_me_reads_the_profile_with_the_caller_s_access_token(identity):
    confirmed(identity)
    confirmed(identity, "bob@example.com")
    token = service.login(identity, "bob@example.com", PASSWORD).access_token

    assert service.me(identity, caller(), token).email == "bob@example.com"
    with pytest.raises(InvalidCredentials):
        service.me(identity, caller(), "not-an-access-token")
