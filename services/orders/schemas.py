"""Request models of the orders routes: checked before any read or write."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from services.orders.domain import DEFAULT_PAYMENT_TOKEN, OrderRequest

ProductId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
Quantity = Annotated[int, Field(strict=True, ge=1, le=100)]
PaymentToken = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId = Field(alias="productId")
    quantity: Quantity


class PlaceOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="ignore")

    idempotency_key: IdempotencyKey | None = Field(default=None, alias="Idempotency-Key")


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=1, max_length=1024)
