"""The products repository on DynamoDB: one call per operation, versions enforced by conditions."""

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import Any, NoReturn

from botocore.exceptions import ClientError

from services.common.dynamodb import from_item, to_item, translated
from services.products import table
from services.products.domain import (
    InvalidCursor,
    Product,
    ProductFields,
    ProductNotFound,
    StaleVersion,
)
from services.products.ports import Page, ProductRepository

_CURSOR_PATTERN = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    re.ASCII,
)


def _product(item: dict[str, Any]) -> Product:
    data = from_item(item)
    return Product(
        id=data["id"],
        name=data["name"],
        price=Decimal(data["price"]),
        stock=int(data["stock"]),
        category=data["category"],
        description=data.get("description"),
        created_at=data["createdAt"],
        updated_at=data["updatedAt"],
        version=int(data["version"]),
    )


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class DynamoDBProductRepository(ProductRepository):
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, product: Product) -> None:
        item = {
            **table.product_key(product.id),
            table.ENTITY: table.PRODUCT_ENTITY,
            table.LIST_KEY: table.list_key(product.created_at, product.id),
            "id": product.id,
            "name": product.name,
            "price": product.price,
            "stock": product.stock,
            "category": product.category,
            "createdAt": product.created_at,
            "updatedAt": product.updated_at,
            "version": product.version,
        }
        if product.description is not None:
            item["description"] = product.description
        with translated():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def get(self, product_id: str) -> Product:
        with translated():
            found = self._client.get_item(
                TableName=self._table,
                Key=to_item(table.product_key(product_id)),
                ConsistentRead=True,
            )
        if "Item" not in found:
            raise ProductNotFound(product_id)
        return _product(found["Item"])

    def update(
        self, product_id: str, fields: ProductFields, expected_version: int | None, now: str
    ) -> Product:
        names = {"#version": "version", "#updatedAt": "updatedAt"}
        values: dict[str, Any] = {":one": 1, ":now": now}
        sets = ["#version = #version + :one", "#updatedAt = :now"]
        removes = []
        for position, (field, value) in enumerate(fields.items()):
            names[f"#f{position}"] = field
            if value is None:
                removes.append(f"#f{position}")
            else:
                values[f":f{position}"] = value
                sets.append(f"#f{position} = :f{position}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition, condition_values = self._precondition(expected_version)
        try:
            with translated():
                updated = self._client.update_item(
                    TableName=self._table,
                    Key=to_item(table.product_key(product_id)),
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_item({**values, **condition_values}),
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            self._raise_precondition(exc, product_id, expected_version)
        return _product(updated["Attributes"])

    def delete(self, product_id: str, expected_version: int | None) -> None:
        condition, condition_values = self._precondition(expected_version)
        extra: dict[str, Any] = {}
        if condition_values:  # DynamoDB refuses empty expression maps
            extra["ExpressionAttributeNames"] = {"#version": "version"}
            extra["ExpressionAttributeValues"] = to_item(condition_values)
        try:
            with translated():
                self._client.delete_item(
                    TableName=self._table,
                    Key=to_item(table.product_key(product_id)),
                    ConditionExpression=condition,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **extra,
                )
        except ClientError as exc:
            self._raise_precondition(exc, product_id, expected_version)

    def list(self, category: str | None, limit: int, cursor: str | None) -> Page:
        index = table.BY_CATEGORY if category is not None else table.BY_ENTITY
        partition = category if category is not None else table.PRODUCT_ENTITY
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index.name,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": index.partition_key},
            "ExpressionAttributeValues": to_item({":p": partition}),
            "ScanIndexForward": False,
            # One more than asked tells whether another page exists, without an empty last page.
            "Limit": limit + 1,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = to_item(self._decode_cursor(cursor, index, partition))
        with translated():
            found = self._client.query(**request)
        products = [_product(item) for item in found.get("Items", [])]
        more = len(products) > limit or (len(products) == limit and "LastEvaluatedKey" in found)
        products = products[:limit]
        next_cursor = self._encode_cursor(products[-1], partition) if more and products else None
        return Page(products, next_cursor)

    @staticmethod
    def _precondition(expected_version: int | None) -> tuple[str, dict[str, Any]]:
        if expected_version is None:
            return "attribute_exists(pk)", {}
        return "attribute_exists(pk) AND #version = :expected", {":expected": expected_version}

    @staticmethod
    def _raise_precondition(exc: ClientError, product_id: str, expected: int | None) -> NoReturn:
        if not _condition_failed(exc):
            raise exc
        if "Item" not in exc.response or expected is None:
            raise ProductNotFound(product_id) from exc
        raise StaleVersion(product_id, expected) from exc

    @staticmethod
    def _encode_cursor(last: Product, partition: str) -> str:
        position = {"p": partition, "k": table.list_key(last.created_at, last.id)}
        raw = json.dumps(position, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str, index: table.Index, partition: str) -> dict[str, str]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            position = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor() from exc
        if not isinstance(position, dict) or set(position) != {"p", "k"}:
            raise InvalidCursor()
        key = position["k"]
        if (
            position["p"] != partition
            or not isinstance(key, str)
            or not _CURSOR_PATTERN.fullmatch(key)
        ):
            raise InvalidCursor()
        product_id = key.split("#", 1)[1]
        start = {index.partition_key: partition, table.LIST_KEY: key}
        return {**table.product_key(product_id), **start}
