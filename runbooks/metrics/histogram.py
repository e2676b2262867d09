"""Latency histograms of one window: from cumulative `le` buckets to counts, and quantiles.

Prometheus' classic histograms are cumulative (`le` = "at or below"); a window's histogram
is the per-`le` delta of the counters (see `counters.py`), made non-cumulative here so each
bucket holds the requests of its own range, ordered by upper bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from runbooks.core.model import Bucket
from runbooks.core.stats import quantile

__all__ = ["bound_of", "non_cumulative", "quantile"]


def bound_of(le: str) -> float:
    """An `le` label's value as seconds: '0.005' -> 0.005, '+Inf' -> inf."""
    return math.inf if le in ("+Inf", "Inf", "inf") else float(le)


def non_cumulative(cumulative: Mapping[float, float]) -> tuple[Bucket, ...]:
    """Counts per bucket from cumulative counts per upper bound, ordered by bound.

    A cumulative count lower than the one below it can only come from series scraped at
    different moments (a restart between them): that bucket counts 0, never negative.
    """
    buckets: list[Bucket] = []
    below = 0.0
    for bound in sorted(cumulative):
        count = cumulative[bound]
        buckets.append((bound, max(0.0, count - below)))
        below = max(below, count)
    return tuple(buckets)
