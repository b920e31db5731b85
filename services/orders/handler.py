"""Lambda entry of the orders API function."""

from typing import Any

from services.common.startup import importing

with importing():
    from services.common.lambda_entry import api_keys, http_handler
    from services.orders.app import create_app


def order_keys(event: dict[str, Any]) -> dict[str, str | None]:
    """The request's keys, and the order's id on /orders/{id} routes."""
    return {**api_keys(event), "order_id": (event.get("pathParameters") or {}).get("id")}


handler = http_handler(create_app, order_keys)
