"""Request models: what a client may send, validated before any rule or storage call runs."""

from decimal import Decimal
from typing import Annotated, Any, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from services.common.validation import text, unicode
from services.products.domain import ProductFields

MAX_PRICE = Decimal(1_000_000)
CENT = Decimal("0.01")


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PydanticCustomError("money_type", "must be a number")
    amount = Decimal(value)
    if not amount.is_finite() or not 0 <= amount <= MAX_PRICE:
        raise PydanticCustomError("money_range", "must be between 0 and 1000000")
    if amount != amount.quantize(CENT):
        raise PydanticCustomError("money_places", "must have at most two decimal places")
    return amount.quantize(CENT)


Money = Annotated[Decimal, BeforeValidator(_money)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), BeforeValidator(text)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=100), BeforeValidator(text)]
Description = Annotated[str, StringConstraints(max_length=2000), BeforeValidator(unicode)]
Stock = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]


class ProductIn(BaseModel):
    """The body of POST and PUT: every mutable field."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    price: Money
    stock: Stock
    category: Category
    description: Description | None = None

    def fields(self) -> ProductFields:
        return cast(ProductFields, self.model_dump())


class ProductPatch(BaseModel):
    """The body of PATCH: a non-empty subset; only `description` may be null (to remove it)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    price: Money | None = None
    stock: Stock | None = None
    category: Category | None = None
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


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    category: Category | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=1, max_length=1024)
