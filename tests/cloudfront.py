"""A CloudFront distribution to invalidate, for the edge-purge tests (moto, in process or
server mode)."""

from __future__ import annotations

import time
from typing import Any


def make_distribution(cf: Any) -> str:
    """Create a minimal distribution with `cf` (a boto3 cloudfront client); its id."""
    origin = {
        "Id": "o",
        "DomainName": "origin.example.com",
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "https-only",
        },
    }
    config = {
        "CallerReference": f"t-{time.time_ns()}",
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
        },
    }
    return str(cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"])
