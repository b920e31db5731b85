"""The password policy the service checks before Cognito does, with Cognito's own rules."""

import pytest

from services.users.pool import PASSWORD_POLICY

# https://docs.aws.amazon.com/cognito/latest/developerguide/managing-users-passwords.html
COGNITO_SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- "
STRONG = "Passw0rd!"


@pytest.mark.parametrize(
    ("password", "met"),
    [
        (STRONG, True),
        ("passw0rd!", False),  # no upper case
        ("PASSW0RD!", False),  # no lower case
        ("Password!", False),  # no digit
        ("Passw0rdd", False),  # no symbol
        ("Pa0!xyz", False),  # 7 characters
        ("Pa0!xyzw", True),  # 8 characters
        ("", False),
        ("Ünïcode1!", False),  # Ü is upper case, but not to Cognito
        ("PASSWöRD1!", False),  # ö is lower case, but not to Cognito
        ("Password\u0661!", False),  # an Arabic-Indic digit is not a digit to Cognito
        ("Password\uff11!", False),  # nor a full-width one
        ("Password1€", False),  # € is not one of Cognito's symbols
        ("Password1§", False),
        ("Ünïcode1!A", True),  # other letters do no harm once the classes are met
        ("Pass word1", True),  # a space is one of Cognito's symbols
        ("A" * 200 + "a1!", True),
    ],
)
def test_the_policy_decides_as_cognito_does(password, met):
    assert PASSWORD_POLICY.is_met_by(password) is met


@pytest.mark.parametrize("symbol", list(COGNITO_SYMBOLS))
def test_every_cognito_symbol_counts_as_a_symbol(symbol):
    assert PASSWORD_POLICY.is_met_by(f"Passw0rd{symbol}")


def test_the_symbol_set_is_exactly_cognito_s():
    assert frozenset(COGNITO_SYMBOLS) == PASSWORD_POLICY.symbols


def test_the_description_names_the_length_and_every_class():
    text = PASSWORD_POLICY.describe()

    for part in ("8 characters", "upper case", "lower case", "digit", "symbol"):
        assert part in text
