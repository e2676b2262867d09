"""trading-api's configuration schemas: what the service reads at run time, live.

    v1 (flat)                      v2 (grouped, plus a feature flag)
    quoteTtlSeconds: 5             quotes:   {ttlSeconds: 5}
    maxOrderQuantity: 10000        orders:   {maxQuantity: 10000, pageSize: 50}
    ordersPageSize: 50             features: {bidAsk: false}

- `quotes.ttlSeconds`: how long a computed quote stays in Redis;
- `orders.maxQuantity`: orders above it are refused with 400;
- `orders.pageSize`: how many orders GET /orders returns;
- `features.bidAsk`: quotes carry a bid and an ask around the price.

v1 -> v2 loses nothing; v2 -> v1 drops `features`, so a v2 document whose flag is on cannot
go down (convert.round_trip_loss names `features.bidAsk`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runbooks.config.schema import ConfigModel, Document, ServiceSchemas

TtlSeconds = Annotated[int, Field(ge=1, le=3600)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
PageSize = Annotated[int, Field(ge=1, le=500)]


class TradingApiV1(ConfigModel):
    """Schema 1: three flat settings."""

    schema_version: Literal[1]
    quote_ttl_seconds: TtlSeconds = 5
    max_order_quantity: Quantity = 10_000
    orders_page_size: PageSize = 50


class Quotes(ConfigModel):
    """How quotes are cached."""

    ttl_seconds: TtlSeconds = 5


class Orders(ConfigModel):
    """Limits on orders."""

    max_quantity: Quantity = 10_000
    page_size: PageSize = 50


class Features(ConfigModel):
    """Feature flags, each off by default."""

    bid_ask: bool = False


class TradingApiV2(ConfigModel):
    """Schema 2: settings grouped by concern, and the `features` flags."""

    schema_version: Literal[2]
    quotes: Quotes = Quotes()
    orders: Orders = Orders()
    features: Features = Features()


def up_1(doc: Document) -> Document:
    """v1 -> v2: regroup; flags start at their defaults."""
    return {
        "schemaVersion": 2,
        "quotes": {"ttlSeconds": doc["quoteTtlSeconds"]},
        "orders": {"maxQuantity": doc["maxOrderQuantity"], "pageSize": doc["ordersPageSize"]},
        "features": Features().document(),
    }


def down_1(doc: Document) -> Document:
    """v2 -> v1: flatten; `features` has no place in v1 and is dropped."""
    return {
        "schemaVersion": 1,
        "quoteTtlSeconds": doc["quotes"]["ttlSeconds"],
        "maxOrderQuantity": doc["orders"]["maxQuantity"],
        "ordersPageSize": doc["orders"]["pageSize"],
    }


SCHEMAS = ServiceSchemas(
    service="trading-api",
    models={1: TradingApiV1, 2: TradingApiV2},
    up={1: up_1},
    down={1: down_1},
)
