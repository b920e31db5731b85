"""The business metrics the functions emit (CloudWatch embedded metric format, via Powertools).

Plain names shared by the code that emits them and the Pulumi program's dashboard and alarms.
Every metric carries the `service` dimension (POWERTOOLS_SERVICE_NAME: products, users, orders);
the namespace (POWERTOOLS_METRICS_NAMESPACE) is set per stack by the Pulumi program.
"""

from enum import StrEnum


class Metric(StrEnum):
    ORDERS_PLACED = "OrdersPlaced"  # POST /orders accepted (not a replay)
    ORDERS_CONFIRMED = "OrdersConfirmed"  # the workflow confirmed an order
    ORDERS_CANCELLED = "OrdersCancelled"  # with the REASON dimension (a CancelReason)
    PAYMENTS_DECLINED = "PaymentsDeclined"  # the provider refused a charge for good
    COLD_START = "ColdStart"  # Powertools' own, with the function_name dimension


DEFAULT_NAMESPACE = "ecommerce"  # when POWERTOOLS_METRICS_NAMESPACE is not set (tests, local)
REASON = "Reason"  # the dimension of ORDERS_CANCELLED
SERVICE = "service"  # Powertools' default dimension
