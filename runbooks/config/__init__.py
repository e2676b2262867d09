"""Versioned service configuration: `config/<service>/v<N>.yaml`, one file per schema version.

    schema.py        the base model and `ServiceSchemas` (models + up/down conversions)
    trading_api.py   the schemas of trading-api (v1 flat, v2 grouped with a feature flag)
    market_data.py   the schemas of market-data
    registry.py      the services that have a configuration, registered explicitly
    files.py         finding, reading and validating files; the error a bad file gets
    convert.py       migrating a document between versions, the round-trip loss check, diffs

Nothing here does I/O beyond reading (and, in `files.write_version`, writing) config files,
so the service processes (samples/) use the same models to load what they run.
"""
