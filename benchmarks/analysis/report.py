"""The detection matrix's figures from recorded runs. Pure: runs and windows in, Figures out.

Per run, both judges are read off the same recorded windows: ours is the engine's own
outcome (the replay of `runbooks.core.analysis` over the windows must agree with it, and
`replay_agrees` says whether it did); the Flagger-style judge is replayed
(`benchmarks.judges.replay_flagger`). Time to detect runs from the fault's onset (the new
color's first verified weight, or the provider's stop) to the decision.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.figures import Figure
from benchmarks.judges import (
    FlaggerPolicy,
    Replay,
    Verdict,
    Window,
    replay_flagger,
    replay_ours,
    requests_to_detect,
)
from runbooks.core import stats
from runbooks.core.analysis import P95_LATENCY, judge
from runbooks.core.budget import detection_budget
from runbooks.core.model import Phase, Weights
from runbooks.core.plan import ReleasePlan
from runbooks.core.state import SamplePair
from stackspec.model import Thresholds


@dataclass(frozen=True)
class RunFacts:
    """What the report needs of one run (see `benchmarks.analysis.live.RunResult`)."""

    outcome: str  # the engine's: promoted | rolled-back | aborted
    plan: ReleasePlan
    onset: float | None  # the fault began: new color's first traffic, or the outage
    decided: float | None  # the engine decided to roll back
    windows: tuple[Window, ...]
    rate: float  # requests/s the load achieved during the run
    old_error_rate: float = 0.0
    new_error_rate: float = 0.0


@dataclass(frozen=True)
class Judged:
    """One judge's reading of one run."""

    verdict: str
    seconds: float | None  # onset to decision
    requests: float | None  # new-color requests until the decision
    within_deadline: bool | None


def deadline_seconds(facts: RunFacts, confidence: float, power: float) -> float:
    """Issue 8's bar: 2 analysis intervals after the minimum sample of the first step.

    The minimum sample is the budget's (`runbooks.core.budget`, minRequests at the rate the
    load achieved), or, for an error increase, the requests the test needs to catch it with
    `power` when that is more (a +0.5 pp increase needs thousands, not minRequests).
    """
    first = detection_budget(facts.plan, facts.rate)[0]
    needed = first.to_min_sample or 0.0
    margin = facts.plan.thresholds.error_rate_increase_pp / 100
    share = first.weight / 100
    requests = requests_to_detect(
        facts.old_error_rate, facts.new_error_rate, margin, confidence, power, share
    )
    if requests is not None and first.new_color_rps > 0 and share < 1:
        needed = max(needed, requests / first.new_color_rps)
    return needed + 2 * facts.plan.analysis_interval_seconds


def judge_ours(facts: RunFacts, deadline: float) -> tuple[Judged, Replay]:
    """The engine's outcome, with the replay of our judge over the same windows."""
    plan = facts.plan
    replay = replay_ours(
        facts.windows,
        facts.outcome == "promoted",
        lambda i: plan.thresholds_for(plan.steps[i]),
        plan.limits,
        plan.thresholds.min_requests,
    )
    seconds = _after(facts.decided, facts.onset)
    requests = replay.canary_requests if replay.verdict is Verdict.ROLLED_BACK else None
    within = None if seconds is None else seconds <= deadline
    return Judged(facts.outcome, seconds, requests, within), replay


def judge_flagger(facts: RunFacts, policy: FlaggerPolicy, deadline: float) -> Judged:
    """The Flagger-style judge replayed over the run's windows."""
    replay = replay_flagger(facts.windows, facts.outcome == "promoted", policy)
    seconds = _after(replay.decided_at, facts.onset)
    requests = replay.canary_requests if replay.verdict is Verdict.ROLLED_BACK else None
    within = None if seconds is None else seconds <= deadline
    return Judged(replay.verdict.value, seconds, requests, within)


def _after(at: float | None, onset: float | None) -> float | None:
    return None if at is None or onset is None else round(at - onset, 3)


@dataclass(frozen=True)
class Tally:
    """One judge over all runs of a scenario."""

    runs: int
    promoted: int
    rolled_back: int
    within_deadline: int
    median_seconds: float | None
    median_requests: float | None

    @classmethod
    def of(cls, judged: Sequence[Judged]) -> Tally:
        """Counts and medians (medians over the runs that rolled back)."""
        back = [j for j in judged if j.verdict == "rolled-back"]
        seconds = [j.seconds for j in back if j.seconds is not None]
        requests = [j.requests for j in back if j.requests is not None]
        return cls(
            runs=len(judged),
            promoted=sum(1 for j in judged if j.verdict == "promoted"),
            rolled_back=len(back),
            within_deadline=sum(1 for j in back if j.within_deadline),
            median_seconds=round(statistics.median(seconds), 3) if seconds else None,
            median_requests=round(statistics.median(requests)) if requests else None,
        )

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)

    def words(self) -> str:
        """One short phrase for the comparison line."""
        median = (
            f", median {self.median_seconds:g} s / {self.median_requests:g} requests"
            if self.median_seconds is not None and self.median_requests is not None
            else ""
        )
        return (
            f"{self.rolled_back}/{self.runs} rolled back, {self.promoted}/{self.runs} "
            f"promoted{median}"
        )


