"""The detection matrix's arithmetic: deadlines, tallies, verdicts per scenario kind,
the policy's bake, and the floor the latency noise justifies."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.analysis.report import (
    Judged,
    NoisePoint,
    RunFacts,
    Tally,
    deadline_seconds,
    justified_floor_ms,
    noise_figure,
    scenario_figure,
)
from benchmarks.analysis.scenarios import (
    NO_SERIES_SUFFIX,
    detection_policy,
    first_bake_seconds,
    no_series_queries,
)
from runbooks.core.plan import ReleasePlan, build_plan
from tests.unit.core.builders import make_settings


def plan_of(policy: dict[str, Any]) -> ReleasePlan:
    """The plan of `policy` for a local stack (its metrics section left to the defaults)."""
    rollout = {k: v for k, v in policy.items() if k != "metrics"}
    return build_plan(make_settings(**rollout), "trading-api", "2.0.0")


def test_the_first_bake_holds_a_half_point_detection_at_500_requests_a_second() -> None:
    # ~3,770 requests at 250 req/s to the new color = 15.1 s, + 2 intervals of 2 s -> 20 s
    assert first_bake_seconds(500.0) == 20.0
    assert first_bake_seconds(1000.0) == 12.0


def test_the_policy_is_accepted_by_the_stack_schema() -> None:
    settings = make_settings(**detection_policy())

    assert settings.rollout.steps[0].bake_seconds == 20.0
    assert settings.rollout.thresholds.p95_latency_floor_ms == 1


def test_the_missing_series_queries_exclude_only_the_marked_versions() -> None:
    queries = no_series_queries()

    assert set(queries) == {"requests", "errors", "latency"}
    assert all(f'version!~".*{NO_SERIES_SUFFIX}"' in q for q in queries.values())


def test_the_deadline_is_two_intervals_after_the_larger_minimum_sample() -> None:
    plan = plan_of(detection_policy())
    noise = RunFacts("promoted", plan, 0.0, None, (), 1000.0, 0.0003, 0.0003)
    half_point = RunFacts("rolled-back", plan, 0.0, 5.0, (), 1000.0, 0.0003, 0.0053)

    # minRequests 20 at 500 req/s: 0.04 s; + 2 x 2 s
    assert deadline_seconds(noise, 0.95, 0.95) == pytest.approx(4.04)
    # +0.5 pp needs ~3,770 requests: 7.5 s at 500 req/s; + 4 s
    assert 11.4 < deadline_seconds(half_point, 0.95, 0.95) < 11.8


def judged(verdict: str, seconds: float | None = None, within: bool | None = None) -> Judged:
    return Judged(verdict, seconds, 100.0 if seconds is not None else None, within)


def test_a_tally_counts_outcomes_and_takes_medians_over_the_rollbacks() -> None:
    tally = Tally.of([judged("rolled-back", 3.0, True), judged("rolled-back", 5.0, False)])

    assert (tally.rolled_back, tally.within_deadline, tally.median_seconds) == (2, 1, 4.0)


@pytest.mark.parametrize(
    ("kind", "ours", "passed"),
    [
        ("noise", [judged("promoted")] * 5, True),
        ("noise", [judged("promoted")] * 4 + [judged("rolled-back", 9.0, False)], False),
        ("regression", [judged("rolled-back", 3.0, True)] * 5, True),
        ("regression", [judged("rolled-back", 3.0, True)] * 4 + [judged("promoted")], False),
        ("regression", [judged("rolled-back", 30.0, False)] * 5, False),  # too late
        ("no-data", [judged("rolled-back", 8.0, True)] * 5, True),
        ("no-data", [judged("rolled-back", 8.0, True)] * 4 + [judged("promoted")], False),
    ],
)
def test_each_kind_of_scenario_has_its_own_target(
    kind: str, ours: list[Judged], passed: bool
) -> None:
    figure = scenario_figure("x", kind, ours, [judged("promoted")] * len(ours), {})

    assert figure.passed is passed, figure.comparison


def test_the_floor_is_the_slowest_healthy_window_that_noise_alone_pushed_past_the_effect() -> None:
    points = [
        NoisePoint(1.0, 1.3, False),  # new 30% slower at ~1 ms: noise beyond the effect
        NoisePoint(2.1, 2.0, True),  # the judge failed a healthy pair at ~2 ms
        NoisePoint(23.0, 10.0, False),  # new much faster: never fails a release
        NoisePoint(30.0, 31.0, False),  # 3% apart at 30 ms: fine
    ]

    assert justified_floor_ms(points, 0.10, 1.0) == 3.0
    assert justified_floor_ms(points[2:], 0.10, 1.0) == 1.0


def test_the_noise_figure_reports_the_spread_and_the_floor() -> None:
    levels = {"own": [NoisePoint(1.0, 1.05, False)] * 5 + [NoisePoint(1.0, 1.5, False)]}

    figure = noise_figure(levels, 0.10, 1.0)

    assert figure.passed
    assert figure.details["justified_floor_ms"] == 2.0
    assert figure.value == 1.5
