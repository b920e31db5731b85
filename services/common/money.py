"""Money in JSON: decimals in, decimals through, JSON numbers out."""

from decimal import Decimal
from typing import Any


def json_number(value: Any) -> Any:
    """A `json.dumps` default that writes Decimals as numbers, the same digits as the Decimal.

    Money has at most two decimals and stays far below 2**53, so the shortest float
    representation prints exactly the digits of the Decimal.
    """
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
