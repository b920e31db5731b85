"""Creates the local stack's AWS resources from the same definitions the Pulumi program uses."""

from dataclasses import dataclass
from typing import Any

from services.products.table import PRODUCTS_TABLE
from services.users import pool


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    client_id: str


def ensure_products_table(dynamodb: Any, name: str) -> None:
    if name in dynamodb.list_tables()["TableNames"]:
        return
    spec = PRODUCTS_TABLE
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": spec.partition_key, "KeyType": "HASH"},
            {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": "S"} for attribute in spec.attributes
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ],
        SSESpecification={"Enabled": True},
    )


def ensure_user_pool(cognito: Any, name: str) -> UserPool:
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((found["Id"] for found in pools if found["Name"] == name), None)
    if pool_id is None:
        policy = pool.PASSWORD_POLICY
        pool_id = cognito.create_user_pool(
            PoolName=name,
            UsernameAttributes=list(pool.USERNAME_ATTRIBUTES),
            AutoVerifiedAttributes=list(pool.AUTO_VERIFIED_ATTRIBUTES),
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": policy.minimum_length,
                    "RequireUppercase": policy.require_uppercase,
                    "RequireLowercase": policy.require_lowercase,
                    "RequireNumbers": policy.require_numbers,
                    "RequireSymbols": policy.require_symbols,
                }
            },
            AccountRecoverySetting={
                "RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]
            },
        )["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
    client_id = next(
        (found["ClientId"] for found in clients["UserPoolClients"] if found["ClientName"] == name),
        None,
    )
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=name,
            GenerateSecret=False,
            ExplicitAuthFlows=list(pool.CLIENT_AUTH_FLOWS),
            PreventUserExistenceErrors="ENABLED",
        )["UserPoolClient"]["ClientId"]
    existing = {group["GroupName"] for group in cognito.list_groups(UserPoolId=pool_id)["Groups"]}
    for group, description in pool.GROUPS.items():
        if group not in existing:
            cognito.create_group(UserPoolId=pool_id, GroupName=group, Description=description)
    return UserPool(pool_id, client_id)
