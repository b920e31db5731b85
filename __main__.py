"""The stack: read the config, build the components, export what clients need."""

from typing import Any

import pulumi
import pulumi_aws as aws

from infra import packaging
from infra.api import HttpApi, HttpApiArgs
from infra.auth import UserPool, UserPoolArgs
from infra.catalog import Catalog, CatalogArgs
from infra.config import StackConfig
from infra.database import PORT, SECRET_READ_ACTIONS, Database, DatabaseArgs
from infra.fulfilment import StateMachine, StateMachineArgs
from infra.functions import (
    DependencyLayer,
    DependencyLayerArgs,
    FunctionRuntime,
    FunctionVpc,
    LambdaFunction,
    LambdaFunctionArgs,
    Statement,
)
from infra.messaging import CONSUME_ACTIONS, Queue, QueueArgs, QueueTrigger, QueueTriggerArgs
from infra.migrations import SchemaMigration, SchemaMigrationArgs
from infra.monitoring import (
    AlarmTopic,
    AlarmTopicArgs,
    Monitoring,
    MonitoringArgs,
    steps_raising_outcomes,
)
from infra.network import Network, NetworkArgs
from infra.schedule import Schedule, ScheduleArgs
from services.common import settings
from services.orders.queue import MIGRATIONS_DIR, ORDERS_QUEUE, RELAY_SCHEDULE
from services.orders.workflow import STEP_FUNCTIONS, TASK_TIMEOUT_SECONDS
from services.routes import FUNCTIONS, LAYERS, ROUTES

# The products function reads and writes single items, and lists only through the indexes.
PRODUCT_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
# Orders read the prices of all their lines in one request.
ORDER_PRODUCT_ACTIONS = ("dynamodb:BatchGetItem",)
# What the fulfilment adapters do on the products table. A transaction is authorized by the
# actions it holds (its Puts and Updates), so TransactWriteItems needs no action of its own.
RESERVE_STOCK_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
RELEASE_STOCK_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
CHARGE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
REFUND_ACTIONS = ("dynamodb:UpdateItem",)
# The customer's cancel gives the stock back and refunds at once, as the workflow does.
ORDER_CANCEL_ACTIONS = tuple(sorted({*RELEASE_STOCK_ACTIONS, *REFUND_ACTIONS}))
# A step's function gives up before its task does, even after a cold start's init (up to 10 s),
# so no step still runs, and may still commit, while the workflow compensates for it.
STEP_TIMEOUT_SECONDS = TASK_TIMEOUT_SECONDS - 10
# AWS recommends a queue visibility timeout of six times the consuming function's timeout, so that
# a batch is not handed out again while it is still being worked on, even after throttling.
WORKER_TIMEOUT_SECONDS = ORDERS_QUEUE.visibility_timeout_seconds // 6
# A paused database takes about 15 s to resume, and a migration may take longer than an API call.
MIGRATE_TIMEOUT_SECONDS = 300
# A message the worker keeps failing reaches the dead-letter queue after this long; one older
# than that is one the worker is not receiving at all.
MAX_MESSAGE_AGE_SECONDS = ORDERS_QUEUE.max_receive_count * ORDERS_QUEUE.visibility_timeout_seconds
# One namespace per stack, so stacks sharing an account never mix their business metrics.
METRICS_NAMESPACE = f"{pulumi.get_project()}/{pulumi.get_stack()}"

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
    metrics_namespace=METRICS_NAMESPACE,
    log_level=config.log_level,
)
# Bytecode for the runtime's Python, if this machine has that Python (see infra/packaging.py).
compiler = packaging.find_compiler(config.python_version)
if compiler is None:
    pulumi.log.warn(
        f"no Python {config.python_version} here: the functions are deployed as sources alone, and "
        "every cold start compiles them (bytecode would cut its CPU to about 0.45x). Install "
        f"python{config.python_version} or run Pulumi from a {config.python_version} virtualenv."
    )
layers = {
    name: DependencyLayer(
        name,
        DependencyLayerArgs(
            archive=packaging.build_layer(
                packaging.LAYER_REQUIREMENTS[name],
                config.lambda_architecture,
                config.python_version,
                packaging.BUILD_DIR,
                constraints_file=packaging.CONSTRAINTS,
                compiler=compiler,
            ),
            runtime=config.lambda_runtime,
            architecture=config.lambda_architecture,
            description=spec.description,
        ),
        opts=opts,
    )
    for name, spec in LAYERS.items()
}


functions: dict[str, LambdaFunction] = {}  # every function built, for the alarms and dashboard


# Invoked by schedule or on deploy, through the unpublished function: no SnapStart to pay for.
WITHOUT_SNAP_START = frozenset({"relay", "migrate"})


