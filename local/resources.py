"""Creates the local stack's AWS resources from the same definitions the Pulumi program uses."""

import json
from dataclasses import dataclass
from typing import Any

from services.orders.queue import QueueSpec
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


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str
    dead_letter_url: str


def ensure_queue(sqs: Any, spec: QueueSpec) -> Queue:
    """The queue and its dead-letter queue, with the redrive of the shared definition."""
    dead_letter_url = sqs.create_queue(
        QueueName=spec.dead_letter_name,
        Attributes={
            "MessageRetentionPeriod": str(spec.dead_letter_retention_seconds),
            "SqsManagedSseEnabled": "true",
        },
    )["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": spec.max_receive_count}
    url = sqs.create_queue(
        QueueName=spec.name,
        Attributes={
            "VisibilityTimeout": str(spec.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(spec.retention_seconds),
            "RedrivePolicy": json.dumps(redrive),
            "SqsManagedSseEnabled": "true",
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queue(url, arn, dead_letter_url)


def ensure_secret(secrets: Any, name: str, value: dict[str, str]) -> str:
    """A Secrets Manager secret holding `value`, as RDS keeps its managed master secret."""
    try:
        arn: str = secrets.describe_secret(SecretId=name)["ARN"]
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(value))
    except secrets.exceptions.ResourceNotFoundException:
        arn = secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    return arn


def ensure_state_machine(
    stepfunctions: Any, name: str, definition: dict[str, Any], role: str
) -> str:
    """The Standard state machine with `definition`, created or brought up to date; its ARN."""
    document = json.dumps(definition)
    for machine in stepfunctions.list_state_machines()["stateMachines"]:
        if machine["name"] == name:
            arn: str = machine["stateMachineArn"]
            stepfunctions.update_state_machine(stateMachineArn=arn, definition=document)
            return arn
    created: str = stepfunctions.create_state_machine(
        name=name, definition=document, roleArn=role, type="STANDARD"
    )["stateMachineArn"]
    return created
