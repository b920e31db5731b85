"""The catalogue's DynamoDB table, declared from the TableSpec the adapter and local stack use."""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from services.products.table import PRODUCTS_TABLE, TableSpec


@dataclass
class CatalogArgs:
    deletion_protection: bool
    spec: TableSpec = PRODUCTS_TABLE


def _key_schema(
    partition_key: str, sort_key: str
) -> list[aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs]:
    return [
        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
            attribute_name=partition_key, key_type="HASH"
        ),
        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
            attribute_name=sort_key, key_type="RANGE"
        ),
    ]


class Catalog(pulumi.ComponentResource):
    """The products table: on-demand, encrypted, point-in-time recoverable."""

    def __init__(
        self, name: str, args: CatalogArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecommerce:catalog:Catalog", name, None, opts)
        spec = args.spec
        self.table = aws.dynamodb.Table(
            f"{name}-products",
            billing_mode="PAY_PER_REQUEST",
            hash_key=spec.partition_key,
            range_key=spec.sort_key,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=attribute, type="S")
                for attribute in spec.attributes
            ],
            global_secondary_indexes=[
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=index.name,
                    key_schemas=_key_schema(index.partition_key, index.sort_key),
                    projection_type="ALL",
                )
                for index in spec.indexes
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=args.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.table_name = self.table.name
        self.table_arn = self.table.arn
        # Queries on any of the table's indexes; the base table ARN does not cover them.
        self.index_arns = self.table.arn.apply(lambda arn: f"{arn}/index/*")
        self.index_names = [index.name for index in spec.indexes]
        self.register_outputs(
            {"tableName": self.table_name, "tableArn": self.table_arn, "indexArns": self.index_arns}
        )
