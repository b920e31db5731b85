"""Lambda entry of the products function."""

from services.common.startup import importing

with importing():
    from services.common.lambda_entry import http_handler
    from services.products.app import create_app

handler = http_handler(create_app)
