"""Logs, metrics and traces for every Lambda entry, with Powertools for AWS Lambda.

- **Logs** are JSON. Every module logs through the standard `logging.getLogger(__name__)`; the
  `services` logger writes through Powertools' formatter, so each line carries the keys of the
  invocation: `correlation_id` (the API request id, carried in the queue message and the
  workflow's input to the worker and every step), `user_id`, `order_id`, the function's
  `function_request_id` and `cold_start`. Ids only: no e-mail, token or body is ever logged.
- **Metrics** use the embedded metric format (a JSON line CloudWatch turns into a metric), one
  line per data point, in the stack's namespace (POWERTOOLS_METRICS_NAMESPACE) with the
  `service` dimension (POWERTOOLS_SERVICE_NAME). Names are in `services/common/metrics.py`.
- **Traces**: Lambda's active tracing records each invocation (and a cold start's
  initialization) in X-Ray; Powertools' Tracer, active on Lambda only, adds the calls of the
  libraries it patches: boto3's (botocore) in every function, and psycopg2's in those that open
  the orders database (`trace_calls`, from their wiring). Patching every library X-Ray knows
  imported requests, sqlite3, httplib and psycopg2 into every function, some 55 ms of each cold
  start; a handler subsegment of our own duplicated Lambda's invocation segment at about 30 µs
  a request, traced or not (docs/performance.md).
"""

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.base import SingleMetric

from services.common.metrics import DEFAULT_NAMESPACE, SERVICE, Metric

Handler = Callable[[Any, Any], Any]
KeysOf = Callable[[Any], Mapping[str, str | None]]

logger = Logger()  # service name, level and sampling from the POWERTOOLS_* variables
tracer = Tracer(patch_modules=("botocore",))  # patched only when tracing is on (on Lambda)
_services = logging.getLogger("services")
_services.handlers = [logger.registered_handler]
_services.setLevel(logger.log_level)
_services.propagate = False
# botocore logs every request and response body at DEBUG (passwords, tokens, the database secret).
# Lambda sets the root logger to the function's log level, so a stack at DEBUG would leak them.
for _library in ("botocore", "boto3"):
    if logging.getLogger(_library).level < logging.INFO:  # NOTSET, or DEBUG; a stricter one stays
        logging.getLogger(_library).setLevel(logging.INFO)


def correlate(**keys: str | None) -> None:
    """Add correlation keys to every log line of the rest of this invocation (None: skipped)."""
    logger.thread_safe_append_keys(**{name: value for name, value in keys.items() if value})


def trace_calls(*libraries: str) -> None:
    """Record the calls of these libraries (X-Ray's names: "psycopg2") in the traces too."""
    tracer.patch(libraries)


# `single_metric` builds a SingleMetric for each point, and building one lists every unit and
# resolution CloudWatch knows: about 10 of a point's 25 us. One per namespace serves every point
# here; the lock keeps threads (the local stack's pollers) off each other's point.
_points: dict[str, SingleMetric] = {}
_emitting = threading.Lock()
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def count(metric: Metric, dimensions: Mapping[str, str] | None = None, value: float = 1) -> None:
    """Emit one data point of a business metric, with the service and any extra dimensions."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    with _emitting:
        point = _points.get(namespace)
        if point is None:
            point = _points[namespace] = SingleMetric(namespace=namespace)
        point.metric_set.clear()
        point.dimension_set.clear()
        point.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)
        point.add_dimension(SERVICE, os.environ.get("POWERTOOLS_SERVICE_NAME", "ecommerce"))
        for name, dimension in (dimensions or {}).items():
            point.add_dimension(name, dimension)
        line = point.serialize_metric_set()
    print(_COMPACT.encode(line))  # as single_metric prints it: one EMF line on stdout


def observed(handle: Handler, keys_of: KeysOf) -> Handler:
    """A Lambda entry with its invocation's correlation keys on every log line and a ColdStart
    metric on its container's first event. Its X-Ray segment is Lambda's own."""
    cold = [True]

    def entry(event: Any, context: Any) -> Any:
        cold_start, cold[0] = cold[0], False
        logger.thread_safe_clear_keys()
        try:
            keys = dict(keys_of(event))
        except (AttributeError, KeyError, TypeError):
            keys = {}  # an odd event is the handler's to refuse; its logs go uncorrelated
        correlate(
            function_request_id=getattr(context, "aws_request_id", None),
            cold_start=str(cold_start).lower(),
            **keys,
        )
        if cold_start:
            function = getattr(context, "function_name", None) or "unknown"
            count(Metric.COLD_START, {"function_name": function})
        try:
            return handle(event, context)
        finally:
            logger.thread_safe_clear_keys()

    return entry
