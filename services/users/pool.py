"""The Cognito user pool definition shared by the Pulumi program and the local stack."""

from dataclasses import dataclass

from services.routes import ADMIN_GROUP


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int = 8
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True

    def describe(self) -> str:
        return (
            f"at least {self.minimum_length} characters with upper case, lower case, "
            "a digit and a symbol"
        )


PASSWORD_POLICY = PasswordPolicy()
USERNAME_ATTRIBUTES = ("email",)
AUTO_VERIFIED_ATTRIBUTES = ("email",)
GROUPS = {ADMIN_GROUP: "Administrators: may change the catalogue and ship orders."}
CLIENT_AUTH_FLOWS = ("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH")
ACCESS_TOKEN_MINUTES = 60
ID_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 30
