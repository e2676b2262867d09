"""The detection budget as a table: per step, from the policy and the request rate now."""

from __future__ import annotations

import pytest

from runbooks.core.budget import detection_budget
from runbooks.core.plan import build_plan
from tests.unit.core.builders import make_settings

POLICY = {
    "steps": [
        {"weight": 0, "bakeSeconds": 10},
        {"weight": 10, "bakeSeconds": 60},
        {"weight": 100, "bakeSeconds": 30},
    ],
    "analysisIntervalSeconds": 2,
    "failureLimit": 1,
    "consecutiveErrorLimit": 4,
    "thresholds": {"minRequests": 50},
}


@pytest.mark.parametrize(
    ("rps", "expected"),
    [
        # 10% of 500 req/s = 50 req/s: 50 requests in 1 s -> first tick at 2 s, second at 4 s
        (500.0, [(None, None), (1.0, 4.0), (0.1, 4.0)]),
        # 10% of 20 req/s = 2 req/s: 25 s to 50 requests -> tick 13 (26 s), then 28 s
        (20.0, [(None, None), (25.0, 28.0), (2.5, 6.0)]),
        # no traffic at all: never judged
        (0.0, [(None, None), (None, None), (None, None)]),
    ],
)
def test_budget_per_step(rps: float, expected: list[tuple[float | None, float | None]]) -> None:
    plan = build_plan(make_settings(**POLICY), "trading-api", "2.0.0")

    budget = detection_budget(plan, rps)

    got = [(b.to_min_sample, b.fault_to_rollback) for b in budget]
    assert got == [
        (pytest.approx(a) if a else a, pytest.approx(b) if b else b) for a, b in expected
    ]
    assert budget[0].outage_to_rollback is None  # weight 0: not analysed
    assert budget[1].outage_to_rollback == pytest.approx(12.0)  # (4 + 2) intervals
    assert "not analysed" in budget[0].line()
    assert "req/s to the new color" in budget[1].line()
