"""Request models of the orders routes, checked before any read or write, and the answers."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from services.common.openapi import ANSWER, Timestamp, UuidText, not_null
from services.common.validation import BODY, OPAQUE_PATTERN, PARAMETERS, whole_number
from services.orders.domain import (
    DEFAULT_PAYMENT_TOKEN,
    CancelReason,
    OrderRequest,
    OrderStatus,
)

ProductId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
Quantity = Annotated[int, Field(strict=True, ge=1, le=100), BeforeValidator(whole_number)]
PaymentToken = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=OPAQUE_PATTERN)
]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=OPAQUE_PATTERN)
]


Cursor = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class LineIn(BaseModel):
    model_config = BODY

    product_id: ProductId = Field(alias="productId")
    quantity: Quantity


class PlaceOrderIn(BaseModel):
    model_config = BODY

    items: list[LineIn] = Field(min_length=1, max_length=50)
    payment_token: PaymentToken = Field(default=DEFAULT_PAYMENT_TOKEN, alias="paymentToken")

    @field_validator("items")
    @classmethod
    def _distinct(cls, items: list[LineIn]) -> list[LineIn]:
        ids = [item.product_id.lower() for item in items]
        if len(set(ids)) != len(ids):
            raise PydanticCustomError("duplicate", "each product may appear only once")
        return items

    def request(self) -> OrderRequest:
        lines = tuple((item.product_id.lower(), item.quantity) for item in self.items)
        return OrderRequest(lines, self.payment_token)


class HeadersIn(BaseModel):
    model_config = PARAMETERS

    idempotency_key: IdempotencyKey | None = Field(
        default=None, alias="Idempotency-Key", json_schema_extra=not_null
    )


class OrderListQuery(BaseModel):
    model_config = PARAMETERS

    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = Field(default=None, json_schema_extra=not_null)


ListQuery = OrderListQuery

Amount = Annotated[Decimal, WithJsonSchema({"type": "number", "minimum": 0, "multipleOf": 0.01})]


class OrderLine(BaseModel):
    """A line with the product's name and price as they were when the order was placed."""

    model_config = ANSWER

    product_id: UuidText = Field(alias="productId")
    name: str
    unit_price: Amount = Field(alias="unitPrice")
    quantity: int = Field(ge=1, le=100)
    line_total: Amount = Field(alias="lineTotal")


class Order(BaseModel):
    model_config = ANSWER

    id: UuidText
    user_id: str = Field(alias="userId")
    status: OrderStatus
    status_reason: CancelReason | None = Field(alias="statusReason")
    items: list[OrderLine] = Field(min_length=1, max_length=50)
    total: Amount
    currency: Literal["USD"]
    created_at: Timestamp = Field(alias="createdAt")
    updated_at: Timestamp = Field(alias="updatedAt")


class OrderPage(BaseModel):
    model_config = ANSWER

    items: list[Order]
    next_cursor: str | None = Field(alias="nextCursor")
