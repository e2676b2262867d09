"""Recorded analysis windows and the judges replayed over them. Pure.

A detection run records every window the engine judged (the `SamplePair` it measured, the
step and weight it was taken at, and the engine's own measurement phases) as one JSON
line, so any judge can be replayed offline on exactly the data the engine saw:

- `replay_ours`: this project's judge (`runbooks.core.analysis.judge` + `assess`, with the
  engine's baseline rule for a step where the old color has no traffic left);
- `replay_flagger`: a Flagger-style absolute-threshold judge, the baseline of issue 8:
  each window is one check of the canary alone — request success rate >= 99 % and p99
  latency <= 500 ms (Flagger's builtin `request-success-rate` and `request-duration`);
  a check that cannot be made (query failed, no values) fails too, as Flagger's
  `runAnalysis` returning false does; every failed check adds to `failedChecks`, never
  reset during the release, and the canary is rolled back when failedChecks >= threshold.

A replay decides `rolled-back` (with the window that decided it), `promoted` (the whole
release was recorded and nothing failed) or `undecided` (the recording ended first: the
engine stopped the release before this judge made up its mind).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runbooks.core import stats
from runbooks.core.analysis import Limits, VerdictPhase, assess, judge
from runbooks.core.model import Measurement, Phase, Sample, Weights
from runbooks.core.state import SamplePair
from stackspec.model import Color, Thresholds

__all__ = [
    "FlaggerPolicy",
    "Replay",
    "Verdict",
    "Window",
    "baseline_for",
    "canary_requests_until",
    "flagger_check",
    "pair_from_json",
    "pair_to_json",
    "replay_flagger",
    "replay_ours",
    "requests_to_detect",
    "sample_from_json",
    "sample_to_json",
]

INF = "+Inf"


# -- recorded windows -----------------------------------------------------------------------


def sample_to_json(sample: Sample) -> dict[str, Any]:
    """A Sample as JSON-ready data (the +Inf bucket bound as the string "+Inf")."""
    return {
        "color": sample.color.value,
        "requests": sample.requests,
        "errors": sample.errors,
        "edge_errors": sample.edge_errors,
        "p95_seconds": sample.p95_seconds,
        "at": sample.at,
        "error": sample.error,
        "has_series": sample.has_series,
        "latency": [[INF if math.isinf(u) else u, n] for u, n in sample.latency],
    }


def sample_from_json(data: Mapping[str, Any]) -> Sample:
    """The inverse of `sample_to_json`."""
    return Sample(
        color=Color(data["color"]),
        requests=float(data["requests"]),
        errors=float(data["errors"]),
        p95_seconds=data["p95_seconds"],
        at=float(data["at"]),
        error=data["error"],
        latency=tuple((math.inf if u == INF else float(u), float(n)) for u, n in data["latency"]),
        has_series=bool(data["has_series"]),
        edge_errors=float(data["edge_errors"]),
    )


def pair_to_json(pair: SamplePair) -> dict[str, Any]:
    """A SamplePair as JSON-ready data."""
    return {"baseline": sample_to_json(pair.baseline), "canary": sample_to_json(pair.canary)}


def pair_from_json(data: Mapping[str, Any]) -> SamplePair:
    """The inverse of `pair_to_json`."""
    return SamplePair(sample_from_json(data["baseline"]), sample_from_json(data["canary"]))


@dataclass(frozen=True)
class Window:
    """One analysis window as the engine took it: step index and weight, the pair, and the
    phases the engine's judge gave each metric (empty when not known)."""

    step: int
    weight: int
    at: float
    pair: SamplePair
    phases: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (one line of the recording)."""
        return {
            "step": self.step,
            "weight": self.weight,
            "at": self.at,
            "pair": pair_to_json(self.pair),
            "phases": dict(self.phases),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Window:
        """The inverse of `as_json`."""
        return cls(
            int(data["step"]),
            int(data["weight"]),
            float(data["at"]),
            pair_from_json(data["pair"]),
            dict(data.get("phases") or {}),
        )


# -- replays --------------------------------------------------------------------------------


class Verdict(StrEnum):
    """How a replayed judge left the release."""

    PROMOTED = "promoted"
    ROLLED_BACK = "rolled-back"
    UNDECIDED = "undecided"  # the recording ended before this judge decided
    PAUSED = "paused"  # inconclusive: a human would have to decide (never a promotion)


@dataclass(frozen=True)
class Replay:
    """A judge's decision over a run's windows: when, after how many windows and requests."""

    verdict: Verdict
    decided_at: float | None = None
    windows: int = 0
    canary_requests: float = 0.0  # requests the new color served until the decision
    reason: str = ""


@dataclass(frozen=True)
class FlaggerPolicy:
    """Flagger's absolute thresholds and its analysis `threshold` (failed checks)."""

    min_success_percent: float = 99.0
    max_latency_ms: float = 500.0
    threshold: int = 1


