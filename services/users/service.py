"""The account rules. The identity provider comes in as an argument; nothing here knows Cognito."""

from dataclasses import replace

from services.common.auth import Principal
from services.users.domain import NewAccount, Profile, Tokens, WeakPassword
from services.users.pool import PASSWORD_POLICY
from services.users.ports import IdentityProvider


def _check_policy(password: str, field: str = "password") -> None:
    """Refuse a weak password before the identity provider is asked."""
    if not PASSWORD_POLICY.is_met_by(password):
        raise WeakPassword(field)


def sign_up(identity: IdentityProvider, email: str, password: str, name: str) -> NewAccount:
    _check_policy(password)
    return identity.sign_up(email, password, name)


def confirm(identity: IdentityProvider, email: str, code: str) -> None:
    identity.confirm(email, code)


def resend_code(identity: IdentityProvider, email: str) -> None:
    identity.resend_code(email)


def login(identity: IdentityProvider, email: str, password: str) -> Tokens:
    return identity.login(email, password)


def refresh(identity: IdentityProvider, refresh_token: str) -> Tokens:
    return identity.refresh(refresh_token)


def forgot_password(identity: IdentityProvider, email: str) -> None:
    identity.forgot_password(email)


def reset_password(identity: IdentityProvider, email: str, code: str, new_password: str) -> None:
    _check_policy(new_password, "newPassword")
    identity.reset_password(email, code, new_password)


def me(identity: IdentityProvider, caller: Principal, access_token: str) -> Profile:
    """The caller's profile; groups come from the verified token, as the authorizer passed them."""
    profile = identity.profile(access_token)
    return replace(profile, groups=tuple(sorted(caller.groups)))
