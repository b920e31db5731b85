"""The orders database: private, encrypted, its password only in the managed secret, sized and
kept as configured, behind RDS Proxy when asked; its migrations applied when they change."""

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra import packaging
from infra.database import Database, DatabaseArgs
from infra.migrations import SchemaMigration
from infra.network import Network
from services.orders.queue import MIGRATIONS_DIR
from tests.infra.mocking import Declared, MockStack, pulumi_test

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET_READERS = {
    "orders-policy",
    "relay-policy",
    "migrate-policy",
    "database-proxy-policy",
    # The fulfilment steps that read or write the order; release and refund never do.
    "reserve-stock-policy",
    "take-payment-policy",
    "confirm-order-policy",
    "cancel-order-policy",
}


@pulumi_test
def test_database_is_reachable_only_inside_the_private_subnets(program: dict[str, Any]) -> Any:
    database: Database = program["database"]
    network: Network = program["network"]
    cluster, instance = database.cluster, database.instance

    def check(args: list[Any]) -> None:
        public, instance_group, cluster_group, group, group_subnets, private, sgs, db_sg = args
        assert public is False
        assert instance_group == cluster_group == group
        assert group_subnets == private
        assert sgs == [db_sg]

    return pulumi.Output.all(
        instance.publicly_accessible,
        instance.db_subnet_group_name,
        cluster.db_subnet_group_name,
        database.subnet_group.name,
        database.subnet_group.subnet_ids,
        pulumi.Output.all(*network.private_subnet_ids),
        cluster.vpc_security_group_ids,
        network.database_group.id,
    ).apply(check)


@pulumi_test
def test_storage_is_encrypted_and_the_password_is_only_in_the_managed_secret(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(_: Any) -> None:
        (cluster,) = declared.of_type("aws:rds/cluster:Cluster")
        assert cluster.inputs["storageEncrypted"] is True
        assert cluster.inputs["manageMasterUserPassword"] is True
        assert cluster.inputs["engine"] == "aurora-postgresql"
        assert cluster.inputs["engineMode"] == "provisioned"
        assert cluster.inputs["engineVersion"].startswith("16.")  # 16.3+ can pause at 0 ACU
        assert cluster.inputs["iamDatabaseAuthenticationEnabled"] is False
        (instance,) = declared.of_type("aws:rds/clusterInstance:ClusterInstance")
        assert instance.inputs["instanceClass"] == "db.serverless"
        for resource in declared.created:
            assert not {"masterPassword", "masterPasswordWo", "password"} & set(resource.inputs)
            assert not resource.typ.startswith("aws:secretsmanager/"), resource.name

    return program["database"].cluster.id.apply(check)


@pulumi_test
def test_capacity_backups_and_protection_follow_the_config(
    program: dict[str, Any], stack: MockStack
) -> Any:
    cluster = program["database"].cluster

    def check(args: list[Any]) -> None:
        scaling, retention, protected, skip_final, final_snapshot = args
        assert scaling["min_capacity"] == float(stack.overrides["databaseMinCapacity"])
        assert scaling["max_capacity"] == float(stack.overrides["databaseMaxCapacity"])
        # A minimum above 0 never pauses, and AWS would not keep the setting.
        assert scaling.get("seconds_until_auto_pause") is None
        assert retention == stack.overrides["databaseBackupRetentionDays"]
        assert protected is stack.overrides["deletionProtection"] is True
        assert skip_final is False
        assert final_snapshot == "serverless-ecommerce-test-database-final"

    return pulumi.Output.all(
        cluster.serverlessv2_scaling_configuration,
        cluster.backup_retention_period,
        cluster.deletion_protection,
        cluster.skip_final_snapshot,
        cluster.final_snapshot_identifier,
    ).apply(check)


@pulumi_test
def test_a_database_at_zero_acus_pauses_after_the_configured_idle_time(
    program: dict[str, Any],
) -> Any:
    network: Network = program["network"]
    database = Database(
        "db-paused",
        DatabaseArgs(
            subnet_ids=network.private_subnet_ids,
            security_group_id=network.database_security_group_id,
            min_capacity=0,
            max_capacity=2,
            seconds_until_auto_pause=900,
            backup_retention_days=1,
            deletion_protection=False,
        ),
    )
    assert database.proxy is None
    cluster = database.cluster

    def check(args: list[Any]) -> None:
        scaling, protected, skip_final, final_snapshot, endpoint, cluster_endpoint = args
        assert scaling == {"min_capacity": 0, "max_capacity": 2, "seconds_until_auto_pause": 900}
        assert (protected, skip_final, final_snapshot) == (False, True, None)
        assert endpoint == cluster_endpoint  # no proxy: the functions reach the cluster itself

    return pulumi.Output.all(
        cluster.serverlessv2_scaling_configuration,
        cluster.deletion_protection,
        cluster.skip_final_snapshot,
        cluster.final_snapshot_identifier,
        database.endpoint,
        cluster.endpoint,
    ).apply(check)


@pulumi_test
def test_proxy_requires_tls_and_reads_only_the_cluster_secret(program: dict[str, Any]) -> Any:
    database: Database = program["database"]
    network: Network = program["network"]
    proxy = database.proxy
    assert proxy is not None  # rdsProxy is on in the test stack

    def check(args: list[Any]) -> None:
        tls, family, auths, sgs, subnets, proxy_sg, private, secret_arn, *rest = args
        policy, target_cluster, cluster_id, target_group, endpoint, proxy_endpoint = rest
        assert (tls, family) == (True, "POSTGRESQL")
        (auth,) = auths
        assert (auth["auth_scheme"], auth["iam_auth"]) == ("SECRETS", "DISABLED")
        assert auth["secret_arn"] == secret_arn
        assert (sgs, subnets) == ([proxy_sg], private)
        assert json.loads(policy)["Statement"] == [
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [secret_arn],
            }
        ]
        assert (target_cluster, target_group) == (cluster_id, "default")
        assert endpoint == proxy_endpoint

    return pulumi.Output.all(
        proxy.require_tls,
        proxy.engine_family,
        proxy.auths,
        proxy.vpc_security_group_ids,
        proxy.vpc_subnet_ids,
        network.proxy_group.id if network.proxy_group else None,
        pulumi.Output.all(*network.private_subnet_ids),
        database.secret_arn,
        database.proxy_policy.policy,
        database.proxy_target.db_cluster_identifier,
        database.cluster.cluster_identifier,
        database.proxy_target.target_group_name,
        database.endpoint,
        proxy.endpoint,
    ).apply(check)


