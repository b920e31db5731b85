"""Lambda entry of the users function."""

from services.common.startup import importing

with importing():
    from services.common.lambda_entry import http_handler
    from services.users.app import create_app

handler = http_handler(create_app)