def scenario_figure(
    name: str, kind: str, ours: Sequence[Judged], flagger: Sequence[Judged], details: dict[str, Any]
) -> Figure:
    """The figure of one scenario: our judge against the Flagger-style one, same windows."""
    mine, theirs = Tally.of(ours), Tally.of(flagger)
    runs = max(mine.runs, 1)
    details = details | {"ours": mine.as_json(), "flagger_style": theirs.as_json()}
    comparison = f"ours: {mine.words()}; Flagger-style: {theirs.words()}"
    if kind == "noise":
        return Figure(
            f"detection_{name}",
            mine.rolled_back,
            "false rollbacks",
            theirs.rolled_back,
            comparison,
            f"0 false rollbacks, promoted {mine.runs}/{mine.runs}",
            mine.rolled_back == 0 and mine.promoted == mine.runs and mine.runs > 0,
            details,
        )
    if kind == "no-data":
        return Figure(
            f"detection_{name}",
            mine.promoted,
            "promotions without data",
            theirs.promoted,
            comparison,
            "0 promotions",
            mine.promoted == 0 and mine.runs > 0,
            details,
        )
    rate, base = mine.rolled_back / runs, theirs.rolled_back / max(theirs.runs, 1)
    return Figure(
        f"detection_{name}",
        round(rate, 3),
        "detection rate",
        round(base, 3),
        comparison,
        ">= 0.95 detected, each within 2 analysis intervals after the minimum sample",
        rate >= 0.95 and mine.within_deadline == mine.rolled_back and mine.runs > 0,
        details,
    )


# -- latency noise between two healthy colors ----------------------------------------------


@dataclass(frozen=True)
class NoisePoint:
    """One window of two healthy colors: both p95s and whether our judge failed it."""

    base_ms: float
    new_ms: float
    failed: bool

    def slower(self, effect: float) -> bool:
        """Whether the new color's p95 reads above the old one's by more than `effect`."""
        return self.new_ms > self.base_ms * (1 + effect)

    @property
    def spread(self) -> float:
        """How far apart the p95s are, as a ratio >= 1 (either direction)."""
        low, high = sorted((self.base_ms, self.new_ms))
        return high / low if low > 0 else math.inf


def noise_point(pair: SamplePair, thresholds: Thresholds, weight: int) -> NoisePoint | None:
    """The window's p95s and our latency verdict with no floor; None without latencies."""
    base, new = _p95_ms(pair.baseline.latency), _p95_ms(pair.canary.latency)
    if base is None or new is None:
        return None
    unfloored = thresholds.model_copy(update={"p95_latency_floor_ms": 0.0})
    weights = Weights.to_new(pair.canary.color, weight)
    measured = judge(pair.baseline, pair.canary, unfloored, pair.canary.at, weights)
    failed = any(m.metric == P95_LATENCY and m.phase is Phase.FAILED for m in measured)
    return NoisePoint(base, new, failed)


def _p95_ms(latency: Sequence[tuple[float, float]]) -> float | None:
    value = stats.quantile(latency, 0.95) if latency else None
    return None if value is None else value * 1000


def justified_floor_ms(points: Sequence[NoisePoint], effect: float, default: float) -> float:
    """The p95 under which healthy noise alone would fail a release: the slower p95 of the
    slowest healthy window in which the new color read slower than the old by more than the
    effect, or that our judge failed, rounded up to whole ms; `default` when none did.

    One-sided, as the judge is: a new color that reads faster than the old never fails.
    """
    offending = [max(p.base_ms, p.new_ms) for p in points if p.failed or p.slower(effect)]
    return float(math.ceil(max(offending))) if offending else default


def noise_figure(
    levels: Mapping[str, Sequence[NoisePoint]], effect: float, default_floor: float
) -> Figure:
    """Healthy-vs-healthy p95 spread across windows, and the floor it justifies."""
    points = [p for group in levels.values() for p in group]
    spreads = sorted(p.spread for p in points)
    p95 = _quantile(spreads, 0.95)
    floor = justified_floor_ms(points, effect, default_floor)
    per_level = {name: _level(group) for name, group in levels.items()}
    return Figure(
        "latency_noise_p95_ratio_between_healthy_colors",
        p95,
        "p95 ratio spread (95th percentile over windows, >= 1)",
        round(1 + effect, 3),
        f"healthy colors' p95s differ by up to x{p95} in 95% of {len(points)} windows "
        f"(effect judged: x{1 + effect:g}); floor justified: {floor:g} ms",
        "measured (>= 5 windows); justifies p95LatencyFloorMs",
        len(points) >= 5,
        {
            "windows": len(points),
            "max_spread": _round(spreads[-1]) if spreads else None,
            "judge_failed_without_floor": sum(1 for p in points if p.failed),
            "justified_floor_ms": floor,
            "levels": per_level,
        },
    )


def _level(points: Sequence[NoisePoint]) -> dict[str, Any]:
    spreads = sorted(p.spread for p in points)
    bases = sorted(p.base_ms for p in points)
    return {
        "windows": len(points),
        "median_base_p95_ms": _round(statistics.median(bases)) if bases else None,
        "spread_median": _quantile(spreads, 0.5),
        "spread_p95": _quantile(spreads, 0.95),
        "spread_max": _round(spreads[-1]) if spreads else None,
        "judge_failed_without_floor": sum(1 for p in points if p.failed),
        "new_slower_than_effect": sum(1 for p in points if p.slower(0.10)),
    }


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    return _round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))])


def _round(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else round(value, 4)