def flagger_check(pair: SamplePair, policy: FlaggerPolicy) -> tuple[bool, str]:
    """One Flagger check of the canary alone: (passed, why)."""
    canary = pair.canary
    if canary.error is not None:
        return False, f"query failed: {canary.error}"
    rate = canary.error_rate
    if not canary.has_series or rate is None:
        return False, "no values found"
    success = 100 * (1 - rate)
    if success < policy.min_success_percent:
        return False, f"success rate {success:.3f}% < {policy.min_success_percent:g}%"
    p99 = stats.quantile(canary.latency, 0.99) if canary.latency else canary.p95_seconds
    if p99 is None:
        return False, "no latency values found"
    if p99 * 1000 > policy.max_latency_ms:
        return False, f"p99 {p99 * 1000:.1f}ms > {policy.max_latency_ms:g}ms"
    return True, f"success rate {success:.3f}%, p99 {p99 * 1000:.1f}ms"


def replay_flagger(windows: Sequence[Window], complete: bool, policy: FlaggerPolicy) -> Replay:
    """Flagger's semantics over `windows`; `complete` when the recording covers the whole
    release (the engine promoted), so a judge that never failed would have promoted."""
    failed = 0
    for index, window in enumerate(windows):
        ok, why = flagger_check(window.pair, policy)
        failed += 0 if ok else 1
        if failed >= policy.threshold:
            requests = canary_requests_until(windows, index)
            return Replay(Verdict.ROLLED_BACK, window.at, index + 1, requests, why)
    verdict = Verdict.PROMOTED if complete else Verdict.UNDECIDED
    return Replay(verdict, None, len(windows), canary_requests_until(windows, len(windows) - 1))


def replay_ours(
    windows: Sequence[Window],
    complete: bool,
    thresholds: Callable[[int], Thresholds],
    limits: Limits,
    min_requests: int,
) -> Replay:
    """This project's judge over `windows`, step by step as the engine runs it.

    `thresholds(step)` gives a step's thresholds. Within a step the history accumulates and
    is assessed after every window; a baseline with fewer than `min_requests` requests
    (the new color has all the traffic) is replaced by the last one that had enough.
    """
    history: list[Measurement] = []
    step, reference = -1, None
    for index, window in enumerate(windows):
        if window.step != step:
            step, history = window.step, []
        baseline, reference = baseline_for(window.pair.baseline, reference, min_requests)
        weights = Weights.to_new(window.pair.canary.color, window.weight)
        history += judge(baseline, window.pair.canary, thresholds(step), window.at, weights)
        verdict = assess(history, limits)
        if verdict.phase.failing:
            requests = canary_requests_until(windows, index)
            return Replay(Verdict.ROLLED_BACK, window.at, index + 1, requests, verdict.message)
        if verdict.phase is VerdictPhase.INCONCLUSIVE:
            requests = canary_requests_until(windows, index)
            return Replay(Verdict.PAUSED, window.at, index + 1, requests, verdict.message)
    end = Verdict.PROMOTED if complete else Verdict.UNDECIDED
    return Replay(end, None, len(windows), canary_requests_until(windows, len(windows) - 1))


def baseline_for(
    fresh: Sample, reference: Sample | None, min_requests: int
) -> tuple[Sample, Sample | None]:
    """The engine's rule (`runbooks.core.decide`): judge against the last baseline with
    enough traffic; returns (the baseline to judge against, the reference kept)."""
    usable = fresh.error is None and fresh.requests >= min_requests
    if usable or fresh.error is not None or reference is None:
        return fresh, fresh if usable else reference
    return reference, reference


def canary_requests_until(windows: Sequence[Window], index: int) -> float:
    """Requests the new color served up to window `index`: windows cover their step so
    far, so it is the last window of every earlier step plus window `index` itself."""
    if index < 0:
        return 0.0
    last_of: dict[int, Window] = {}
    for window in windows[: index + 1]:
        last_of[window.step] = window
    measured = [w.pair.canary for w in last_of.values() if w.pair.canary.error is None]
    return sum(c.total_requests for c in measured)


def engine_phases(measurements: Iterable[Measurement]) -> dict[str, str]:
    """The phase of each metric in one window's measurements."""
    return {m.metric: m.phase.value for m in measurements}


def failed_latency(measurements: Iterable[Measurement]) -> bool:
    """Whether the latency measurement of a window failed."""
    return any(m.metric == "p95-latency" and m.phase is Phase.FAILED for m in measurements)


# -- how much traffic an effect needs -------------------------------------------------------


def requests_to_detect(
    base_rate: float,
    new_rate: float,
    margin: float,
    confidence: float,
    power: float,
    canary_share: float,
) -> float | None:
    """Canary requests for the error test to fail a real increase with `power`.

    The two-proportion test with a margin (`runbooks.core.stats.error_increase`) at
    `confidence`, the baseline getting (1 - share) / share requests per canary request.
    None when the increase is not above the margin (it is never to be detected).
    """
    effect = new_rate - base_rate - margin
    if effect <= 0 or not 0 < canary_share < 1:
        return None
    z = stats.z_for(confidence) + stats.z_for(power)
    ratio = (1 - canary_share) / canary_share
    variance = new_rate * (1 - new_rate) + base_rate * (1 - base_rate) / ratio
    return z * z * variance / (effect * effect)