@pulumi_test
def test_only_the_database_functions_and_the_proxy_may_read_the_secret(
    program: dict[str, Any], declared: Declared
) -> Any:
    def check(secret_arn: str) -> None:
        readers = set()
        for policy in declared.of_type(ROLE_POLICY):
            statements = json.loads(policy.inputs["policy"])["Statement"]
            for statement in statements:
                if any(a.startswith("secretsmanager:") for a in statement["Action"]):
                    assert statement["Action"] == ["secretsmanager:GetSecretValue"], policy.name
                    assert statement["Resource"] == [secret_arn], policy.name
                    readers.add(policy.name)
            if "secretsmanager" in policy.inputs["policy"]:
                assert policy.name in readers
        assert readers == SECRET_READERS

    return program["database"].secret_arn.apply(check)


@pulumi_test
def test_migrations_run_on_deploy_once_the_database_is_up(
    program: dict[str, Any], declared: Declared
) -> Any:
    migration: SchemaMigration = program["migration"]
    database: Database = program["database"]
    invocation = migration.invocation
    digest = packaging.tree_digest(packaging.REPO_ROOT / MIGRATIONS_DIR)
    assert database.proxy_target is not None

    def check(args: list[Any]) -> None:
        function, event, triggers, migrate_name, instance_urn, target_urn = args
        assert function == migrate_name
        assert json.loads(event) == {"action": "migrate"}
        assert triggers == {"migrations": digest}
        dependencies = declared.dependencies[
            ("aws:lambda/invocation:Invocation", "migrations-invocation")
        ]
        assert {instance_urn, target_urn} <= set(dependencies)

    return pulumi.Output.all(
        invocation.function_name,
        invocation.input,
        invocation.triggers,
        program["migrate"].name,
        database.instance.urn,
        database.proxy_target.urn,
    ).apply(check)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_migrations_digest_changes_when_a_migration_does(tmp_path: Path) -> None:
    migrations = _write(
        tmp_path / "migrations",
        {"0001_orders.sql": "CREATE TABLE orders ();\n", "0002_items.sql": "CREATE TABLE i ();\n"},
    )
    before = packaging.tree_digest(migrations)

    _write(migrations, {"__pycache__/x.cpython-311.pyc": "bytecode"})  # not a migration
    assert packaging.tree_digest(migrations) == before
    _write(migrations, {"0002_items.sql": "CREATE TABLE items ();\n"})
    edited = packaging.tree_digest(migrations)
    assert edited != before
    _write(migrations, {"0003_more.sql": "SELECT 1;\n"})
    added = packaging.tree_digest(migrations)
    assert added not in {before, edited}
    (migrations / "0003_more.sql").rename(migrations / "0004_more.sql")
    assert packaging.tree_digest(migrations) not in {before, edited, added}


def test_migrations_digest_is_the_same_for_the_same_files_anywhere(tmp_path: Path) -> None:
    files = {"0001_orders.sql": "CREATE TABLE orders ();\n", "0002_items.sql": "SELECT 1;\n"}

    first = packaging.tree_digest(_write(tmp_path / "a", files))
    second = packaging.tree_digest(_write(tmp_path / "b", dict(reversed(files.items()))))

    assert first == second


def test_migrations_digest_needs_the_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        packaging.tree_digest(tmp_path / "missing")
