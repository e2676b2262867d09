"""The detection budget: before a release starts, how long a fault could last, per step. Pure.

For each step, from the plan (analysis interval, minRequests, failureLimit,
consecutiveErrorLimit) and the request rate the old color serves now:
- `to_min_sample`: seconds until the new color has served minRequests at its weight;
- `fault_to_rollback`: worst case, for a version that fails every measurement from the start
  of the step, until every request is back on the old color. Windows cover the step so far
  and are judged every interval from the step's start, so the first failed measurement is
  the first tick after the minimum sample, and the rollback starts at the
  (failureLimit + 1)-th: ceil(to_min_sample / interval) + failureLimit ticks;
- `outage_to_rollback`: worst case for a metrics provider that stops answering during the
  step: consecutiveErrorLimit + 1 errors in a row, one per interval, plus the interval the
  outage may begin in. (A step never ends on a window in error: see `analysis`.)
A step without analysis (weight 0 in a canary) has neither.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from runbooks.core.plan import ReleasePlan

__all__ = ["StepBudget", "detection_budget"]


@dataclass(frozen=True)
class StepBudget:
    """The budget of one step; None where it does not apply (or never ends: no traffic)."""

    step: str
    weight: int
    new_color_rps: float
    to_min_sample: float | None
    fault_to_rollback: float | None
    outage_to_rollback: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def line(self) -> str:
        """One line for people."""
        if self.outage_to_rollback is None:
            return f"{self.step}: {self.weight}%, not analysed"
        fault = (
            f"a faulty version is back on the old color within {self.fault_to_rollback:.0f}s"
            if self.fault_to_rollback is not None
            else "never judged: no traffic reaches the new color"
        )
        sample = (
            f"minRequests after {self.to_min_sample:.1f}s"
            if self.to_min_sample is not None
            else "no traffic"
        )
        return (
            f"{self.step}: {self.weight}% = {self.new_color_rps:.1f} req/s to the new color, "
            f"{sample}; {fault}; metrics outage -> rollback within "
            f"{self.outage_to_rollback:.0f}s"
        )


def detection_budget(plan: ReleasePlan, requests_per_second: float) -> tuple[StepBudget, ...]:
    """The budget of every step of `plan` at the old color's current request rate."""
    interval = plan.analysis_interval_seconds
    limits = plan.limits
    outage = (limits.consecutive_error_limit + 2) * interval
    budgets = []
    for step in plan.steps:
        rate = requests_per_second * step.weight / 100
        if not step.analysed:
            budgets.append(StepBudget(step.name, step.weight, rate, None, None, None))
            continue
        needed = plan.thresholds_for(step).min_requests
        to_sample = needed / rate if rate > 0 else None
        fault = None
        if to_sample is not None:
            ticks = max(1, math.ceil(to_sample / interval)) + limits.failure_limit
            fault = ticks * interval
        budgets.append(StepBudget(step.name, step.weight, rate, to_sample, fault, outage))
    return tuple(budgets)
