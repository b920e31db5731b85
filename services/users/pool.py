"""The Cognito user pool definition shared by the Pulumi program and the local stack."""

from dataclasses import dataclass, field
from string import ascii_lowercase, ascii_uppercase, digits

from services.routes import ADMIN_GROUP


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int = 8
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True
    # The characters Cognito counts as symbols.
    symbols: frozenset[str] = field(default=frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- "))

    def describe(self) -> str:
        return (
            f"at least {self.minimum_length} characters with upper case, lower case, "
            "a digit and a symbol"
        )

    def is_met_by(self, password: str) -> bool:
        """Whether Cognito would accept `password` under this policy."""
        checks = (
            len(password) >= self.minimum_length,
            not self.require_uppercase or any(char in ascii_uppercase for char in password),
            not self.require_lowercase or any(char in ascii_lowercase for char in password),
            not self.require_numbers or any(char in digits for char in password),
            not self.require_symbols or any(char in self.symbols for char in password),
        )
        return all(checks)


PASSWORD_POLICY = PasswordPolicy()
USERNAME_ATTRIBUTES = ("email",)
AUTO_VERIFIED_ATTRIBUTES = ("email",)
GROUPS = {ADMIN_GROUP: "Administrators: may change the catalogue and ship orders."}
CLIENT_AUTH_FLOWS = ("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH")
ACCESS_TOKEN_MINUTES = 60
ID_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 30
VERIFICATION_SUBJECT = "Your verification code"
VERIFICATION_MESSAGE = "Your verification code is {####}."  # Cognito fills in {####}
