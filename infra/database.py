"""The orders database: Aurora PostgreSQL Serverless v2 in the private subnets, optionally behind
RDS Proxy.

The master password is generated and kept by RDS in Secrets Manager (the cluster's managed
secret). The program never sees it: functions get the secret's ARN and read it at run time.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.functions import Statement, policy_document

ENGINE = aws.rds.EngineType.AURORA_POSTGRESQL  # "aurora-postgresql"
# 16.3 and later can scale to 0 ACUs and pause (as can 15.7+, 14.12+ and 13.15+).
ENGINE_VERSION = "16.6"
INSTANCE_CLASS = "db.serverless"
DATABASE_NAME = "ecommerce"
MASTER_USERNAME = "ecommerce_admin"  # the password lives only in the managed secret
PORT = 5432
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue",)  # what every reader of the secret gets
PROXY_ENGINE_FAMILY = "POSTGRESQL"
PROXY_IDLE_CLIENT_TIMEOUT_SECONDS = 900  # Lambda keeps a connection for a container's lifetime
RDS_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    },
    sort_keys=True,
)


@dataclass
class DatabaseArgs:
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    min_capacity: float
    max_capacity: float
    seconds_until_auto_pause: int
    backup_retention_days: int
    deletion_protection: bool
    proxy_security_group_id: pulumi.Input[str] | None = None  # given: RDS Proxy in front


def final_snapshot_name(name: str) -> str:
    """A snapshot identifier unique to this stack: letters, digits, single hyphens."""
    raw = f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}-final"
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", raw)).strip("-")[:255]


def _secret_arn(secrets: Sequence[aws.rds.outputs.ClusterMasterUserSecret]) -> str:
    if not secrets or not secrets[0].secret_arn:
        raise ValueError("the cluster reports no managed master secret")
    return secrets[0].secret_arn


class Database(pulumi.ComponentResource):
    """One encrypted, private Serverless v2 writer; its endpoint, port, name and secret ARN."""

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:database:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        paused_when_idle = args.min_capacity == 0

        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=list(args.subnet_ids),
            description="Private subnets of the orders database",
            opts=child,
        )
        self.cluster = aws.rds.Cluster(
            f"{name}-cluster",
            engine=ENGINE,
            engine_mode="provisioned",  # Serverless v2 runs as provisioned with db.serverless
            engine_version=ENGINE_VERSION,
            database_name=DATABASE_NAME,
            master_username=MASTER_USERNAME,
            manage_master_user_password=True,
            port=PORT,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[args.security_group_id],
            storage_encrypted=True,
            iam_database_authentication_enabled=False,
            serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=args.min_capacity,
                max_capacity=args.max_capacity,
                # AWS keeps this setting only while the minimum is 0; sent otherwise it would
                # show as a change on every preview.
                seconds_until_auto_pause=(
                    args.seconds_until_auto_pause if paused_when_idle else None
                ),
            ),
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            # A protected (production) database leaves a final snapshot when it is deleted.
            skip_final_snapshot=not args.deletion_protection,
            final_snapshot_identifier=(
                final_snapshot_name(name) if args.deletion_protection else None
            ),
            opts=child,
        )
        self.instance = aws.rds.ClusterInstance(
            f"{name}-instance",
            cluster_identifier=self.cluster.id,
            instance_class=INSTANCE_CLASS,
            engine=ENGINE,
            engine_version=self.cluster.engine_version,
            db_subnet_group_name=self.subnet_group.name,
            publicly_accessible=False,
            opts=child,
        )
        # The cluster's managed secret: its ARN only, never its value.
        self.secret_arn: pulumi.Output[str] = self.cluster.master_user_secrets.apply(_secret_arn)
        # What must exist before anything connects through `endpoint`.
        self.ready: list[pulumi.Resource] = [self.instance]
        self.proxy: aws.rds.Proxy | None = None
        if args.proxy_security_group_id is not None:
            self._proxy(name, args, args.proxy_security_group_id)
        self.endpoint: pulumi.Output[str] = (
            self.proxy.endpoint if self.proxy is not None else self.cluster.endpoint
        )
        self.port = PORT
        self.database_name = DATABASE_NAME
        self.cluster_identifier = self.cluster.cluster_identifier  # its metrics' dimension
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "clusterIdentifier": self.cluster_identifier,
                "port": self.port,
                "databaseName": self.database_name,
                "secretArn": self.secret_arn,
                "clusterArn": self.cluster.arn,
            }
        )

    def _proxy(self, name: str, args: DatabaseArgs, security_group_id: pulumi.Input[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.proxy_role = aws.iam.Role(
            f"{name}-proxy-role",
            assume_role_policy=RDS_TRUST_POLICY,
            description="RDS Proxy of the orders database: reads the master secret",
            opts=child,
        )
        # The secret is encrypted with the AWS managed key aws/secretsmanager, whose key policy
        # already lets Secrets Manager decrypt for callers of this account: no kms:Decrypt here.
        self.proxy_policy = aws.iam.RolePolicy(
            f"{name}-proxy-policy",
            role=self.proxy_role.id,
            policy=policy_document([Statement(SECRET_READ_ACTIONS, (self.secret_arn,))]),
            opts=child,
        )
        self.proxy = aws.rds.Proxy(
            f"{name}-proxy",
            engine_family=PROXY_ENGINE_FAMILY,
            role_arn=self.proxy_role.arn,
            vpc_subnet_ids=list(args.subnet_ids),
            vpc_security_group_ids=[security_group_id],
            require_tls=True,
            idle_client_timeout=PROXY_IDLE_CLIENT_TIMEOUT_SECONDS,
            debug_logging=False,  # it would log SQL text, and with it personal data
            auths=[
                aws.rds.ProxyAuthArgs(
                    auth_scheme="SECRETS",
                    secret_arn=self.secret_arn,
                    iam_auth="DISABLED",
                    client_password_auth_type="POSTGRES_SCRAM_SHA_256",  # noqa: S106 (a scheme)
                    description="The cluster's managed master secret",
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.proxy_policy]),
        )
        self.proxy_target_group = aws.rds.ProxyDefaultTargetGroup(
            f"{name}-proxy-targets",
            db_proxy_name=self.proxy.name,
            opts=child,
        )
        self.proxy_target = aws.rds.ProxyTarget(
            f"{name}-proxy-target",
            db_proxy_name=self.proxy.name,
            target_group_name=self.proxy_target_group.name,
            db_cluster_identifier=self.cluster.cluster_identifier,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.instance]),
        )
        self.ready.append(self.proxy_target)
