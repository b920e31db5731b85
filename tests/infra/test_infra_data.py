"""The products table and the user pool follow their specs in services/ and the config."""

from typing import Any

import pulumi

from infra.auth import UserPool, UserPoolArgs
from infra.catalog import Catalog, CatalogArgs
from services.products.table import PRODUCTS_TABLE
from services.users import pool
from tests.infra.mocking import MockStack, pulumi_test


@pulumi_test
def test_table_keys_and_indexes_come_from_the_spec(program: dict[str, Any]) -> Any:
    table = program["catalog"].table

    def check(args: list[Any]) -> None:
        billing, hash_key, range_key, attributes, indexes = args
        assert billing == "PAY_PER_REQUEST"
        assert (hash_key, range_key) == (PRODUCTS_TABLE.partition_key, PRODUCTS_TABLE.sort_key)
        assert [(a["name"], a["type"]) for a in attributes] == [
            (name, "S") for name in PRODUCTS_TABLE.attributes
        ]
        declared = {
            index["name"]: (
                [(k["attribute_name"], k["key_type"]) for k in index["key_schemas"]],
                index["projection_type"],
            )
            for index in indexes
        }
        assert declared == {
            index.name: ([(index.partition_key, "HASH"), (index.sort_key, "RANGE")], "ALL")
            for index in PRODUCTS_TABLE.indexes
        }

    return pulumi.Output.all(
        table.billing_mode,
        table.hash_key,
        table.range_key,
        table.attributes,
        table.global_secondary_indexes,
    ).apply(check)


@pulumi_test
def test_table_is_recoverable_encrypted_and_protected_as_configured(
    program: dict[str, Any], stack: MockStack
) -> Any:
    table = program["catalog"].table

    def check(args: list[Any]) -> None:
        pitr, sse, protected = args
        assert pitr["enabled"] is True
        assert sse["enabled"] is True
        assert protected is stack.overrides["deletionProtection"] is True

    return pulumi.Output.all(
        table.point_in_time_recovery,
        table.server_side_encryption,
        table.deletion_protection_enabled,
    ).apply(check)


@pulumi_test
def test_table_deletion_protection_can_be_off() -> Any:
    catalog = Catalog("catalog-unprotected", CatalogArgs(deletion_protection=False))
    return catalog.table.deletion_protection_enabled.apply(lambda protected: _is_false(protected))


def _is_false(value: Any) -> None:
    assert value is False


@pulumi_test
def test_user_pool_signs_in_by_verified_email_with_the_password_policy(
    program: dict[str, Any],
) -> Any:
    user_pool = program["auth"].pool
    policy = pool.PASSWORD_POLICY

    def check(args: list[Any]) -> None:
        usernames, verified, password, template, recovery, mfa, protection = args
        assert usernames == list(pool.USERNAME_ATTRIBUTES)
        assert verified == list(pool.AUTO_VERIFIED_ATTRIBUTES)
        cognito_fields = [name for name in vars(policy) if name.startswith(("minimum", "require"))]
        assert cognito_fields
        assert {key: password[key] for key in cognito_fields} == {
            key: getattr(policy, key) for key in cognito_fields
        }
        assert template["default_email_option"] == "CONFIRM_WITH_CODE"
        assert "{####}" in template["email_message"]
        assert [m["name"] for m in recovery["recovery_mechanisms"]] == ["verified_email"]
        assert mfa == "OFF"
        assert protection == "ACTIVE"  # deletionProtection is true in the test stack

    return pulumi.Output.all(
        user_pool.username_attributes,
        user_pool.auto_verified_attributes,
        user_pool.password_policy,
        user_pool.verification_message_template,
        user_pool.account_recovery_setting,
        user_pool.mfa_configuration,
        user_pool.deletion_protection,
    ).apply(check)


@pulumi_test
def test_user_pool_deletion_protection_can_be_off() -> Any:
    auth = UserPool("users-unprotected", UserPoolArgs(deletion_protection=False))
    return auth.pool.deletion_protection.apply(lambda protection: _is_inactive(protection))


def _is_inactive(value: Any) -> None:
    assert value == "INACTIVE"


@pulumi_test
def test_app_client_is_public_hides_user_existence_and_has_the_flows(
    program: dict[str, Any],
) -> Any:
    auth = program["auth"]
    client = auth.client

    def check(args: list[Any]) -> None:
        pool_id, client_pool, secret, flows, hides, revocation, lifetimes, units = args
        assert client_pool == pool_id
        assert secret is False
        assert sorted(flows) == sorted(pool.CLIENT_AUTH_FLOWS)
        assert hides == "ENABLED"
        assert revocation is True
        assert lifetimes == [
            pool.ACCESS_TOKEN_MINUTES,
            pool.ID_TOKEN_MINUTES,
            pool.REFRESH_TOKEN_DAYS,
        ]
        assert units == {"access_token": "minutes", "id_token": "minutes", "refresh_token": "days"}

    return pulumi.Output.all(
        auth.user_pool_id,
        client.user_pool_id,
        client.generate_secret,
        client.explicit_auth_flows,
        client.prevent_user_existence_errors,
        client.enable_token_revocation,
        pulumi.Output.all(
            client.access_token_validity, client.id_token_validity, client.refresh_token_validity
        ),
        client.token_validity_units,
    ).apply(check)


@pulumi_test
def test_groups_are_the_ones_pool_py_declares(program: dict[str, Any]) -> Any:
    auth = program["auth"]
    groups = [
        pulumi.Output.all(g.name, g.description, g.user_pool_id) for g in auth.groups.values()
    ]

    def check(args: list[Any]) -> None:
        pool_id, rows = args
        assert {name: description for name, description, _ in rows} == pool.GROUPS
        assert {group_pool for _, _, group_pool in rows} == {pool_id}

    return pulumi.Output.all(auth.user_pool_id, pulumi.Output.all(*groups)).apply(check)
