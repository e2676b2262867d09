"""Whole-number window counts: counter deltas, histogram buckets, p95 interpolation."""

from __future__ import annotations

import itertools
import math

import pytest

from runbooks.core.model import Bucket
from runbooks.metrics.counters import Point, counter_delta, deltas
from runbooks.metrics.histogram import bound_of, non_cumulative, quantile
from samples.web import LATENCY_BUCKETS, exponential_buckets

INF = math.inf


@pytest.mark.parametrize(
    ("baseline", "points", "expected"),
    [
        (10, [(0, 10), (1, 15), (2, 25)], 15),  # plain delta: end - baseline
        (10, [(1, 15)], 5),  # the range's first point after the baseline
        (None, [(1, 4), (2, 9)], 9),  # born in the window: started at 0
        (100, [(0, 100), (1, 120), (2, 3), (3, 8)], 28),  # restart: 20 before, 8 after
        (100, [(1, 3)], 3),  # restart before the first point: the end value
        (7, [], 0),  # gone: nothing more counted
        (None, [], 0),
        (5, [(0, 5), (1, 5)], 0),
    ],
)
def test_counter_delta(baseline: float | None, points: list[Point], expected: float) -> None:
    assert counter_delta(baseline, points) == expected


def test_deltas_match_series_by_labels_and_leave_out_gone_ones() -> None:
    a, b, gone = (frozenset({("instance", name)}) for name in ("a", "b", "gone"))
    result = deltas({a: 10, gone: 50}, {a: [(0, 10), (1, 12)], b: [(1, 3)]})
    assert result == {a: 2, b: 3}


@pytest.mark.parametrize(
    ("cumulative", "expected"),
    [
        ({0.01: 30, 0.02: 40, INF: 40}, ((0.01, 30), (0.02, 10), (INF, 0))),
        ({INF: 5, 0.1: 2}, ((0.1, 2), (INF, 3))),  # ordered by bound, whatever came first
        ({0.1: 5, 0.2: 3, INF: 6}, ((0.1, 5), (0.2, 0), (INF, 1))),  # never negative
        ({}, ()),
    ],
)
def test_non_cumulative(cumulative: dict[float, float], expected: tuple[Bucket, ...]) -> None:
    assert non_cumulative(cumulative) == expected


@pytest.mark.parametrize(
    ("buckets", "q", "expected"),
    [
        (((0.01, 50), (0.02, 50)), 0.95, 0.019),  # rank 95: 45 of 50 into 0.01..0.02
        (((0.005, 100),), 0.95, 0.00475),  # the first bucket starts at 0
        (((0.01, 0), (0.02, 100), (0.04, 0)), 0.95, 0.0195),
        (((0.01, 95), (0.02, 5)), 0.95, 0.01),  # rank on a bucket's upper edge
        (((0.1, 90), (INF, 10)), 0.95, 0.1),  # in +Inf: the highest finite bound
        (((0.03, 10), (0.033, 80), (0.0363, 10)), 0.5, 0.0315),
        (((0.01, 0), (INF, 0)), 0.95, None),  # no requests: no latency
        ((), 0.95, None),
    ],
)
def test_quantile_interpolates_inside_the_bucket(
    buckets: tuple[Bucket, ...], q: float, expected: float | None
) -> None:
    got = quantile(buckets, q)
    assert got == (None if expected is None else pytest.approx(expected))


def test_quantile_tells_a_40_percent_regression_apart() -> None:
    """The issue's case: 30 ms -> 42 ms fell in one 25-50 ms bucket and read as 1.00."""
    old = _histogram_of_constant(0.030)
    new = _histogram_of_constant(0.042)
    ratio = quantile(new, 0.95) / quantile(old, 0.95)  # type: ignore[operator]
    assert 1.3 < ratio < 1.5


def _histogram_of_constant(seconds: float, count: float = 100) -> tuple[Bucket, ...]:
    bucket = next(b for b in LATENCY_BUCKETS if b >= seconds)
    return tuple((b, count if b == bucket else 0.0) for b in (*LATENCY_BUCKETS, INF))


def test_quantile_rejects_a_bad_q() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        quantile(((0.1, 1),), 95)


@pytest.mark.parametrize(("le", "bound"), [("0.005", 0.005), ("+Inf", INF), ("10.35", 10.35)])
def test_le_labels(le: str, bound: float) -> None:
    assert bound_of(le) == bound


def test_service_buckets_are_ten_percent_steps_from_1ms_to_10s() -> None:
    assert LATENCY_BUCKETS[0] == 0.001 and 10 <= LATENCY_BUCKETS[-1] < 11
    ratios = [b / a for a, b in itertools.pairwise(LATENCY_BUCKETS)]
    assert all(1.099 < r < 1.101 for r in ratios), ratios
    assert len(LATENCY_BUCKETS) < 100  # series per color and scrape stay bounded
    assert exponential_buckets(0.001, 2, 0.005) == (0.001, 0.002, 0.004, 0.008)
