"""The nearest-rank percentile the CloudWatch stand-in computes (moto computes none)."""

from __future__ import annotations

import pytest

from runbooks.standins.aws import percentile


@pytest.mark.parametrize(
    ("values", "rank", "expected"),
    [
        ([], 95, None),
        ([0.3], 95, 0.3),
        ([float(v) for v in range(1, 21)], 95, 19.0),  # ceil(0.95 * 20) = 19th
        ([float(v) for v in range(100, 0, -1)], 50, 50.0),  # order of arrival does not matter
        ([1.0, 2.0], 100, 2.0),
    ],
)
def test_percentile(values: list[float], rank: float, expected: float | None) -> None:
    assert percentile(values, rank) == expected