def function(name: str, **wiring: Any) -> LambdaFunction:
    """A function of the route table: its own code archive, the shared runtime, its layers."""
    spec = FUNCTIONS[name]
    code = packaging.build_function_code(spec, packaging.BUILD_DIR, compiler=compiler)
    arguments = LambdaFunctionArgs(
        handler=spec.handler,
        code=code,
        runtime=runtime,
        service=spec.service,
        layers=[layers[layer].arn for layer in spec.layers],
        snap_start=config.snap_start and name not in WITHOUT_SNAP_START,
        **wiring,
    )
    functions[name] = LambdaFunction(name, arguments, opts=opts)
    return functions[name]


auth = UserPool("users", UserPoolArgs(deletion_protection=config.deletion_protection), opts=opts)
catalog = Catalog("catalog", CatalogArgs(deletion_protection=config.deletion_protection), opts=opts)

products = function(
    "products",
    environment={settings.PRODUCTS_TABLE: catalog.table_name},
    statements=[
        Statement(PRODUCT_ITEM_ACTIONS, (catalog.table_arn,)),
        Statement(("dynamodb:Query",), (catalog.index_arns,)),
    ],
    description="Products API: catalogue reads for anyone, changes for admins",
)

users = function(
    "users",
    environment={settings.USER_POOL_CLIENT_ID: auth.client_id},
    # Only the app client's public operations (sign-up, sign-in, the caller's own profile
    # with their token), which Cognito authorizes by client id and token, not by IAM.
    statements=[],
    description="Users API: sign-up, email verification, sign-in, tokens and profile",
)

network = Network(
    "network",
    NetworkArgs(
        region=config.region, egress=config.vpc_egress, database_port=PORT, proxy=config.rds_proxy
    ),
    opts=opts,
)
database = Database(
    "database",
    DatabaseArgs(
        subnet_ids=network.private_subnet_ids,
        security_group_id=network.database_security_group_id,
        proxy_security_group_id=network.proxy_security_group_id,
        min_capacity=config.database_min_capacity,
        max_capacity=config.database_max_capacity,
        seconds_until_auto_pause=config.database_seconds_until_auto_pause,
        backup_retention_days=config.database_backup_retention_days,
        deletion_protection=config.deletion_protection,
    ),
    opts=opts,
)
orders_queue = Queue(ORDERS_QUEUE.name, QueueArgs(spec=ORDERS_QUEUE), opts=opts)

# What every database-bound function shares: the private subnets, and the database's address and
# the ARN of its secret (never the secret itself), read with the secret's one action.
in_vpc = FunctionVpc(
    subnet_ids=network.private_subnet_ids,
    security_group_ids=[network.functions_security_group_id],
)
database_environment: dict[str, pulumi.Input[str]] = {
    settings.DATABASE_HOST: database.endpoint,
    settings.DATABASE_PORT: str(database.port),
    settings.DATABASE_NAME: database.database_name,
    settings.DATABASE_SECRET_ARN: database.secret_arn,
}
read_database_secret = Statement(SECRET_READ_ACTIONS, (database.secret_arn,))
send_to_orders_queue = Statement(("sqs:SendMessage",), (orders_queue.arn,))

orders = function(
    "orders",
    environment={
        settings.PRODUCTS_TABLE: catalog.table_name,
        settings.ORDERS_QUEUE_URL: orders_queue.url,
        **database_environment,
    },
    statements=[
        Statement(ORDER_PRODUCT_ACTIONS, (catalog.table_arn,)),
        Statement(ORDER_CANCEL_ACTIONS, (catalog.table_arn,)),
        send_to_orders_queue,
        read_database_secret,
    ],
    vpc=in_vpc,
    # One database connection per instance: the cap keeps them below what the database holds.
    reserved_concurrency=config.orders_concurrency,
    description="Orders API: place, list, read and cancel the caller's own orders",
)

relay = function(
    "relay",
    environment={settings.ORDERS_QUEUE_URL: orders_queue.url, **database_environment},
    statements=[send_to_orders_queue, read_database_secret],
    vpc=in_vpc,
    reserved_concurrency=1,  # one relay at a time, holding one connection
    description="Outbox relay: sends the order messages the API could not send",
)
relay_schedule = Schedule(
    "relay-schedule",
    ScheduleArgs(
        function=relay, expression=RELAY_SCHEDULE, description="Runs the orders outbox relay"
    ),
    opts=opts,
)

migrate = function(
    "migrate",
    environment=database_environment,
    statements=[read_database_secret],
    vpc=in_vpc,
    reserved_concurrency=1,  # migrations never run concurrently
    timeout_seconds=MIGRATE_TIMEOUT_SECONDS,
    description="Applies the orders database's SQL migrations; invoked on deploy",
)
migration = SchemaMigration(
    "migrations",
    SchemaMigrationArgs(
        function_name=migrate.name,
        migrations_digest=packaging.tree_digest(packaging.REPO_ROOT / MIGRATIONS_DIR),
        depends_on=[*database.ready, *network.ready],
    ),
    opts=opts,
)


