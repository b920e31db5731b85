"""Lambda entry of the orders API function."""

from services.common.lambda_entry import http_handler
from services.orders.app import create_app

handler = http_handler(create_app)
