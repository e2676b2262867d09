"""judge() and assess() with literal tables: thresholds each way, errors, traffic, limits."""

from __future__ import annotations

import pytest

from infra.settings import Color, Thresholds
from runbooks.core.analysis import (
    AVAILABILITY,
    ERROR_RATE,
    METRICS,
    P95_LATENCY,
    Limits,
    VerdictPhase,
    assess,
    judge,
)
from runbooks.core.model import Measurement, Phase, Sample

THRESHOLDS = Thresholds(
    error_rate_increase_pp=0.1,
    p95_latency_increase_percent=10.0,
    availability_percent=99.9,
    min_requests=50,
)
LIMITS = Limits(failure_limit=1, consecutive_error_limit=4, inconclusive_limit=3)


def blue(requests: float, errors: float = 0, p95: float | None = 0.1) -> Sample:
    return Sample(Color.BLUE, requests, errors, p95, at=10.0)


def green(requests: float, errors: float = 0, p95: float | None = 0.1) -> Sample:
    return Sample(Color.GREEN, requests, errors, p95, at=10.0)


def by_metric(measurements: tuple[Measurement, ...]) -> dict[str, Phase]:
    return {m.metric: m.phase for m in measurements}


S, F, INC, E = Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR


@pytest.mark.parametrize(
    ("base_requests", "base_errors", "new_requests", "new_errors", "expected"),
    [
        (1000, 1, 1000, 1, S),  # same rate
        (1000, 0, 1000, 10, F),  # +1pp against a 0.1pp bar
        (60, 0, 60, 1, S),  # one stray error is forgiven (the noise floor)
        (60, 0, 60, 2, F),  # two are not
        (10000, 10, 10000, 21, S),  # at volume the threshold rules: 21 allowed
        (10000, 10, 10000, 22, F),
        (1000, 50, 1000, 40, S),  # better than the baseline
        (0, 0, 1000, 0, INC),  # nothing to compare against
    ],
)
def test_given_error_counts_when_judged_then_error_rate_phase_follows_threshold_and_floor(
    base_requests: float,
    base_errors: float,
    new_requests: float,
    new_errors: float,
    expected: Phase,
) -> None:
    baseline, canary = blue(base_requests, base_errors), green(new_requests, new_errors)

    result = by_metric(judge(baseline, canary, THRESHOLDS, at=10.0))

    assert result[ERROR_RATE] is expected


@pytest.mark.parametrize(
    ("base_p95", "new_p95", "expected"),
    [
        (0.100, 0.109, S),  # +9% against +10%
        (0.100, 0.111, F),  # +11%
        (0.100, 0.050, S),  # faster
        (0.002, 0.004, S),  # twice as slow but only 2 ms: under the 5 ms floor
        (0.002, 0.008, F),  # 6 ms slower: real
        (None, 0.100, INC),  # baseline got no traffic
        (0.100, None, INC),  # canary has no quantile
    ],
)
def test_given_p95_latencies_when_judged_then_latency_phase_follows_ratio_and_floor(
    base_p95: float | None, new_p95: float | None, expected: Phase
) -> None:
    result = by_metric(judge(blue(1000, p95=base_p95), green(1000, p95=new_p95), THRESHOLDS, 1.0))

    assert result[P95_LATENCY] is expected
    assert result[ERROR_RATE] is S  # a missing p95 leaves the other metrics judged


@pytest.mark.parametrize(
    ("requests", "errors", "expected"),
    [
        (1000, 0, S),
        (1000, 2, S),  # 99.8%: 1 allowed by 99.9% plus the one stray error
        (1000, 3, F),
        (100, 1, S),  # the floor again
        (100, 2, F),
    ],
)
def test_given_canary_errors_when_judged_then_availability_follows_threshold(
    requests: float, errors: float, expected: Phase
) -> None:
    # A baseline as bad as the canary keeps error-rate out of the way.
    result = by_metric(judge(blue(requests, errors), green(requests, errors), THRESHOLDS, 1.0))

    assert result[AVAILABILITY] is expected


@pytest.mark.parametrize(
    ("baseline", "canary"),
    [
        (blue(1000), Sample.failed(Color.GREEN, 1.0, "prometheus: connection refused")),
        (Sample.failed(Color.BLUE, 1.0, "prometheus: connection refused"), green(1000)),
        (Sample.failed(Color.BLUE, 1.0, "x"), Sample.failed(Color.GREEN, 1.0, "y")),
    ],
)
def test_given_a_sample_that_could_not_be_taken_when_judged_then_every_metric_is_error(
    baseline: Sample, canary: Sample
) -> None:
    measurements = judge(baseline, canary, THRESHOLDS, at=3.0)

    assert [m.metric for m in measurements] == list(METRICS)
    assert {m.phase for m in measurements} == {E}
    assert all("could not measure" in m.message for m in measurements)


