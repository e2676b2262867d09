"""How a release looks to people (one line per turn, a block for status) and to CI (dicts)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from runbooks.core.model import Measurement, Phase
from runbooks.core.state import (
    Action,
    ApplyReleaseStep,
    NotifyEvent,
    ReleaseState,
    SetWeights,
    UndoReleaseStep,
    Wait,
)
from runbooks.rollback_timing import RollbackTiming

PHASE_STYLE = {
    Phase.SUCCESSFUL: "green",
    Phase.FAILED: "red",
    Phase.ERROR: "red",
    Phase.INCONCLUSIVE: "yellow",
}


def latest_measurements(state: ReleaseState) -> list[Measurement]:
    """The newest measurement of each metric of the current step."""
    latest: dict[str, Measurement] = {}
    for measurement in state.history:
        latest[measurement.metric] = measurement
    return list(latest.values())


def measurement_line(m: Measurement) -> str:
    """One metric against its threshold, colored by phase."""
    style = PHASE_STYLE.get(m.phase, "white")
    return f"[{style}]{m.phase.value:<12}[/{style}] {m.metric:<13} {m.message}"


def step_summary(state: ReleaseState) -> str:
    """`step 2/3 canary-50 (50% to green)` or the phase when no step runs."""
    plan, step = state.plan, state.step
    return (
        f"step {state.step_index + 1}/{len(plan.steps)} {step.name} "
        f"({step.weight}% to {plan.new_color})"
    )


class TurnPrinter:
    """Prints a turn only when something a person cares about changed (not every wait)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.seen: tuple[object, ...] = ()

    def __call__(self, state: ReleaseState, actions: Sequence[Action]) -> None:
        moved = any(
            isinstance(a, SetWeights | NotifyEvent | ApplyReleaseStep | UndoReleaseStep)
            for a in actions
        )
        key = (state.phase, state.step_index, len(state.history))
        if moved or key != self.seen:
            self.seen = key
            for line in turn_lines(state, actions, time.time()):
                self.say(line)


def turn_lines(state: ReleaseState, actions: Sequence[Action], now: float) -> list[str]:
    """What a person watching a rollout is told after one decision."""
    lines = [f"{time.strftime('%H:%M:%S')} {state.phase.value:<18} {step_summary(state)}"]
    for action in actions:
        if isinstance(action, SetWeights):
            w = action.weights
            lines.append(f"    weights  blue {w.blue}% / green {w.green}%")
        elif isinstance(action, ApplyReleaseStep | UndoReleaseStep):
            verb = "apply" if isinstance(action, ApplyReleaseStep) else "undo"
            lines.append(f"    {verb} release step {action.name}")
        elif isinstance(action, NotifyEvent):
            lines.append(f"    {action.kind.value}: {action.message}")
        elif isinstance(action, Wait) and action.until > now:
            lines.append(f"    next check in {action.until - now:.0f}s")
    lines.extend("    " + measurement_line(m) for m in latest_measurements(state))
    return lines


def state_dict(state: ReleaseState, now: float) -> dict[str, Any]:
    """A release's state for `--json`: phase, step, measurements, time to next step."""
    step = state.step
    bake_end = (state.step_started_at or now) + step.bake_seconds
    return {
        "phase": state.phase.value,
        "step": {
            "index": state.step_index,
            "name": step.name,
            "weight": step.weight,
            "of": len(state.plan.steps),
            "seconds_to_bake_end": max(0.0, bake_end - now) if state.step_started_at else None,
        },
        "old_color": state.plan.old_color.value,
        "new_color": state.plan.new_color.value,
        "measurements": [
            {
                "metric": m.metric,
                "phase": m.phase.value,
                "value": m.value,
                "threshold": m.threshold,
                "message": m.message,
            }
            for m in latest_measurements(state)
        ],
        "reason": state.reason,
    }


def duration_text(seconds: float | None) -> str:
    """`0.4s`, `12s`, `4m 05s`; `-` for a step that never ended."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s"


def rollback_lines(timing: RollbackTiming) -> list[str]:
    """Each step of a rollback with its duration, then the total against its target."""
    lines = [f"rollback of {timing.service} ({timing.kind.value} change), step by step:"]
    for step in timing.steps:
        tries = f" ({step.attempts} attempts)" if step.attempts > 1 else ""
        failed = "" if step.ok else "  [red]failed[/red]"
        lines.append(f"    {step.name:<28} {duration_text(step.seconds):>8}{tries}{failed}")
    target = f"{duration_text(timing.target_seconds)} target for a {timing.kind.value} change"
    if timing.met:
        verdict = f"[green]within[/green] the {target}"
    elif timing.completed:
        verdict = f"[red]over[/red] the {target}"
    else:
        verdict = f"[red]not completed[/red]; the {target} is not met"
    lines.append(f"    {'total':<28} {duration_text(timing.total_seconds):>8}  {verdict}")
    return lines
