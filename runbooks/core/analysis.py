"""Analysis: samples in, measurements out; measurements in, verdict out. Pure.

`judge` compares the new color (canary) against the old color (baseline) over one window —
the whole step so far, so evidence adds up — and returns one `Measurement` per metric, each
stating its value, the baseline's, the limit and why it has its phase:

- ``error-rate``: is the canary's error rate higher than the baseline's by more than
  ``errorRateIncreasePp``, with ``confidencePercent`` confidence? (two proportions with a
  margin, on whole counts; router-side failures count as errors of their color);
- ``p95-latency`` (only against a baseline serving traffic in the same window, since
  latency depends on load): is the canary slower than the baseline times
  ``1 + p95LatencyIncreasePercent / 100``, with that confidence? Two tests on the latency
  histograms, either fails it: Mann-Whitney U against the shifted baseline (the whole
  distribution moved, as Kayenta judges) and a binomial test of more than 5% of the canary
  above the baseline's p95 x (1 + effect) (the tail alone moved). Latency under
  ``p95LatencyFloorMs`` counts as the floor in both tests (differences down there are
  noise, not evidence); when both p95s are under it the metric is "under the floor: not
  judged". A provider without histograms gives only p95s: then the ratio is compared with
  the limit, as a point value;
- ``availability``: is the canary's error rate above ``1 - availabilityPercent``, with that
  confidence (Clopper-Pearson)?
- ``consumer-lag`` (consumers only): is the new color's lag (records its furthest-behind
  partition stayed behind over the last interval) above ``maxConsumerLag`` AND above the old
  color's times ``1 + consumerLagIncreasePercent / 100``? A point value, like a p95 without
  histograms.
  Against a baseline that consumes nothing now (``live`` False), the limit alone judges it.
See `runbooks.core.stats`. Noise below the effect never fails, whatever the traffic.

Consumers (samples of kind "consumer") are judged by the same checks: their requests are
records (processed + failed), their errors the records that failed, their latency the
processing time. Lag is judged even below ``minRequests``: a consumer that stopped
processing has no records to count, and its lag is the evidence.

No data is never a pass: a sample with ``error`` set gives ERROR; a color that has router
weight but no series at all gives ERROR (not "too little traffic"); fewer canary requests
than ``minRequests`` gives INCONCLUSIVE; a metric with nothing to compare against (no
baseline requests or latencies) is INCONCLUSIVE on its own.

`assess` follows Argo Rollouts' assessMetricStatus: FAILED when failed > failureLimit, ERROR
when the trailing errors > consecutiveErrorLimit, INCONCLUSIVE when inconclusive >
inconclusiveLimit. Deliberate differences:
- SUCCESSFUL needs the LAST ``consecutiveSuccessLimit`` measurements to be successful
  (Argo counts successes anywhere and ends a run on `count`): a window in error or
  inconclusive at the end of a step keeps the step going until the limits decide, so a
  provider that stops answering can never let a step complete or a release promote.
- there is no `count`: a step's bake time decides how many windows it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from runbooks.core import stats
from runbooks.core.model import Measurement, Phase, Sample, Weights
from stackspec.model import Thresholds

__all__ = [
    "AVAILABILITY",
    "CONSUMER_LAG",
    "CONSUMER_METRICS",
    "ERROR_RATE",
    "METRICS",
    "P95_LATENCY",
    "Limits",
    "Verdict",
    "VerdictPhase",
    "assess",
    "judge",
]

ERROR_RATE = "error-rate"
P95_LATENCY = "p95-latency"
AVAILABILITY = "availability"
CONSUMER_LAG = "consumer-lag"
METRICS = (ERROR_RATE, P95_LATENCY, AVAILABILITY)
CONSUMER_METRICS = (*METRICS, CONSUMER_LAG)


def judge(
    baseline: Sample,
    canary: Sample,
    thresholds: Thresholds,
    at: float,
    weights: Weights | None = None,
    live: bool = True,
) -> tuple[Measurement, ...]:
    """One measurement per metric in `METRICS` order (`CONSUMER_METRICS` when either sample
    is a consumer's): the canary judged against the baseline.

    `weights` is the split the router had (for consumers, the share of partitions): a color
    with weight must have series. `live` is False when the baseline is an earlier window
    (the old color serves nothing now): then latency is not judged, because latency depends
    on load and the new color now carries all of it — it was judged against a live baseline
    at the earlier steps; lag is then judged against `maxConsumerLag` alone.
    """
    consumer = "consumer" in (canary.kind, baseline.kind)
    names = CONSUMER_METRICS if consumer else METRICS
    broken = canary if canary.error is not None else baseline
    if broken.error is not None:
        message = f"could not measure {broken.color}: {broken.error}"
        return _all(names, Phase.ERROR, at, message)
    for sample in (canary, baseline):
        weight = weights.of(sample.color) if weights is not None else 0
        if not sample.has_series and weight > 0:
            share = "of the partitions" if consumer else "of the traffic"
            message = (
                f"no series for {sample.color} although it has {weight}% {share}: "
                f"its metrics are missing, not its {sample.unit}"
            )
            return _all(names, Phase.ERROR, at, message)
    lag = (_judge_lag(baseline, canary, thresholds, at, live),) if consumer else ()
    if canary.total_requests < thresholds.min_requests:
        message = (
            f"too little traffic: {canary.total_requests:g} {canary.unit} to {canary.color} "
            f"< minRequests ({thresholds.min_requests})"
        )
        return _all(METRICS, Phase.INCONCLUSIVE, at, message) + lag
    confidence = thresholds.confidence_percent / 100
    return (
        _judge_error_rate(baseline, canary, thresholds.error_rate_increase_pp, confidence, at),
        _judge_latency(baseline, canary, thresholds, confidence, at)
        if live
        else _latency_not_judged(baseline, canary, thresholds, at),
        _judge_availability(canary, thresholds.availability_percent, confidence, at),
        *lag,
    )


def _all(names: Sequence[str], phase: Phase, at: float, message: str) -> tuple[Measurement, ...]:
    return tuple(Measurement(m, phase, None, None, at, message) for m in names)


def _judge_error_rate(
    baseline: Sample, canary: Sample, limit_pp: float, confidence: float, at: float
) -> Measurement:
    base_rate, new_rate = baseline.error_rate, canary.error_rate
    if base_rate is None or new_rate is None:
        message = (
            f"no {baseline.unit} on baseline {baseline.color} to compare the error rate against"
        )
        return Measurement(ERROR_RATE, Phase.INCONCLUSIVE, None, limit_pp, at, message)
    increase_pp = (new_rate - base_rate) * 100
    z = stats.error_increase(
        baseline.total_errors,
        baseline.total_requests,
        canary.total_errors,
        canary.total_requests,
        limit_pp / 100,
    )
    needed = stats.z_for(confidence)
    failed = z > needed
    reason = (
        f"worse by more than {limit_pp:g}pp at {confidence:.0%} confidence"
        if failed
        else f"not shown to be worse by more than {limit_pp:g}pp at {confidence:.0%} confidence"
    )
    message = (
        f"error rate {new_rate:.3%} ({canary.total_errors:g}/{canary.total_requests:g}) vs "
        f"baseline {base_rate:.3%} ({baseline.total_errors:g}/{baseline.total_requests:g}): "
        f"{increase_pp:+.3f}pp, limit +{limit_pp:g}pp; z {z:.2f} vs {needed:.2f}: {reason}"
    )
    phase = Phase.FAILED if failed else Phase.SUCCESSFUL
    return Measurement(ERROR_RATE, phase, increase_pp, limit_pp, at, message, base_rate * 100)


def _judge_latency(
    baseline: Sample, canary: Sample, thresholds: Thresholds, confidence: float, at: float
) -> Measurement:
    effect = thresholds.p95_latency_increase_percent / 100
    limit = 1 + effect
    floor = thresholds.p95_latency_floor_ms / 1000
    base = _p95(baseline)
    new = _p95(canary)
    if new is None:
        message = f"no latency for {canary.color}"
        return Measurement(P95_LATENCY, Phase.INCONCLUSIVE, None, limit, at, message)
    if base is None or base <= 0:
        message = f"no latency on baseline {baseline.color} to compare against"
        return Measurement(P95_LATENCY, Phase.INCONCLUSIVE, None, limit, at, message)
    ratio = new / base
    head = (
        f"p95 {new * 1000:.2f}ms vs baseline {base * 1000:.2f}ms: "
        f"ratio {ratio:.3f}, limit {limit:.3f}"
    )
    if new < floor and base < floor:
        message = f"{head}: under the floor ({floor * 1000:g}ms): not judged"
        return Measurement(P95_LATENCY, Phase.SUCCESSFUL, None, limit, at, message, base)
    if not (baseline.latency and canary.latency):
        failed = ratio > limit
        why = "slower than the limit (point value: no histogram)" if failed else "within the limit"
        phase = Phase.FAILED if failed else Phase.SUCCESSFUL
        return Measurement(P95_LATENCY, phase, ratio, limit, at, f"{head}: {why}", base)
    failed, why = _latency_tests(baseline, canary, effect, confidence, floor)
    phase = Phase.FAILED if failed else Phase.SUCCESSFUL
    return Measurement(P95_LATENCY, phase, ratio, limit, at, f"{head}; {why}", base)


def _latency_not_judged(
    baseline: Sample, canary: Sample, thresholds: Thresholds, at: float
) -> Measurement:
    limit = 1 + thresholds.p95_latency_increase_percent / 100
    new, base = _p95(canary), _p95(baseline)
    shown = f"p95 {new * 1000:.2f}ms" if new is not None else "no latency"
    was = f" (baseline {base * 1000:.2f}ms at the last step with traffic)" if base else ""
    message = (
        f"{shown}{was}: not judged: {baseline.color} serves no traffic now, and latency "
        "is only compared at the same load (it was at the earlier steps)"
    )
    return Measurement(P95_LATENCY, Phase.SUCCESSFUL, None, limit, at, message, base)


def _latency_tests(
    baseline: Sample, canary: Sample, effect: float, confidence: float, floor: float
) -> tuple[bool, str]:
    needed = stats.z_for(confidence)
    tail = stats.tail_test(baseline.latency, canary.latency, effect, confidence, floor)
    tailed = tail is not None and tail.significant
    counted = f" (under {floor * 1000:g}ms counted as {floor * 1000:g}ms)" if floor > 0 else ""
    base_median = stats.quantile(baseline.latency, 0.5) or 0.0
    if base_median * (1 + effect) >= floor:
        shift = stats.shift_test(baseline.latency, canary.latency, effect, floor)
        shifted = shift.z > needed
        head = (
            f"Mann-Whitney vs baseline x{1 + effect:.2f}{counted}: z {shift.z:.2f} vs {needed:.2f}"
        )
    else:
        # With the bulk under the floor, a clamped Mann-Whitney only compares tails, and
        # more sharply than the p95 criterion does: the tail test alone judges the p95.
        shifted = False
        head = f"median under the floor ({floor * 1000:g}ms): p95 tail test only"
    parts = [head]
    if tail is not None:
        share = tail.slower / tail.total if tail.total else 0.0
        parts.append(
            f"{share:.1%} of requests above {tail.threshold_seconds * 1000:.2f}ms (p95 allows 5%)"
        )
    verdict = (
        f"slower by more than {effect:.0%} at {confidence:.0%} confidence"
        if shifted or tailed
        else f"not shown to be slower by more than {effect:.0%} at {confidence:.0%} confidence"
    )
    return shifted or tailed, "; ".join(parts) + f": {verdict}"


def _p95(sample: Sample) -> float | None:
    if sample.latency:
        return stats.quantile(sample.latency, 0.95)
    return sample.p95_seconds


def _judge_lag(
    baseline: Sample, canary: Sample, thresholds: Thresholds, at: float, live: bool
) -> Measurement:
    limit = thresholds.max_consumer_lag
    factor = 1 + thresholds.consumer_lag_increase_percent / 100
    new, base = canary.lag, baseline.lag
    if new is None:
        message = f"no consumer lag for {canary.color}: it owns no partition or exports no lag"
        return Measurement(CONSUMER_LAG, Phase.INCONCLUSIVE, None, limit, at, message)
    head = f"consumer lag {new:g} records on {canary.color}'s worst partition"
    versus = f" vs baseline {base:g}" if base is not None else ""
    if new <= limit:
        message = f"{head}{versus}: within maxConsumerLag ({limit})"
        return Measurement(CONSUMER_LAG, Phase.SUCCESSFUL, new, limit, at, message, base)
    if not live:
        message = (
            f"{head}: above maxConsumerLag ({limit}); {baseline.color} consumes nothing now, "
            "so the limit alone judges it"
        )
        return Measurement(CONSUMER_LAG, Phase.FAILED, new, limit, at, message, base)
    if base is None:
        message = f"{head}: above maxConsumerLag ({limit}), but no lag on baseline {baseline.color}"
        return Measurement(CONSUMER_LAG, Phase.INCONCLUSIVE, new, limit, at, message)
    failed = new > base * factor
    why = (
        f"above maxConsumerLag ({limit}) and above the baseline x{factor:.2f}"
        if failed
        else f"above maxConsumerLag ({limit}) but not above the baseline x{factor:.2f}: "
        "the stream is behind on both colors"
    )
    phase = Phase.FAILED if failed else Phase.SUCCESSFUL
    return Measurement(CONSUMER_LAG, phase, new, limit, at, f"{head}{versus}: {why}", base)


def _judge_availability(
    canary: Sample, percent: float, confidence: float, at: float
) -> Measurement:
    if canary.error_rate is None:
        message = f"no {canary.unit} on {canary.color}"
        return Measurement(AVAILABILITY, Phase.INCONCLUSIVE, None, percent, at, message)
    availability = 100 * (1 - canary.error_rate)
    below = stats.errors_above(
        canary.total_errors, canary.total_requests, 1 - percent / 100, confidence
    )
    reason = (
        f"below the limit at {confidence:.0%} confidence"
        if below
        else f"not shown to be below the limit at {confidence:.0%} confidence"
    )
    message = (
        f"availability {availability:.3f}% ({canary.total_errors:g} of "
        f"{canary.total_requests:g} failed), limit {percent:g}%: {reason}"
    )
    phase = Phase.FAILED if below else Phase.SUCCESSFUL
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
    consecutive_success_limit: int = 1


@dataclass(frozen=True)
class Verdict:
    """The state of an analysis; `message` shows the counts that decided it."""

    phase: VerdictPhase
    message: str
    metrics: tuple[Verdict, ...] = ()


def assess(history: Sequence[Measurement], limits: Limits) -> Verdict:
    """Argo's assessMetricStatus per metric; the combined verdict is the worst metric's.

    Per metric: FAILED if failed > failure_limit; ERROR if the trailing run of errors >
    consecutive_error_limit; INCONCLUSIVE if inconclusive > inconclusive_limit; SUCCESSFUL
    when the last consecutive_success_limit measurements are successful; else RUNNING.
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
    successful = _trailing(phases, Phase.SUCCESSFUL)
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
    needed = limits.consecutive_success_limit
    counts = (
        f"successful in a row ({successful}) of consecutiveSuccessLimit ({needed}), "
        f"failed ({failed}) <= failureLimit ({limits.failure_limit})"
    )
    if successful < needed:
        last = history[-1]
        return Verdict(
            VerdictPhase.RUNNING,
            f"{metric}: waiting for {needed} successful windows in a row; {counts}; "
            f"last: {last.phase.value}: {last.message}",
        )
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
