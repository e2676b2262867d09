"""The services that have a versioned configuration, each with its schemas, by name."""

from __future__ import annotations

from runbooks.config import market_data, trading_api
from runbooks.config.schema import ServiceSchemas
from stackspec.errors import UnknownName

SCHEMAS: dict[str, ServiceSchemas] = {
    schemas.service: schemas for schemas in (trading_api.SCHEMAS, market_data.SCHEMAS)
}


def schemas_for(service: str) -> ServiceSchemas:
    """The schemas of `service`; UnknownName (exit 2) listing the configured services."""
    try:
        return SCHEMAS[service]
    except KeyError:
        raise UnknownName("configured service", service, list(SCHEMAS)) from None