def database_step(name: str, table_actions: tuple[str, ...], description: str) -> LambdaFunction:
    """A fulfilment step that reads or writes the order in PostgreSQL: in the VPC, capped, with the
    database secret, and the products table only when it has `table_actions` to do there."""
    table = {settings.PRODUCTS_TABLE: catalog.table_name} if table_actions else {}
    on_table = [Statement(table_actions, (catalog.table_arn,))] if table_actions else []
    return function(
        name,
        environment={**table, **database_environment},
        statements=[*on_table, read_database_secret],
        vpc=in_vpc,
        reserved_concurrency=config.fulfilment_concurrency,
        timeout_seconds=STEP_TIMEOUT_SECONDS,
        description=description,
    )


def table_step(name: str, table_actions: tuple[str, ...], description: str) -> LambdaFunction:
    """A fulfilment step on the products table alone: outside the VPC, no database secret."""
    return function(
        name,
        environment={settings.PRODUCTS_TABLE: catalog.table_name},
        statements=[Statement(table_actions, (catalog.table_arn,))],
        timeout_seconds=STEP_TIMEOUT_SECONDS,
        description=description,
    )


# Keyed by the workflow's steps; DATABASE_STEPS (infra/fulfilment.py) names the database-bound ones.
steps = {
    "reserve": database_step(
        STEP_FUNCTIONS["reserve"],
        RESERVE_STOCK_ACTIONS,
        "Fulfilment: reserves the stock of every line of a pending order, or of none",
    ),
    "pay": database_step(
        STEP_FUNCTIONS["pay"], CHARGE_ACTIONS, "Fulfilment: charges a pending order once"
    ),
    "confirm": database_step(
        STEP_FUNCTIONS["confirm"], (), "Fulfilment: moves a pending order to CONFIRMED"
    ),
    "cancel": database_step(
        STEP_FUNCTIONS["cancel"], (), "Fulfilment: cancels an order with the workflow's reason"
    ),
    "release": table_step(
        STEP_FUNCTIONS["release"],
        RELEASE_STOCK_ACTIONS,
        "Fulfilment: gives an order's reserved stock back, at most once",
    ),
    "refund": table_step(
        STEP_FUNCTIONS["refund"],
        REFUND_ACTIONS,
        "Fulfilment: refunds an order's charge, at most once",
    ),
}
fulfilment = StateMachine(
    "fulfilment",
    StateMachineArgs(
        step_functions={
            step: lambda_function.target_arn for step, lambda_function in steps.items()
        },
        log_retention_days=config.log_retention_days,
    ),
    opts=opts,
)

order_worker = function(
    "order-worker",
    environment={settings.STATE_MACHINE_ARN: fulfilment.arn},
    statements=[
        Statement(CONSUME_ACTIONS, (orders_queue.arn,)),
        Statement(("states:StartExecution",), (fulfilment.arn,)),
    ],
    timeout_seconds=WORKER_TIMEOUT_SECONDS,
    description="Order worker: starts one fulfilment run per order message",
)
order_worker_trigger = QueueTrigger(
    "order-worker-trigger",
    QueueTriggerArgs(
        queue_arn=orders_queue.arn,
        function_arn=order_worker.target_arn,
        batch_size=config.worker_batch_size,
        maximum_concurrency=config.worker_max_concurrency,
    ),
    opts=opts,
)

api = HttpApi(
    "http",
    HttpApiArgs(
        routes=ROUTES,
        functions={"products": products, "users": users, "orders": orders},
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

alarm_topic = AlarmTopic(
    "alarms", AlarmTopicArgs(region=config.region, email=config.alarm_email), opts=opts
)
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        topic_arn=alarm_topic.arn,
        region=config.region,
        metrics_namespace=METRICS_NAMESPACE,
        functions=functions,
        outcome_error_functions={STEP_FUNCTIONS[step] for step in steps_raising_outcomes()},
        api_id=api.api_id,
        api_stage=api.stage_name,
        queue_name=orders_queue.name,
        dead_letter_queue_name=orders_queue.dead_letter_name,
        max_message_age_seconds=MAX_MESSAGE_AGE_SECONDS,
        state_machine_arn=fulfilment.arn,
        table_name=catalog.table_name,
        table_indexes=catalog.index_names,
        cluster_identifier=database.cluster_identifier,
        api_5xx_rate_percent=config.alarm_api_5xx_rate_percent,
        api_latency_p99_ms=config.alarm_api_latency_p99_ms,
    ),
    opts=opts,
)

pulumi.export("apiUrl", api.url)
pulumi.export("userPoolId", auth.user_pool_id)
pulumi.export("userPoolClientId", auth.client_id)
pulumi.export("productsTable", catalog.table_name)
pulumi.export("ordersQueueUrl", orders_queue.url)
pulumi.export("ordersDeadLetterQueueUrl", orders_queue.dead_letter_url)
pulumi.export("databaseEndpoint", database.endpoint)
pulumi.export("stateMachineArn", fulfilment.arn)
pulumi.export("alarmTopicArn", alarm_topic.arn)
pulumi.export("dashboardName", monitoring.dashboard_name)
