"""What a client may send to the users routes: emails normalised, every bad field named by the
name the client used (`refreshToken`, `newPassword`)."""

from typing import Any

import pytest
from pydantic import BaseModel

from services.common.http import validate
from services.users.schemas import (
    ConfirmIn,
    EmailIn,
    LoginIn,
    RefreshIn,
    ResetPasswordIn,
    SignUpIn,
)
from tests.unit.test_schemas import bad_fields

EMAIL = "ana@example.com"
DOMAIN = "@example.com"

# Each model with a valid body, as a client spells it.
MODELS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (SignUpIn, {"email": EMAIL, "password": "Corr3ct-Horse!", "name": "Ana"}),
    (ConfirmIn, {"email": EMAIL, "code": "123456"}),
    (EmailIn, {"email": EMAIL}),
    (LoginIn, {"email": EMAIL, "password": "Corr3ct-Horse!"}),
    (RefreshIn, {"refreshToken": "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIn0.abc"}),
    (ResetPasswordIn, {"email": EMAIL, "code": "123456", "newPassword": "N3w-Battery!"}),
]
IDS = [model.__name__ for model, _ in MODELS]
WITH_EMAIL = [(model, body) for model, body in MODELS if "email" in body]


@pytest.mark.parametrize(("model", "body"), MODELS, ids=IDS)
def test_a_valid_body_is_accepted(model, body):
    validate(model, body)


@pytest.mark.parametrize(("model", "body"), WITH_EMAIL, ids=[m.__name__ for m, _ in WITH_EMAIL])
@pytest.mark.parametrize(
    "spelling", [" Ana@Example.com ", "ANA@EXAMPLE.COM", "\tana@example.com\n", EMAIL]
)
def test_emails_are_trimmed_and_lower_cased(model, body, spelling):
    parsed: Any = validate(model, {**body, "email": spelling})

    assert parsed.email == EMAIL


@pytest.mark.parametrize(("model", "body"), WITH_EMAIL, ids=[m.__name__ for m, _ in WITH_EMAIL])
@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "ana@.example.com",
        "ana@example..com",
        "ana@example.com.",
        "ana@@example.com",
        "ana@exa@mple.com",
        "an a@example.com",
        "ana@exam ple.com",
        "a" * (255 - len(DOMAIN)) + DOMAIN,  # 255 characters
        5,
        None,
        [EMAIL],
        {"email": EMAIL},
    ],
)
def test_a_bad_email_is_named(model, body, email):
    assert set(bad_fields(model, {**body, "email": email})) == {"email"}


def test_an_email_of_254_characters_is_accepted_even_with_surrounding_spaces():
    email = "a" * (254 - len(DOMAIN)) + DOMAIN

    assert validate(EmailIn, {"email": f"  {email}  "}).email == email


# (model, field as the client names it, longest accepted value, first refused value)
LIMITS: list[tuple[type[BaseModel], str, str, str]] = [
    (SignUpIn, "password", "P" * 256, "P" * 257),
    (LoginIn, "password", "P" * 256, "P" * 257),
    (ResetPasswordIn, "newPassword", "P" * 256, "P" * 257),
    (SignUpIn, "name", "n" * 100, "n" * 101),
    (ConfirmIn, "code", "1" * 64, "1" * 65),
    (ResetPasswordIn, "code", "1" * 64, "1" * 65),
    (RefreshIn, "refreshToken", "t" * 8192, "t" * 8193),
]


@pytest.mark.parametrize(
    ("model", "field", "longest", "too_long"),
    LIMITS,
    ids=[f"{model.__name__}.{field}" for model, field, _, _ in LIMITS],
)
def test_values_are_limited_in_length(model, field, longest, too_long):
    body = dict(next(valid for m, valid in MODELS if m is model))

    validate(model, {**body, field: longest})
    assert set(bad_fields(model, {**body, field: too_long})) == {field}


@pytest.mark.parametrize(("model", "body"), MODELS, ids=IDS)
def test_an_unknown_field_is_named(model, body):
    errors = bad_fields(model, {**body, "role": "admin"})

    assert errors == {"role": "unknown field"}


# Every required field, as the client names it.
REQUIRED = {
    SignUpIn: {"email", "password", "name"},
    ConfirmIn: {"email", "code"},
    EmailIn: {"email"},
    LoginIn: {"email", "password"},
    RefreshIn: {"refreshToken"},
    ResetPasswordIn: {"email", "code", "newPassword"},
}


@pytest.mark.parametrize(("model", "body"), MODELS, ids=IDS)
def test_every_missing_field_is_named(model, body):
    assert set(bad_fields(model, {})) == REQUIRED[model]


@pytest.mark.parametrize(("model", "body"), MODELS, ids=IDS)
@pytest.mark.parametrize("value", [None, 5, True, ["x"]])
def test_a_field_of_the_wrong_type_is_named(model, body, value):
    for field in body:
        assert set(bad_fields(model, {**body, field: value})) == {field}


@pytest.mark.parametrize("name", ["", " ", "\t\n ", "\ud800"])
def test_a_blank_or_broken_name_is_named(name):
    body = dict(MODELS[0][1])

    assert set(bad_fields(SignUpIn, {**body, "name": name})) == {"name"}


@pytest.mark.parametrize(
    ("model", "field"),
    [(SignUpIn, "password"), (LoginIn, "password"), (ResetPasswordIn, "newPassword")],
)
@pytest.mark.parametrize("password", ["", "        ", "\ud800Passw0rd!"])
def test_a_blank_or_broken_password_is_named(model, field, password):
    body = dict(next(valid for m, valid in MODELS if m is model))

    assert set(bad_fields(model, {**body, field: password})) == {field}


@pytest.mark.parametrize(("model", "body"), [MODELS[1], MODELS[5]], ids=["confirm", "reset"])
@pytest.mark.parametrize("code", ["", "123 456", " 123456", "123456\n", "\t", "12\u00a034"])
def test_a_code_with_whitespace_is_named(model, body, code):
    assert set(bad_fields(model, {**body, "code": code})) == {"code"}


@pytest.mark.parametrize("token", ["", "abc def", " abc", "abc\n"])
def test_a_refresh_token_with_whitespace_is_named_refresh_token(token):
    assert set(bad_fields(RefreshIn, {"refreshToken": token})) == {"refreshToken"}


@pytest.mark.parametrize(
    ("model", "body", "alias", "python_name"),
    [
        (RefreshIn, MODELS[4][1], "refreshToken", "refresh_token"),
        (ResetPasswordIn, MODELS[5][1], "newPassword", "new_password"),
    ],
)
def test_fields_are_known_only_by_their_json_names(model, body, alias, python_name):
    renamed = {python_name if key == alias else key: value for key, value in body.items()}

    errors = bad_fields(model, renamed)

    assert errors.keys() == {alias, python_name}
    assert errors[python_name] == "unknown field"


def test_passwords_are_kept_exactly_as_sent():
    password = "  Spaced Passw0rd!  "

    assert validate(LoginIn, {"email": EMAIL, "password": password}).password == password
