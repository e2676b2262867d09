"""judge() and assess() with literal tables: thresholds each way, errors, traffic, limits."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

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
from runbooks.core.model import Bucket, Measurement, Phase, Sample, Weights
from stackspec.model import Color, Thresholds

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
        (1000, 0, 1000, 10, F),  # +1pp against a 0.1pp bar: sure enough at 1000 requests
        (60, 0, 60, 1, S),  # one stray error proves nothing
        (60, 0, 60, 5, F),  # 8% of 60 does
        (100_000, 30, 100_000, 50, S),  # 0.05% vs 0.03%: noise below the effect never fails
        (20_000, 6, 20_000, 106, F),  # +0.5pp, caught once there is enough traffic
        (200, 0, 200, 1, S),  # +0.5pp in 200 requests: not enough evidence yet
        (1000, 50, 1000, 40, S),  # better than the baseline
        (0, 0, 1000, 0, INC),  # nothing to compare against
    ],
)
def test_given_error_counts_when_judged_then_error_rate_fails_only_on_evidence_beyond_the_limit(
    base_requests: float,
    base_errors: float,
    new_requests: float,
    new_errors: float,
    expected: Phase,
) -> None:
    baseline, canary = blue(base_requests, base_errors), green(new_requests, new_errors)

    [error_rate, *_] = judge(baseline, canary, THRESHOLDS, at=10.0)

    assert error_rate.phase is expected
    if expected is not INC:
        assert "limit +0.1pp" in error_rate.message and "confidence" in error_rate.message


def test_errors_the_router_saw_count_against_their_color() -> None:
    canary = Sample(Color.GREEN, 1000, 0, 0.1, 10.0, edge_errors=30)

    [error_rate, _, availability] = judge(blue(1000), canary, THRESHOLDS, 10.0)

    assert error_rate.phase is F and availability.phase is F
    assert "(30/1030)" in error_rate.message


@pytest.mark.parametrize(
    ("base_p95", "new_p95", "expected"),
    [
        (0.100, 0.109, S),  # +9% against +10%
        (0.100, 0.111, F),  # +11%
        (0.100, 0.050, S),  # faster
        (None, 0.100, INC),  # baseline got no traffic
        (0.100, None, INC),  # canary has no quantile
    ],
)
def test_given_only_p95s_when_judged_then_the_ratio_is_compared_as_a_point_value(
    base_p95: float | None, new_p95: float | None, expected: Phase
) -> None:
    result = by_metric(judge(blue(1000, p95=base_p95), green(1000, p95=new_p95), THRESHOLDS, 1.0))

    assert result[P95_LATENCY] is expected
    assert result[ERROR_RATE] is S  # a missing p95 leaves the other metrics judged


def lognormal(median_s: float, requests: int, sigma: float = 0.25) -> tuple[Bucket, ...]:
    """A latency histogram on buckets from 1 ms growing by 10%: `requests` spread log-normally."""
    bounds = [0.001 * 1.1**k for k in range(100)] + [math.inf]
    below = [
        NormalDist(math.log(median_s), sigma).cdf(math.log(b)) if b != math.inf else 1.0
        for b in bounds
    ]
    counts, previous = [], 0.0
    for fraction in below:
        counts.append(round(requests * fraction) - round(requests * previous))
        previous = fraction
    return tuple(zip(bounds, map(float, counts), strict=True))


def timed(color: Color, median_s: float, requests: int = 2000) -> Sample:
    return Sample(color, requests, 0, None, 0.0, latency=lognormal(median_s, requests))


@pytest.mark.parametrize(
    ("base_s", "ratio", "expected"),
    [
        (0.005, 1.0, S),
        (0.005, 1.4, F),  # +40% at ~5 ms
        (0.030, 1.4, F),  # +40% at ~30 ms: the regression once hidden inside a 25-50 ms bucket
        (0.100, 1.4, F),
        (0.030, 1.05, S),  # +5% is inside the +10% effect
        (0.030, 0.8, S),  # faster
    ],
)
def test_given_latency_histograms_when_judged_then_a_shift_beyond_the_effect_fails(
    base_s: float, ratio: float, expected: Phase
) -> None:
    latency = judge(timed(Color.BLUE, base_s), timed(Color.GREEN, base_s * ratio), THRESHOLDS, 0.0)[
        1
    ]

    assert latency.phase is expected, latency.message
    assert "Mann-Whitney" in latency.message and "baseline" in latency.message
    assert latency.baseline is not None and latency.threshold == pytest.approx(1.1)


def test_a_slower_tail_alone_fails_latency() -> None:
    # Same body, but 12% of the canary's requests take 3x as long
    body = lognormal(0.030, 1760)
    tail = lognormal(0.090, 240)
    canary = tuple((b, n + t) for (b, n), (_, t) in zip(body, tail, strict=True))
    latency = judge(
        timed(Color.BLUE, 0.030),
        Sample(Color.GREEN, 2000, 0, None, 0.0, latency=canary),
        THRESHOLDS,
        0.0,
    )[1]

    assert latency.phase is F, latency.message
    assert "above" in latency.message


def test_latencies_under_the_floor_are_not_judged_and_say_so() -> None:
    thresholds = Thresholds(p95_latency_floor_ms=1.0)
    latency = judge(timed(Color.BLUE, 0.0003), timed(Color.GREEN, 0.0005), thresholds, 0.0)[1]

    assert latency.phase is S and latency.value is None
    assert "under the floor (1ms): not judged" in latency.message


@pytest.mark.parametrize(
    ("base_s", "canary_s", "expected"),
    [
        # The rehearsal's false rollback on a busy CI box: a healthy canary 20% slower, its
        # bulk under the 5 ms floor, 7.5% of it just past the floor (p95 5.4 ms): not sure
        # that more than 5% is, so not a regression of the p95.
        (0.0025, 0.0030, S),
        # Below the floor on the baseline, far above it on the canary: a real regression.
        (0.0025, 0.0090, F),
        # Both well above the floor: judged exactly as with no floor.
        (0.0100, 0.0140, F),
        (0.0100, 0.0104, S),
    ],
)
def test_latency_under_the_floor_counts_as_the_floor(
    base_s: float, canary_s: float, expected: Phase
) -> None:
    thresholds = Thresholds(p95_latency_floor_ms=5.0, min_requests=20)
    baseline = timed(Color.BLUE, base_s, requests=1500)
    canary = Sample(Color.GREEN, 100, 0, None, 0.0, latency=lognormal(canary_s, 100, sigma=0.35))
    latency = judge(baseline, canary, thresholds, 0.0)[1]

    assert latency.phase is expected, latency.message
    assert "5ms" in latency.message


@pytest.mark.parametrize(
    ("requests", "errors", "expected"),
    [
        (1000, 0, S),
        (1000, 2, S),  # 99.8% in 1000 requests: not sure it is below 99.9%
        (1000, 5, F),  # 99.5%: sure
        (100_000, 150, F),  # 99.85% at volume: sure
        (100, 1, S),
    ],
)
def test_given_canary_errors_when_judged_then_availability_fails_on_evidence(
    requests: float, errors: float, expected: Phase
) -> None:
    # A baseline as bad as the canary keeps error-rate out of the way.
    result = by_metric(judge(blue(requests, errors), green(requests, errors), THRESHOLDS, 1.0))

    assert result[AVAILABILITY] is expected


@pytest.mark.parametrize(("weights", "phase"), [(Weights(90, 10), E), (Weights(100, 0), INC)])
def test_a_color_with_traffic_but_no_series_is_an_error_not_too_little_traffic(
    weights: Weights, phase: Phase
) -> None:
    silent = Sample(Color.GREEN, 0, 0, None, 1.0, has_series=False)

    measurements = judge(blue(1000), silent, THRESHOLDS, 1.0, weights)

    assert {m.phase for m in measurements} == {phase}
    if phase is E:
        assert "no series for green although it has 10% of the traffic" in measurements[0].message


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
        ("S", LIMITS, VerdictPhase.SUCCESSFUL, "successful in a row (1)"),
        ("F", LIMITS, VerdictPhase.RUNNING, "waiting for 1 successful windows in a row"),
        ("FS", LIMITS, VerdictPhase.SUCCESSFUL, "failed (1) <= failureLimit (1)"),
        ("FSF", LIMITS, VerdictPhase.FAILED, "failed (2) > failureLimit (1)"),
        ("F", Limits(0, 4, 3), VerdictPhase.FAILED, "failed (1) > failureLimit (0)"),
        # The provider stopped answering: never a success, however good it was before.
        ("SE", LIMITS, VerdictPhase.RUNNING, "last: Error"),
        ("SSEE", LIMITS, VerdictPhase.RUNNING, "successful in a row (0)"),
        ("SEEEE", LIMITS, VerdictPhase.RUNNING, "last: Error"),
        (
            "SEEEEE",
            LIMITS,
            VerdictPhase.ERROR,
            "consecutive errors (5) > consecutiveErrorLimit (4)",
        ),
        ("EEEESEEEE", LIMITS, VerdictPhase.RUNNING, "last: Error"),
        ("EEEES", LIMITS, VerdictPhase.SUCCESSFUL, "successful in a row (1)"),
        ("SI", LIMITS, VerdictPhase.RUNNING, "last: Inconclusive"),
        ("III", LIMITS, VerdictPhase.RUNNING, "waiting"),
        ("FSS", Limits(1, 4, 3, 2), VerdictPhase.SUCCESSFUL, "successful in a row (2)"),
        ("SFS", Limits(1, 4, 3, 2), VerdictPhase.RUNNING, "consecutiveSuccessLimit (2)"),
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
        # 0.05% errors against a baseline's 0.03%: noise, whatever the traffic.
        (
            [(2000, 1), (2000, 0), (2000, 1), (2000, 2), (2000, 0), (2000, 1)] * 3,
            VerdictPhase.SUCCESSFUL,
        ),
        # Errors creeping up window after window: 0, 2, 4, 6, 8, 10 per 200 requests.
        ([(200, 0), (200, 2), (200, 4), (200, 6), (200, 8), (200, 10)], VerdictPhase.FAILED),
        # +0.5pp all along: the step's evidence adds up until it is sure.
        ([(2000, 10)] * 12, VerdictPhase.FAILED),
    ],
)
def test_given_a_step_of_windows_when_judged_and_assessed_then_noise_passes_and_creep_fails(
    windows: list[tuple[int, int]], phase: VerdictPhase
) -> None:
    # Each window covers the step so far (the engine asks for that): counts add up.
    measured: list[Measurement] = []
    requests = errors = 0
    for n, (more_requests, more_errors) in enumerate(windows):
        requests, errors = requests + more_requests, errors + more_errors
        baseline = blue(requests * 10, round(requests * 10 * 0.0003))
        measured.extend(judge(baseline, green(requests, errors), THRESHOLDS, float(n)))

    assert assess(measured, LIMITS).phase is phase
