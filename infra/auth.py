"""The Cognito user pool, its app client and groups, declared from services/users/pool.py."""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from services.users import pool


@dataclass
class UserPoolArgs:
    deletion_protection: bool


MINUTES, DAYS = "minutes", "days"  # the units of the token lifetimes in pool.py


class UserPool(pulumi.ComponentResource):
    """Email sign-up and sign-in, verified by emailed codes, for the API's JWT authorizer."""

    def __init__(
        self, name: str, args: UserPoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:auth:UserPool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = pool.PASSWORD_POLICY
        self.pool = aws.cognito.UserPool(
            f"{name}-pool",
            username_attributes=list(pool.USERNAME_ATTRIBUTES),
            username_configuration=aws.cognito.UserPoolUsernameConfigurationArgs(
                case_sensitive=False
            ),
            auto_verified_attributes=list(pool.AUTO_VERIFIED_ATTRIBUTES),
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                minimum_length=policy.minimum_length,
                require_uppercase=policy.require_uppercase,
                require_lowercase=policy.require_lowercase,
                require_numbers=policy.require_numbers,
                require_symbols=policy.require_symbols,
            ),
            verification_message_template=aws.cognito.UserPoolVerificationMessageTemplateArgs(
                default_email_option="CONFIRM_WITH_CODE",
                email_subject=pool.VERIFICATION_SUBJECT,
                email_message=pool.VERIFICATION_MESSAGE,
            ),
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                        name="verified_email", priority=1
                    )
                ]
            ),
            # Keep the old address usable until a changed one is verified.
            user_attribute_update_settings=aws.cognito.UserPoolUserAttributeUpdateSettingsArgs(
                attributes_require_verification_before_updates=list(pool.AUTO_VERIFIED_ATTRIBUTES)
            ),
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                allow_admin_create_user_only=False
            ),
            mfa_configuration="OFF",
            deletion_protection="ACTIVE" if args.deletion_protection else "INACTIVE",
            opts=child,
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-client",
            user_pool_id=self.pool.id,
            generate_secret=False,  # public clients (browsers, apps) cannot keep one
            explicit_auth_flows=list(pool.CLIENT_AUTH_FLOWS),
            access_token_validity=pool.ACCESS_TOKEN_MINUTES,
            id_token_validity=pool.ID_TOKEN_MINUTES,
            refresh_token_validity=pool.REFRESH_TOKEN_DAYS,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                access_token=MINUTES, id_token=MINUTES, refresh_token=DAYS
            ),
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            opts=child,
        )
        self.groups = {
            group: aws.cognito.UserGroup(
                f"{name}-group-{group}",
                name=group,
                description=description,
                user_pool_id=self.pool.id,
                opts=child,
            )
            for group, description in pool.GROUPS.items()
        }
        self.user_pool_id = self.pool.id
        self.user_pool_arn = self.pool.arn
        self.client_id = self.client.id
        self.register_outputs(
            {
                "userPoolId": self.user_pool_id,
                "userPoolArn": self.user_pool_arn,
                "clientId": self.client_id,
            }
        )
