"""Shared builders for the pure-core tests: a small stack's settings from literal values."""

from __future__ import annotations

import json
from typing import Any

from stackspec.model import StackSettings


def make_settings(**rollout: Any) -> StackSettings:
    """A local stack with one service, `trading-api` 1.0.0 active on blue, and `rollout`."""
    data: dict[str, Any] = {
        "substrate": "local",
        "services": [
            {
                "name": "trading-api",
                "image": "trading/trading-api",
                "port": 8080,
                "activeColor": "blue",
                "versions": {"blue": "1.0.0", "green": "0.9.0"},
            }
        ],
        "database": {"instanceClass": "local"},
        "cache": {"nodeType": "local"},
        "streaming": {},
        "rollout": rollout,
        "local": {},
    }
    return StackSettings.model_validate_json(json.dumps(data))
