"""The products table: one DynamoDB table whose key design serves every access pattern.

Plain data shared by the adapter, the Pulumi program and the local stack. See docs/data-model.md.

- base key: pk = "PRODUCT#<id>", sk = "PRODUCT" (later entities, such as stock reservations,
  use their own pk prefix in the same table);
- index `byEntity` (entity, listKey): every product, newest first, without a scan;
- index `byCategory` (category, listKey): one category, newest first, without a filter.

Only products carry `listKey`, so both indexes are sparse: other entities never appear in them.
"""

from dataclasses import dataclass

PARTITION_KEY = "pk"
SORT_KEY = "sk"
LIST_KEY = "listKey"
ENTITY = "entity"
CATEGORY = "category"
PRODUCT_ENTITY = "PRODUCT"


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableSpec:
    partition_key: str
    sort_key: str
    indexes: tuple[Index, ...]

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every key attribute (all strings), in a stable order, for the table definition."""
        names = [self.partition_key, self.sort_key]
        for index in self.indexes:
            names += [index.partition_key, index.sort_key]
        return tuple(dict.fromkeys(names))


BY_ENTITY = Index("byEntity", ENTITY, LIST_KEY)
BY_CATEGORY = Index("byCategory", CATEGORY, LIST_KEY)
PRODUCTS_TABLE = TableSpec(PARTITION_KEY, SORT_KEY, (BY_ENTITY, BY_CATEGORY))


RESERVATION_ENTITY = "RESERVATION"
PAYMENT_ENTITY = "PAYMENT"


def product_key(product_id: str) -> dict[str, str]:
    return {PARTITION_KEY: f"PRODUCT#{product_id}", SORT_KEY: PRODUCT_ENTITY}


def reservation_key(order_id: str) -> dict[str, str]:
    """The stock an order holds: written in the same transaction as the stock decrements."""
    return {PARTITION_KEY: f"RESERVATION#{order_id}", SORT_KEY: RESERVATION_ENTITY}


def payment_key(order_id: str) -> dict[str, str]:
    """The simulated provider's record of an order's charge: at most one per order."""
    return {PARTITION_KEY: f"PAYMENT#{order_id}", SORT_KEY: PAYMENT_ENTITY}


def list_key(created_at: str, product_id: str) -> str:
    return f"{created_at}#{product_id}"
