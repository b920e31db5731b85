"""What the functions write for CloudWatch: one EMF line per data point, and JSON log lines."""

import json
import logging
import re
from typing import Any

import pytest

from services.common import observability
from services.common.metrics import REASON, Metric


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ecommerce/test")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "orders")


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for line in lines:
        assert isinstance(line["_aws"].pop("Timestamp"), int)
    return lines


def emf(name: str, dimensions: dict[str, str], value: float = 1.0) -> dict[str, Any]:
    return {
        "_aws": {
            "CloudWatchMetrics": [
                {
                    "Namespace": "ecommerce/test",
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ]
        },
        **dimensions,
        name: [value],
    }


def test_each_count_is_one_emf_line_with_the_service_and_its_own_dimensions(stack, capsys):
    observability.count(Metric.ORDERS_CANCELLED, {REASON: "CANCELLED_BY_CUSTOMER"})
    observability.count(Metric.ORDERS_PLACED)
    observability.count(Metric.COLD_START, {"function_name": "orders-api"}, value=2)

    assert emitted(capsys) == [
        emf("OrdersCancelled", {"service": "orders", "Reason": "CANCELLED_BY_CUSTOMER"}),
        emf("OrdersPlaced", {"service": "orders"}),  # the previous line's Reason is gone
        emf("ColdStart", {"service": "orders", "function_name": "orders-api"}, 2.0),
    ]


def test_the_namespace_and_service_are_read_when_counting(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ecommerce/other")
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)

    observability.count(Metric.ORDERS_CONFIRMED)

    [line] = emitted(capsys)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ecommerce/other"
    assert line["service"] == "ecommerce"


def test_a_log_line_carries_the_invocations_keys_in_a_fixed_order():
    record = logging.LogRecord(
        "services.orders.api", logging.INFO, __file__, 7, "order %s placed", ("o-1",), None
    )
    record.funcName = "place_order"
    observability.logger.thread_safe_clear_keys()
    observability.correlate(function_request_id="req-1", cold_start="false", user_id="u-1")
    observability.correlate(correlation_id=None, order_id="o-1")  # None: left out
    try:
        line = json.loads(observability.logger.registered_formatter.format(record))
    finally:
        observability.logger.thread_safe_clear_keys()

    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}", line["timestamp"])
    assert list(line.items()) == [
        ("level", "INFO"),
        ("location", "place_order:7"),
        ("message", "order o-1 placed"),
        ("timestamp", line["timestamp"]),
        ("service", observability.logger.service),
        ("function_request_id", "req-1"),
        ("cold_start", "false"),
        ("user_id", "u-1"),
        ("order_id", "o-1"),
    ]
