"""What a client may send, validated before any rule or storage call runs, and what it gets back.

The response models only describe answers (the OpenAPI document); the routes build them as dicts.
"""

from decimal import Decimal
from typing import Annotated, Any, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from services.common.openapi import ANSWER, Timestamp, UuidText, not_null
from services.common.validation import (
    BODY,
    PARAMETERS,
    UNICODE_PATTERN,
    text,
    text_of,
    unicode,
    whole_number,
)
from services.products.domain import ProductFields

MAX_PRICE = Decimal(1_000_000)
CENT = Decimal("0.01")
IF_MATCH_PATTERN = r'^[ \t]*(\*|"([0-9]{1,18})")?[ \t]*$'
"""If-Match names one version as sent in ETag (a strong tag), or `*` for any; empty is none."""


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PydanticCustomError("money_type", "must be a number")
    amount = Decimal(value)
    if not amount.is_finite() or not 0 <= amount <= MAX_PRICE:
        raise PydanticCustomError("money_range", "must be between 0 and 1000000")
    if amount != amount.quantize(CENT):
        raise PydanticCustomError("money_places", "must have at most two decimal places")
    return amount.quantize(CENT)


MONEY_SCHEMA = {"type": "number", "minimum": 0, "maximum": 1_000_000, "multipleOf": 0.01}

Money = Annotated[Decimal, BeforeValidator(_money), WithJsonSchema(MONEY_SCHEMA)]
Name = Annotated[str, text_of(200), BeforeValidator(text)]
Category = Annotated[str, text_of(100), BeforeValidator(text)]
Description = Annotated[
    str, StringConstraints(max_length=2000, pattern=UNICODE_PATTERN), BeforeValidator(unicode)
]
Stock = Annotated[int, Field(strict=True, ge=0, le=1_000_000), BeforeValidator(whole_number)]


Cursor = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class ProductIn(BaseModel):
    """The body of POST and PUT: every mutable field."""

    model_config = BODY

    name: Name
    price: Money
    stock: Stock
    category: Category
    description: Description | None = None

    def fields(self) -> ProductFields:
        return cast(ProductFields, self.model_dump())


class ProductPatch(BaseModel):
    """The body of PATCH: a non-empty subset; only `description` may be null (to remove it)."""

    model_config = ConfigDict(**BODY, json_schema_extra={"minProperties": 1})

    name: Name | None = Field(default=None, json_schema_extra=not_null)
    price: Money | None = Field(default=None, json_schema_extra=not_null)
    stock: Stock | None = Field(default=None, json_schema_extra=not_null)
    category: Category | None = Field(default=None, json_schema_extra=not_null)
    description: Description | None = None

    @field_validator("name", "price", "stock", "category", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("null", "may not be null; only description can be removed")
        return value

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data:
            raise PydanticCustomError("empty", "name at least one field to change")
        return data

    def changes(self) -> ProductFields:
        return cast(ProductFields, self.model_dump(include=self.model_fields_set))


class ProductListQuery(BaseModel):
    model_config = PARAMETERS

    category: Category | None = Field(default=None, json_schema_extra=not_null)
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = Field(default=None, json_schema_extra=not_null)


ListQuery = ProductListQuery


class Product(BaseModel):
    """A product as every route answers it."""

    model_config = ANSWER

    id: UuidText
    name: str
    price: Annotated[Decimal, WithJsonSchema(MONEY_SCHEMA)]
    stock: Annotated[int, Field(ge=0)]
    category: str
    description: str | None
    created_at: Timestamp = Field(alias="createdAt")
    updated_at: Timestamp = Field(alias="updatedAt")
    version: Annotated[int, Field(ge=1)]


class ProductPage(BaseModel):
    model_config = ANSWER

    items: list[Product]
    next_cursor: str | None = Field(alias="nextCursor")


class IfMatchIn(BaseModel):
    """The conditional write header of PUT, PATCH and DELETE (read by the route itself)."""

    model_config = PARAMETERS  # documentation only, as ANSWER

    if_match: Annotated[str, StringConstraints(pattern=IF_MATCH_PATTERN)] | None = Field(
        default=None, alias="If-Match", json_schema_extra=not_null
    )
