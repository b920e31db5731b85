"""The stack's CloudWatch dashboard, as the JSON body CloudWatch takes: plain data, no Pulumi.

Built once every name and ARN it shows is known, from the metrics AWS publishes (under the
dimensions it publishes them with) and the business metrics of services/common/metrics.py.
"""

from dataclasses import dataclass
from typing import Any

from services.common.metrics import REASON, SERVICE, Metric
from services.orders.domain import CancelReason
from services.routes import FUNCTIONS

ORDERS_SERVICE = FUNCTIONS["orders"].service  # the service that emits the order metrics
PERIOD = 60
WIDTH = 24  # CloudWatch's dashboard grid
HEIGHT = 6
RUNBOOK = "docs/runbook.md"
VISIBLE = "ApproximateNumberOfMessagesVisible"
OLDEST = "ApproximateAgeOfOldestMessage"
INDEX = "GlobalSecondaryIndexName"
EXECUTION_METRICS = (
    "ExecutionsStarted",
    "ExecutionsSucceeded",
    "ExecutionsFailed",
    "ExecutionsAborted",
    "ExecutionsTimedOut",
    "ExecutionThrottled",
)


@dataclass(frozen=True)
class WatchedFunction:
    label: str  # the route table's name: products, reserve-stock ...
    name: str  # the deployed function's name
    service: str


@dataclass(frozen=True)
class DashboardTargets:
    """What the dashboard shows, every name and ARN resolved."""

    region: str
    namespace: str  # of the business metrics
    api_id: str
    api_stage: str
    functions: list[WatchedFunction]
    queue: str
    dead_letter_queue: str
    state_machine_arn: str
    table: str
    table_indexes: list[str]
    cluster: str
    alarm_arns: list[str]


class _Graphs:
    """Time series widgets of one region, summed per minute unless told otherwise."""

    def __init__(self, region: str) -> None:
        self._region = region

    def __call__(self, title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "properties": {
                "title": title,
                "region": self._region,
                "view": "timeSeries",
                "stacked": False,
                "stat": stat,
                "period": PERIOD,
                "metrics": metrics,
            },
        }


def dashboard_body(targets: DashboardTargets) -> dict[str, Any]:
    """The dashboard: alarms, then the API, the functions, fulfilment, the data stores, orders."""
    graph = _Graphs(targets.region)
    rows = [
        [
            _text(
                f"What each alarm means and what to do: `{RUNBOOK}` in the repository. "
                f"Business metrics: namespace `{targets.namespace}`."
            )
        ],
        [_alarms(targets.alarm_arns)],
        _api_row(graph, targets),
        [
            graph("Function errors", _per_function(targets, "Errors")),
            graph("Function throttles", _per_function(targets, "Throttles")),
            graph("Function duration p99 (ms)", _per_function(targets, "Duration"), stat="p99"),
        ],
        [
            graph(
                "Function concurrency (max)",
                _per_function(targets, "ConcurrentExecutions"),
                stat="Maximum",
            ),
            graph("Cold starts", _cold_starts(targets)),
            graph(
                "Fulfilment runs",
                [
                    _metric("AWS/States", metric, {"StateMachineArn": targets.state_machine_arn})
                    for metric in EXECUTION_METRICS
                ],
            ),
        ],
        _queues_and_table_row(graph, targets),
        _business_row(graph, targets),
    ]
    return {"widgets": _laid_out(rows)}


def _api_row(graph: _Graphs, targets: DashboardTargets) -> list[dict[str, Any]]:
    api = {"ApiId": targets.api_id, "Stage": targets.api_stage}
    latency = [
        _metric("AWS/ApiGateway", "Latency", api, stat=stat, label=stat) for stat in ("p50", "p99")
    ]
    return [
        graph("API requests", [_metric("AWS/ApiGateway", "Count", api, label="requests")]),
        graph(
            "API 4xx and 5xx",
            [_metric("AWS/ApiGateway", code, api, label=code) for code in ("4xx", "5xx")],
        ),
        graph(
            "API latency (ms)",
            [
                *latency,
                _metric(
                    "AWS/ApiGateway", "IntegrationLatency", api, stat="p99", label="integration p99"
                ),
            ],
        ),
    ]


