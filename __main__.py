"""The stack: read the config, build the components, export what clients need."""

import pulumi
import pulumi_aws as aws

from infra import packaging
from infra.api import HttpApi, HttpApiArgs
from infra.auth import UserPool, UserPoolArgs
from infra.catalog import Catalog, CatalogArgs
from infra.config import StackConfig
from infra.functions import (
    DependencyLayer,
    DependencyLayerArgs,
    FunctionRuntime,
    LambdaFunction,
    LambdaFunctionArgs,
    Statement,
)
from services.common import settings
from services.routes import FUNCTIONS, ROUTES

# The products function reads and writes single items, and lists only through the indexes.
PRODUCT_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)

config = StackConfig.load()
provider = aws.Provider(
    "aws",
    region=config.region,
    default_tags=aws.ProviderDefaultTagsArgs(
        tags={
            "project": pulumi.get_project(),
            "stack": pulumi.get_stack(),
            "environment": config.environment,
        }
    ),
)
opts = pulumi.ResourceOptions(providers=[provider])  # inherited by every component's children

runtime = FunctionRuntime(
    runtime=config.lambda_runtime,
    architecture=config.lambda_architecture,
    memory_mb=config.lambda_memory_mb,
    timeout_seconds=config.lambda_timeout_seconds,
    log_retention_days=config.log_retention_days,
)
layer = DependencyLayer(
    "dependencies",
    DependencyLayerArgs(
        archive=packaging.build_layer(
            packaging.LAYER_REQUIREMENTS,
            config.lambda_architecture,
            config.python_version,
            packaging.BUILD_DIR,
            constraints_file=packaging.CONSTRAINTS,
        ),
        runtime=config.lambda_runtime,
        architecture=config.lambda_architecture,
    ),
    opts=opts,
)

auth = UserPool("users", UserPoolArgs(deletion_protection=config.deletion_protection), opts=opts)
catalog = Catalog("catalog", CatalogArgs(deletion_protection=config.deletion_protection), opts=opts)

products = LambdaFunction(
    "products",
    LambdaFunctionArgs(
        handler=FUNCTIONS["products"].handler,
        code=packaging.build_function_code(FUNCTIONS["products"], packaging.BUILD_DIR),
        runtime=runtime,
        layers=[layer.arn],
        environment={settings.PRODUCTS_TABLE: catalog.table_name},
        statements=[
            Statement(PRODUCT_ITEM_ACTIONS, (catalog.table_arn,)),
            Statement(("dynamodb:Query",), (catalog.index_arns,)),
        ],
        description="Products API: catalogue reads for anyone, changes for admins",
    ),
    opts=opts,
)

users = LambdaFunction(
    "users",
    LambdaFunctionArgs(
        handler=FUNCTIONS["users"].handler,
        code=packaging.build_function_code(FUNCTIONS["users"], packaging.BUILD_DIR),
        runtime=runtime,
        layers=[layer.arn],
        environment={settings.USER_POOL_CLIENT_ID: auth.client_id},
        # Only the app client's public operations (sign-up, sign-in, the caller's own profile
        # with their token), which Cognito authorizes by client id and token, not by IAM.
        statements=[],
        description="Users API: sign-up, email verification, sign-in, tokens and profile",
    ),
    opts=opts,
)

api = HttpApi(
    "http",
    HttpApiArgs(
        routes=ROUTES,
        functions={"products": products, "users": users},
        user_pool_id=auth.user_pool_id,
        user_pool_client_id=auth.client_id,
        region=config.region,
        cors_origins=config.cors_origins,
        throttle_burst_limit=config.throttle_burst_limit,
        throttle_rate_limit=config.throttle_rate_limit,
        log_retention_days=config.log_retention_days,
    ),
    opts=opts,
)

pulumi.export("apiUrl", api.url)
pulumi.export("userPoolId", auth.user_pool_id)
pulumi.export("userPoolClientId", auth.client_id)
pulumi.export("productsTable", catalog.table_name)