@pytest.mark.parametrize(("requests", "expected"), [(49, {INC}), (50, {S}), (0, {INC})])
def test_given_canary_traffic_when_judged_then_below_min_requests_is_inconclusive(
    requests: float, expected: set[Phase]
) -> None:
    measurements = judge(blue(1000), green(requests), THRESHOLDS, at=3.0)

    assert {m.phase for m in measurements} == expected
    if expected == {INC}:
        assert "< minRequests (50)" in measurements[0].message


def history(codes: str, metric: str = ERROR_RATE) -> list[Measurement]:
    phases = {"S": S, "F": F, "I": INC, "E": E}
    return [
        Measurement(metric, phases[c], None, None, float(n), f"m{n}") for n, c in enumerate(codes)
    ]


@pytest.mark.parametrize(
    ("codes", "limits", "phase", "says"),
    [
        ("", LIMITS, VerdictPhase.RUNNING, "no measurements yet"),
        ("S", LIMITS, VerdictPhase.SUCCESSFUL, "successful (1)"),
        ("F", LIMITS, VerdictPhase.RUNNING, "no success yet"),
        ("FS", LIMITS, VerdictPhase.SUCCESSFUL, "failed (1) <= failureLimit (1)"),
        ("FSF", LIMITS, VerdictPhase.FAILED, "failed (2) > failureLimit (1)"),
        ("F", Limits(0, 4, 3), VerdictPhase.FAILED, "failed (1) > failureLimit (0)"),
        ("SEEEE", LIMITS, VerdictPhase.SUCCESSFUL, "successful (1)"),
        (
            "SEEEEE",
            LIMITS,
            VerdictPhase.ERROR,
            "consecutive errors (5) > consecutiveErrorLimit (4)",
        ),
        ("EEEESEEEE", LIMITS, VerdictPhase.SUCCESSFUL, "successful (1)"),
        ("III", LIMITS, VerdictPhase.RUNNING, "no success yet"),
        ("SIIII", LIMITS, VerdictPhase.INCONCLUSIVE, "inconclusive (4) > inconclusiveLimit (3)"),
        ("FFIIII", LIMITS, VerdictPhase.FAILED, "failed (2)"),  # failure outranks the rest
    ],
)
def test_given_a_history_when_assessed_then_limits_decide_and_message_shows_numbers(
    codes: str, limits: Limits, phase: VerdictPhase, says: str
) -> None:
    verdict = assess(history(codes), limits)

    assert verdict.phase is phase
    assert says in verdict.message


def test_given_one_failing_metric_among_good_ones_when_assessed_then_it_decides_and_is_named() -> (
    None
):
    mixed = history("SSS", ERROR_RATE) + history("SFF", P95_LATENCY) + history("SSS", AVAILABILITY)

    verdict = assess(mixed, LIMITS)

    assert verdict.phase is VerdictPhase.FAILED
    assert verdict.message.startswith("p95-latency: failed (2) > failureLimit (1)")
    assert [v.phase for v in verdict.metrics] == [
        VerdictPhase.SUCCESSFUL,
        VerdictPhase.FAILED,
        VerdictPhase.SUCCESSFUL,
    ]


@pytest.mark.parametrize(
    ("windows", "phase"),
    [
        # Alternating blips of one error per 60 requests: noise, within the floor.
        ([(60, 0), (60, 1), (60, 0), (60, 1), (60, 0), (60, 1)], VerdictPhase.SUCCESSFUL),
        # One isolated bad window (10% errors) with failureLimit 1: tolerated.
        ([(200, 0), (200, 20), (200, 0), (200, 0)], VerdictPhase.SUCCESSFUL),
        # Errors creeping up window after window: 0, 1, 2, 3, 4 per 200 requests.
        ([(200, 0), (200, 1), (200, 2), (200, 3), (200, 4)], VerdictPhase.FAILED),
    ],
)
def test_given_a_run_of_windows_when_judged_and_assessed_then_noise_passes_and_creep_fails(
    windows: list[tuple[int, int]], phase: VerdictPhase
) -> None:
    measured: list[Measurement] = []
    for n, (requests, errors) in enumerate(windows):
        measured.extend(judge(blue(requests * 10), green(requests, errors), THRESHOLDS, float(n)))

    assert assess(measured, LIMITS).phase is phase


@pytest.mark.parametrize(
    ("floor_ms", "phase"),
    [(5.0, Phase.FAILED), (25.0, Phase.SUCCESSFUL)],
)
def test_latency_floor_comes_from_the_thresholds(floor_ms: float, phase: Phase) -> None:
    # Given green twice as slow as blue, but only by 10 ms
    blue = Sample(Color.BLUE, 1000, 0, 0.010, 0.0)
    green = Sample(Color.GREEN, 1000, 0, 0.020, 0.0)
    thresholds = Thresholds(p95_latency_floor_ms=floor_ms)
    # When judged, the ratio breach counts only beyond the stack's floor
    latency = next(m for m in judge(blue, green, thresholds, 0.0) if m.metric == "p95-latency")
    assert latency.phase is phase
