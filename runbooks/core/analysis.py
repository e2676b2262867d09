"""Analysis: samples in, measurements out; measurements in, verdict out. Pure.

`judge` compares the new color (canary) against the old color (baseline) over one window
and returns one `Measurement` per metric:

- ``error-rate``: increase of the canary's error rate over the baseline's, in percentage
  points, against ``errorRateIncreasePp``;
- ``p95-latency``: ratio of the canary's p95 to the baseline's, against
  ``1 + p95LatencyIncreasePercent / 100``;
- ``availability``: the canary's share of good requests, against ``availabilityPercent``.

Noise robustness (the choice, made explicit):

1. A window never fails on one stray error. Both error-count checks allow
   ``STRAY_ERRORS`` (one request) on top of what the threshold allows: with 60 requests
   per window, one 5xx against a baseline of none is +1.7 pp, far above a 0.1 pp bar, yet
   it says nothing about the version. Two such errors fail. At real traffic (thousands of
   requests a window) the allowance is negligible and the threshold rules.
2. Latency fails only when the ratio is exceeded AND the canary is slower by more than
   ``p95LatencyFloorMs`` (default 5 ms, ``LATENCY_FLOOR_SECONDS``): at millisecond
   latencies a histogram quantile moves by a whole bucket between windows and a 10 % ratio
   is noise.
3. One bad window is not a verdict: `assess` counts failed measurements against
   ``failureLimit`` (Argo's semantics: FAILED only when failed > failureLimit), so with
   failureLimit 1 an isolated bad window is tolerated and a second one is not.

A sample with ``error`` set gives ERROR measurements (never a pass); fewer canary requests
than ``minRequests`` gives INCONCLUSIVE for every metric; a metric with nothing to compare
against (no baseline requests, no baseline p95) is INCONCLUSIVE on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from infra.settings import Thresholds
from runbooks.core.model import Measurement, Phase, Sample

__all__ = [
    "AVAILABILITY",
    "ERROR_RATE",
    "LATENCY_FLOOR_SECONDS",
    "METRICS",
    "P95_LATENCY",
    "STRAY_ERRORS",
    "Limits",
    "Verdict",
    "VerdictPhase",
    "assess",
    "judge",
]

ERROR_RATE = "error-rate"
P95_LATENCY = "p95-latency"
AVAILABILITY = "availability"
METRICS = (ERROR_RATE, P95_LATENCY, AVAILABILITY)

STRAY_ERRORS = 1.0
LATENCY_FLOOR_SECONDS = 0.005
_ROUNDING = 1e-9  # 100 - 99.9 is not 0.1 in floats: an exact-limit count must not fail


def judge(
    baseline: Sample, canary: Sample, thresholds: Thresholds, at: float
) -> tuple[Measurement, ...]:
    """One measurement per metric in `METRICS` order: the canary judged against the baseline."""
    broken = canary if canary.error is not None else baseline
    if broken.error is not None:
        message = f"could not measure {broken.color}: {broken.error}"
        return tuple(Measurement(m, Phase.ERROR, None, None, at, message) for m in METRICS)
    if canary.requests < thresholds.min_requests:
        message = (
            f"too little traffic: {canary.requests:g} requests to {canary.color} "
            f"< minRequests ({thresholds.min_requests})"
        )
        return tuple(Measurement(m, Phase.INCONCLUSIVE, None, None, at, message) for m in METRICS)
    return (
        _judge_error_rate(baseline, canary, thresholds.error_rate_increase_pp, at),
        _judge_latency(
            baseline,
            canary,
            thresholds.p95_latency_increase_percent,
            thresholds.p95_latency_floor_ms / 1000,
            at,
        ),
        _judge_availability(canary, thresholds.availability_percent, at),
    )


def _judge_error_rate(baseline: Sample, canary: Sample, limit_pp: float, at: float) -> Measurement:
    base_rate, new_rate = baseline.error_rate, canary.error_rate
    if base_rate is None or new_rate is None:
        message = f"no requests on baseline {baseline.color} to compare the error rate against"
        return Measurement(ERROR_RATE, Phase.INCONCLUSIVE, None, limit_pp, at, message)
    increase_pp = (new_rate - base_rate) * 100
    allowed = canary.requests * (base_rate + limit_pp / 100) + STRAY_ERRORS
    phase = Phase.FAILED if canary.errors > allowed + _ROUNDING else Phase.SUCCESSFUL
    message = (
        f"error rate {new_rate:.3%} vs baseline {base_rate:.3%}: {increase_pp:+.3f}pp "
        f"(limit {limit_pp:g}pp; {canary.errors:g} errors, {allowed:.2f} allowed)"
    )
    return Measurement(ERROR_RATE, phase, increase_pp, limit_pp, at, message)


def _judge_latency(
    baseline: Sample, canary: Sample, increase_percent: float, floor_seconds: float, at: float
) -> Measurement:
    limit = 1 + increase_percent / 100
    base, new = baseline.p95_seconds, canary.p95_seconds
    if new is None:
        message = f"no p95 latency for {canary.color}"
        return Measurement(P95_LATENCY, Phase.INCONCLUSIVE, None, limit, at, message)
    if base is None or base <= 0:
        message = f"no p95 latency on baseline {baseline.color} to compare against"
        return Measurement(P95_LATENCY, Phase.INCONCLUSIVE, None, limit, at, message)
    ratio = new / base
    slower = ratio > limit and new - base > floor_seconds
    message = (
        f"p95 {new * 1000:.1f}ms vs baseline {base * 1000:.1f}ms: ratio {ratio:.3f} "
        f"(limit {limit:.3f}, floor {floor_seconds * 1000:g}ms)"
    )
    return Measurement(
        P95_LATENCY, Phase.FAILED if slower else Phase.SUCCESSFUL, ratio, limit, at, message
    )


def _judge_availability(canary: Sample, percent: float, at: float) -> Measurement:
    if canary.error_rate is None:
        message = f"no requests on {canary.color}"
        return Measurement(AVAILABILITY, Phase.INCONCLUSIVE, None, percent, at, message)
    availability = 100 * (1 - canary.error_rate)
    allowed = canary.requests * (1 - percent / 100) + STRAY_ERRORS
    phase = Phase.FAILED if canary.errors > allowed + _ROUNDING else Phase.SUCCESSFUL
    message = (
        f"availability {availability:.3f}% (limit {percent:g}%; "
        f"{canary.errors:g} errors, {allowed:.2f} allowed)"
    )
    return Measurement(AVAILABILITY, phase, availability, percent, at, message)


class VerdictPhase(StrEnum):
    """Where the analysis of a step stands."""

    RUNNING = "Running"  # no limit breached, but no successful measurement yet
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"  # measuring failed too often in a row: as bad as failed
    INCONCLUSIVE = "Inconclusive"  # too often no verdict: a human must judge

    @property
    def failing(self) -> bool:
        """Whether this verdict must roll the release back."""
        return self in (VerdictPhase.FAILED, VerdictPhase.ERROR)


# Worst first: a combined verdict is its worst metric's.
_SEVERITY = (
    VerdictPhase.FAILED,
    VerdictPhase.ERROR,
    VerdictPhase.INCONCLUSIVE,
    VerdictPhase.RUNNING,
    VerdictPhase.SUCCESSFUL,
)


@dataclass(frozen=True)
class Limits:
    """How many bad measurements a metric may have before its verdict turns (Argo's limits)."""

    failure_limit: int
    consecutive_error_limit: int
    inconclusive_limit: int


@dataclass(frozen=True)
class Verdict:
    """The state of an analysis; `message` shows the counts that decided it."""

    phase: VerdictPhase
    message: str
    metrics: tuple[Verdict, ...] = ()


def assess(history: Sequence[Measurement], limits: Limits) -> Verdict:
    """Argo's assessMetricStatus per metric; the combined verdict is the worst metric's.

    Per metric: FAILED if failed > failure_limit; ERROR if the trailing run of errors >
    consecutive_error_limit; INCONCLUSIVE if inconclusive > inconclusive_limit; RUNNING
    while there is no successful measurement; else SUCCESSFUL.
    """
    names = list(dict.fromkeys(m.metric for m in history))
    if not names:
        return Verdict(VerdictPhase.RUNNING, "no measurements yet")
    verdicts = tuple(
        _assess_metric(n, [m for m in history if m.metric == n], limits) for n in names
    )
    worst = min(verdicts, key=lambda v: _SEVERITY.index(v.phase)).phase
    message = "; ".join(v.message for v in verdicts if v.phase is worst)
    return Verdict(worst, message, verdicts)


def _assess_metric(metric: str, history: Sequence[Measurement], limits: Limits) -> Verdict:
    phases = [m.phase for m in history]
    failed, inconclusive = phases.count(Phase.FAILED), phases.count(Phase.INCONCLUSIVE)
    successful = phases.count(Phase.SUCCESSFUL)
    errors = _trailing(phases, Phase.ERROR)
    if failed > limits.failure_limit:
        return Verdict(
            VerdictPhase.FAILED,
            f"{metric}: failed ({failed}) > failureLimit ({limits.failure_limit}); "
            f"last: {_last_with(history, Phase.FAILED)}",
        )
    if errors > limits.consecutive_error_limit:
        return Verdict(
            VerdictPhase.ERROR,
            f"{metric}: consecutive errors ({errors}) > consecutiveErrorLimit "
            f"({limits.consecutive_error_limit}); last: {history[-1].message}",
        )
    if inconclusive > limits.inconclusive_limit:
        return Verdict(
            VerdictPhase.INCONCLUSIVE,
            f"{metric}: inconclusive ({inconclusive}) > inconclusiveLimit "
            f"({limits.inconclusive_limit}); last: {_last_with(history, Phase.INCONCLUSIVE)}",
        )
    counts = (
        f"successful ({successful}), failed ({failed}) <= failureLimit ({limits.failure_limit})"
    )
    if successful == 0:
        return Verdict(VerdictPhase.RUNNING, f"{metric}: no success yet; {counts}")
    return Verdict(VerdictPhase.SUCCESSFUL, f"{metric}: {counts}")


def _trailing(phases: Sequence[Phase], phase: Phase) -> int:
    count = 0
    for p in reversed(phases):
        if p is not phase:
            break
        count += 1
    return count


def _last_with(history: Sequence[Measurement], phase: Phase) -> str:
    return next(m.message for m in reversed(history) if m.phase is phase)
