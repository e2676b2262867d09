"""How a release looks to people as a plain log, and its state as a dict for `--json`.

The plain log (`PlainLog`) prints the public events of runbooks.cli.events, the same the
live view (runbooks.cli.live) and `--output jsonl` show, so they cannot disagree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from runbooks.cli.events import (
    Decision,
    Deployed,
    Ended,
    ReleaseEvent,
    ReleaseStarted,
    StepApplied,
    StepContracted,
    StepStarted,
    StepUndone,
    StreamContext,
    Translator,
    WeightsSet,
    WindowJudged,
    check_text,
)
from runbooks.cli.public import verdict_name
from runbooks.core.model import Measurement
from runbooks.core.plan import ReleasePlan
from runbooks.core.state import TERMINAL, Action, ReleasePhase, ReleaseState, SetWeights
from runbooks.journal.base import Event as JournalEvent
from runbooks.rollback_timing import RollbackTiming

ROLLED_BACK_PHASES = (ReleasePhase.ROLLING_BACK, ReleasePhase.ROLLED_BACK, ReleasePhase.ABORTED)
# Phase changes the plain log leaves to other lines (the step, the release steps, the end).
QUIET_ACTIONS = frozenset({"start step", "apply release steps", "finish"})


def latest_measurements(state: ReleaseState) -> list[Measurement]:
    """The newest measurement of each metric of the current step."""
    latest: dict[str, Measurement] = {}
    for measurement in state.history:
        latest[measurement.metric] = measurement
    return list(latest.values())


def plain_measurement_line(m: Measurement) -> str:
    """One metric against its threshold, without markup (for JSON and logs)."""
    return f"{m.phase.value.lower():<12} {m.metric:<13} {check_text(m)}"


def step_summary(state: ReleaseState) -> str:
    """`step 2/3 canary-50 (50% to green)`; once rolling back, where the release came from
    (never a step's weights beside a rollback's: those are the old color's)."""
    plan, step = state.plan, state.step
    where = f"step {state.step_index + 1}/{len(plan.steps)} {step.name}"
    if state.phase in ROLLED_BACK_PHASES:
        return f"{state.phase.value} from {where}; all traffic to {plan.old_color}"
    if state.phase in (ReleasePhase.PROMOTING, ReleasePhase.PROMOTED):
        return f"{state.phase.value}: all traffic to {plan.new_color}"
    if state.step_started_at is None:
        return f"{state.phase.value}, before {where}"
    return f"{where} ({step.weight}% to {plan.new_color})"


class PlainLog:
    """The plain log of a release (when output is not a terminal): each event as lines,
    and a line only when something changed: a check is printed when its verdict changes,
    a reason once (with its decision), never the same line twice in a row."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.last = ""
        self.verdicts: dict[str, str] = {}

    def __call__(self, event: ReleaseEvent) -> None:
        for line in self.lines(event):
            if line != self.last:
                self.last = line
                self.say(f"{_clock(event.at)} {line}")

    def lines(self, event: ReleaseEvent) -> list[str]:
        """What the log says of `event` (nothing when it changes nothing a person follows)."""
        if isinstance(event, WindowJudged):
            return self._window(event)
        if isinstance(event, StepStarted):
            self.verdicts = {}
        return event_lines(event)

    def _window(self, event: WindowJudged) -> list[str]:
        changed = [c for c in event.checks if self.verdicts.get(c.name) != c.verdict]
        self.verdicts |= {c.name: c.verdict for c in event.checks}
        if not changed:
            return []
        said = {(c.verdict, c.message) for c in event.checks}
        if len(said) == 1 and all(c.value is None for c in event.checks):
            # One cause for every check (no traffic, no series, provider down): say it once.
            verdict, message = said.pop()
            return [f"  {event.step}: every check {verdict}: {message}"]
        return [f"  {event.step} {c.name:<13} {c.verdict:<12} {c.text}" for c in changed]


def event_lines(event: ReleaseEvent) -> list[str]:
    """One event in words, for the plain log (no markup)."""
    if isinstance(event, ReleaseStarted):
        steps = ", ".join(f"{s.name} {s.weight}% {s.bake_seconds:g}s" for s in event.steps)
        what = f"rollback of promoted release {event.reverts}" if event.reverts else "release"
        return [
            f"{what} {event.release}: {event.service} {event.old_version} on {event.old_color}"
            f" -> {event.version} on {event.new_color} ({event.strategy}: {steps})"
        ]
    if isinstance(event, StepStarted):
        again = " restarted" if event.restarted else ""
        return [
            f"step {event.index}/{event.of} {event.name}{again}: {event.weight}% to "
            f"{event.color}, bakes {event.bake_seconds:g}s (until {_clock(event.bake_ends_at)})"
        ]
    if isinstance(event, WeightsSet):
        return [weights_line(event)]
    if isinstance(event, Decision):
        return decision_lines(event)
    if isinstance(event, Deployed):
        done = "deployed" if event.ok else "deploy FAILED:"
        return [f"{done} {event.version} on {event.color}" + _failure(event.ok, event.message)]
    if isinstance(event, StepApplied):
        return [step_change_line(event)]
    if isinstance(event, Ended):
        return [f"release {event.release} {event.outcome} after {duration_text(event.seconds)}"]
    return []


def weights_line(event: WeightsSet) -> str:
    """`weights blue 90% / green 10%`; for a consumer `partitions blue 5 / green 1 of 6`
    (or its shares in percent when the counts are not known)."""
    head = "weights" if event.ok else "weights NOT set:"
    if event.partitions is not None:
        owned = " / ".join(f"{color} {n}" for color, n in sorted(event.partitions.items()))
        total = sum(event.partitions.values())
        head = "partitions" if event.ok else "partitions NOT moved:"
        return f"{head} {owned} of {total}" + _failure(event.ok, event.message)
    shares = " / ".join(f"{color} {share}%" for color, share in sorted(event.weights.items()))
    unit = " of partitions" if event.unit == "partitions" else ""
    return f"{head} {shares}{unit}" + _failure(event.ok, event.message)


def decision_lines(event: Decision) -> list[str]:
    """A phase change: what, why (once), and the commands an operator may run now."""
    if event.action in QUIET_ACTIONS:
        return []
    reason = f": {event.reason}" if event.reason else ""
    lines = [f"{event.phase}{reason}"]
    if event.next:
        lines.extend("  " + line for line in next_lines(event.next))
    return lines


def next_lines(commands: Sequence[str]) -> list[str]:
    """`next: A`, then each other command on its line: `then` after one put in the
    background (`... &`, run first), else `or` (alternatives)."""
    lines = ["next: " + commands[0]]
    for before, command in pairwise(commands):
        joint = "then" if before.rstrip().endswith("&") else "  or"
        lines.append(f"{joint} {command}")
    return lines


def step_change_line(event: StepApplied) -> str:
    """`applied release step db-migration`, `undid ...`, `contracted ...`."""
    verb = {StepUndone: "undid", StepContracted: "contracted"}.get(type(event), "applied")
    head = f"{verb} release step {event.name}" if event.ok else f"FAILED: {verb} {event.name}"
    return head + _failure(event.ok, event.message)


def _failure(ok: bool, message: str) -> str:
    return "" if ok or not message else f": {message}"


def _clock(at: float | None) -> str:
    return "-" if at is None else time.strftime("%H:%M:%S", time.localtime(at))


class TurnPrinter:
    """The plain log for callers that see only the engine's turns (the rehearsal, which
    runs several releases): each turn is translated as the journal would record it;
    weights show as decided."""

    def __init__(self, say: Callable[[str], None], stack: str = "local") -> None:
        self.log = PlainLog(say)
        self.context = StreamContext(stack)
        self.translators: dict[ReleasePlan, Translator] = {}
        self.ended: set[ReleasePlan] = set()

    def __call__(self, state: ReleaseState, actions: Sequence[Action]) -> None:
        now = time.time()
        # One translator per plan: a member of a multi-service release, or the next release
        # (a plan seen again once its release ended is a new release of it).
        if state.plan not in self.translators or state.plan in self.ended:
            self.ended.discard(state.plan)
            self.translators[state.plan] = Translator(self.context)
            self._feed(state.plan, now, "release.started", {})
        if state.phase in TERMINAL:
            self.ended.add(state.plan)
        self._feed(state.plan, now, "decision", {"state": state.to_dict(), "actions": []})
        for action in actions:
            if isinstance(action, SetWeights):
                data = {"type": "SetWeights", "service": action.service}
                done = {"action": data | {"weights": vars(action.weights)}}
                self._feed(state.plan, now, "action.done", done)

    def _feed(self, plan: ReleasePlan, at: float, kind: str, data: dict[str, Any]) -> None:
        for event in self.translators[plan].feed(JournalEvent(0, "", at, kind, data)):
            self.log(event)


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
                "phase": verdict_name(m.phase.value),
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
