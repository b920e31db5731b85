"""Prices from the products table: one BatchGetItem for a whole order, however many lines."""

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from services.common.dynamodb import from_item, to_item, translated
from services.common.errors import Throttled
from services.orders.domain import PricedProduct
from services.orders.ports import Catalogue
from services.products import table

_ATTEMPTS = 4  # DynamoDB may leave keys unprocessed under load; retry those with backoff


class DynamoDBCatalogue(Catalogue):
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def prices(self, product_ids: Sequence[str]) -> dict[str, PricedProduct]:
        keys = [to_item(table.product_key(pid)) for pid in dict.fromkeys(product_ids)]
        request: dict[str, Any] = {
            self._table: {
                "Keys": keys,
                "ProjectionExpression": "#id, #name, price",
                "ExpressionAttributeNames": {"#id": "id", "#name": "name"},
                # The price a customer pays is the one just set, not a replica's.
                "ConsistentRead": True,
            }
        }
        found: dict[str, PricedProduct] = {}
        for attempt in range(_ATTEMPTS):
            with translated():
                response = self._client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                data = from_item(item)
                found[data["id"]] = PricedProduct(data["id"], data["name"], Decimal(data["price"]))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.05 * 2**attempt)
        raise Throttled("The catalogue is busy; retry shortly.")
