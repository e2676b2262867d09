"""Latency histograms of one window: from cumulative `le` buckets to counts, and quantiles.

Prometheus' classic histograms are cumulative (`le` = "at or below"); a window's histogram
is the per-`le` delta of the counters (see `counters.py`), made non-cumulative here so each
bucket holds the requests of its own range, ordered by upper bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from runbooks.core.model import Bucket


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


def quantile(buckets: Sequence[Bucket], q: float) -> float | None:
    """The `q` quantile (0..1) of a non-cumulative histogram; None when it is empty.

    As Prometheus' histogram_quantile: the bucket holding rank q * total is found and the
    value interpolated linearly inside it, from its lower bound (the previous upper bound,
    0 for the first) to its upper bound. A rank in the +Inf bucket gives the highest finite
    bound: nothing more is known about those requests.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within 0..1; got {q}")
    total = sum(count for _, count in buckets)
    if total <= 0:
        return None
    rank = q * total
    lower, seen = 0.0, 0.0
    for upper, count in buckets:
        if count > 0 and seen + count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper if not math.isinf(upper) else lower
    return lower
