"""market-data's configuration schema: how its consumer loop polls the broker.

v1
pollTimeoutSeconds: 0.5    how long one poll waits for a message
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runbooks.config.schema import ConfigModel, ServiceSchemas


class MarketDataV1(ConfigModel):
    """Schema 1."""

    schema_version: Literal[1]
    poll_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 0.5


SCHEMAS = ServiceSchemas(service="market-data", models={1: MarketDataV1}, up={}, down={})