def _queues_and_table_row(graph: _Graphs, targets: DashboardTargets) -> list[dict[str, Any]]:
    queue = {"QueueName": targets.queue}
    tables = [{"TableName": targets.table}] + [
        {"TableName": targets.table, "GlobalSecondaryIndexName": index}
        for index in targets.table_indexes
    ]
    return [
        graph(
            "Orders queue",
            [
                _metric("AWS/SQS", VISIBLE, queue, label="waiting"),
                _metric("AWS/SQS", OLDEST, queue, label="oldest (s)", yAxis="right"),
            ],
            stat="Maximum",
        ),
        graph(
            "Dead-letter queue",
            [
                _metric(
                    "AWS/SQS",
                    VISIBLE,
                    {"QueueName": targets.dead_letter_queue},
                    label="dead letters",
                )
            ],
            stat="Maximum",
        ),
        graph(
            "Products table throttles",
            [
                _metric("AWS/DynamoDB", metric, table, label=f"{table.get(INDEX, 'table')} {kind}")
                for table in tables
                for metric, kind in (
                    ("ReadThrottleEvents", "reads"),
                    ("WriteThrottleEvents", "writes"),
                )
            ],
        ),
    ]


def _business_row(graph: _Graphs, targets: DashboardTargets) -> list[dict[str, Any]]:
    cluster = {"DBClusterIdentifier": targets.cluster}
    orders = {SERVICE: ORDERS_SERVICE}
    counted = (Metric.ORDERS_PLACED, Metric.ORDERS_CONFIRMED, Metric.PAYMENTS_DECLINED)
    return [
        graph(
            "Orders database",
            [
                _metric("AWS/RDS", "ServerlessDatabaseCapacity", cluster, label="capacity (ACU)"),
                _metric(
                    "AWS/RDS", "DatabaseConnections", cluster, label="connections", yAxis="right"
                ),
            ],
            stat="Maximum",
        ),
        graph(
            "Orders",
            [_metric(targets.namespace, metric, orders, label=metric) for metric in counted],
        ),
        graph(
            "Cancelled orders by reason",
            [
                _metric(
                    targets.namespace,
                    Metric.ORDERS_CANCELLED,
                    {**orders, REASON: reason.value},
                    label=reason.value,
                )
                for reason in CancelReason
            ],
        ),
    ]


def _cold_starts(targets: DashboardTargets) -> list[list[Any]]:
    """Powertools' ColdStart carries the function_name dimension beside the service."""
    return [
        _metric(
            targets.namespace,
            Metric.COLD_START,
            {SERVICE: function.service, "function_name": function.name},
            label=function.label,
        )
        for function in targets.functions
    ]


def _metric(namespace: str, name: str, dimensions: dict[str, str], **options: str) -> list[Any]:
    """One line of a graph: namespace, metric name, dimension names and values, options."""
    pairs = [part for dimension in dimensions.items() for part in dimension]
    return [namespace, str(name), *pairs, *([{**options}] if options else [])]


def _text(markdown: str) -> dict[str, Any]:
    return {"type": "text", "height": 2, "properties": {"markdown": markdown}}


def _alarms(arns: list[str]) -> dict[str, Any]:
    return {
        "type": "alarm",
        "height": 4,
        "properties": {"title": "Alarms", "alarms": arns, "sortBy": "stateUpdatedTimestamp"},
    }


def _per_function(targets: DashboardTargets, metric: str) -> list[list[Any]]:
    return [
        _metric("AWS/Lambda", metric, {"FunctionName": function.name}, label=function.label)
        for function in targets.functions
    ]


def _laid_out(rows: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each row's widgets side by side in equal widths, rows one under the other."""
    widgets, y = [], 0
    for row in rows:
        width = WIDTH // len(row)
        height = max(widget.get("height", HEIGHT) for widget in row)
        for column, widget in enumerate(row):
            widgets.append(
                {**widget, "x": column * width, "y": y, "width": width, "height": height}
            )
        y += height
    return widgets
