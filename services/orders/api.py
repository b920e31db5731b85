"""HTTP routes of the orders service: parse, call the service, shape the answer."""

import logging

from flask import Blueprint, Response, current_app, request

from services.common.auth import require_admin, require_user
from services.common.http import (
    current_principal,
    json_response,
    read_json,
    read_query,
    request_id,
    validate,
)
from services.common.metrics import REASON, Metric
from services.common.observability import correlate, count
from services.common.openapi import operation
from services.orders import service
from services.orders.domain import CancelReason, OrderStatus
from services.orders.schemas import HeadersIn, ListQuery, Order, OrderPage, PlaceOrderIn
from services.orders.wiring import OrdersPorts

PORTS = "orders.ports"
_BY_ID = {"id": "$response.body#/id"}

logger = logging.getLogger(__name__)

bp = Blueprint("orders", __name__)


def _ports() -> OrdersPorts:
    ports: OrdersPorts = current_app.extensions[PORTS]
    return ports


@bp.post("/orders")
@operation(
    "POST /orders",
    body=PlaceOrderIn,
    headers=HeadersIn,
    ok={202: Order},
    problems=[409],
    answer_headers=["Location", "Idempotent-Replayed"],
    # The admin's moves too, so stateful fuzzing chains them from an order just placed.
    links={
        "getOrder": _BY_ID,
        "cancelOrder": _BY_ID,
        "shipOrder": _BY_ID,
        "deliverOrder": _BY_ID,
    },
)
def place_order() -> Response:
    """Place an order; it is fulfilled asynchronously (poll GET /orders/{id})."""
    caller = require_user(current_principal())
    headers = validate(
        HeadersIn, {"Idempotency-Key": request.headers.get("Idempotency-Key")}, where="header"
    )
    body = read_json(PlaceOrderIn)
    ports = _ports()
    placement = service.place_order(
        ports.new_unit_of_work,
        ports.catalogue,
        ports.publisher,
        user_id=caller.user_id,
        request=body.request(),
        idempotency_key=headers.idempotency_key,
        correlation_id=request_id(),
    )
    order_id = placement.response.order_id
    correlate(order_id=order_id)
    answer = {"Location": f"/orders/{order_id}"}
    if placement.replayed:
        answer["Idempotent-Replayed"] = "true"
        logger.info("order %s: a repeated request answered again", order_id)
    else:
        logger.info("order %s placed", order_id)
        count(Metric.ORDERS_PLACED)
    return json_response(placement.response.body, placement.response.status, answer)


@bp.get("/orders")
@operation("GET /orders", query=ListQuery, ok={200: OrderPage}, problems=[400])
def list_orders() -> Response:
    """The caller's orders, newest first."""
    caller = require_user(current_principal())
    query = read_query(ListQuery)
    page = service.list_orders(_ports().new_unit_of_work, caller.user_id, query.limit, query.cursor)
    return json_response(
        {"items": [order.to_json() for order in page.items], "nextCursor": page.next_cursor}
    )


@bp.get("/orders/<id>")
@operation("GET /orders/{id}", ok={200: Order})
def get_order(id: str) -> Response:
    """One of the caller's orders (another user's is 404)."""
    caller = require_user(current_principal())
    return json_response(service.get_order(_ports().new_unit_of_work, caller.user_id, id).to_json())


@bp.post("/orders/<id>/cancel")
@operation("POST /orders/{id}/cancel", ok={200: Order}, problems=[409])
def cancel_order(id: str) -> Response:
    """Cancel a PENDING or CONFIRMED order: its stock comes back, any payment is refunded."""
    caller = require_user(current_principal())
    ports = _ports()
    order = service.cancel_order(ports.steps, ports.publisher, caller.user_id, id, request_id())
    count(Metric.ORDERS_CANCELLED, {REASON: CancelReason.CANCELLED_BY_CUSTOMER.value})
    return json_response(order.to_json())


@bp.post("/orders/<id>/ship")
@operation(
    "POST /orders/{id}/ship",
    ok={200: Order},
    problems=[409],
    links={"deliverOrder": _BY_ID, "getOrder": _BY_ID},
)
def ship_order(id: str) -> Response:
    """Mark a CONFIRMED order SHIPPED (admins)."""
    require_admin(current_principal())
    order = service.advance_order(_ports().new_unit_of_work, id, OrderStatus.SHIPPED)
    return json_response(order.to_json())


@bp.post("/orders/<id>/deliver")
@operation("POST /orders/{id}/deliver", ok={200: Order}, problems=[409])
def deliver_order(id: str) -> Response:
    """Mark a SHIPPED order DELIVERED (admins)."""
    require_admin(current_principal())
    order = service.advance_order(_ports().new_unit_of_work, id, OrderStatus.DELIVERED)
    return json_response(order.to_json())
