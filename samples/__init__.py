"""Sample trading services (trading-api, market-data) used by the local stack."""
