"""The public events of a release: one schema for the live view, the plain log and CI.

A release's journal (decisions, action results, its start and end) is translated into a
short list of events a person or a CI job cares about. Every output derives from them: the
live view folds them into a picture (runbooks.cli.live), the plain log prints each as lines
(runbooks.cli.view), `--output jsonl` prints each as one JSON object a line as it happens,
and `--output json` carries them all in its one document. So the outputs cannot disagree.

Each event's JSON form (`as_json()`) has `event` (its kind, below), `at` (ISO 8601, UTC,
milliseconds, `Z`), `release` and `service`, then its own fields; values are plain JSON
(no markup, no epoch floats, no internal class names such as `SetWeights` or `Analyse`):

    release-started  version, old_version, old_color, new_color, strategy, reverts,
                     steps [{name, weight, bake_seconds}]
    step-started     index (from 1), of, name, weight, color (the new one), bake_seconds,
                     bake_ends_at, next_check_at, restarted (a resume restarts the step)
    weights-set      weights {blue, green} (percent), unit (traffic | partitions), ok, message,
                     partitions {blue, green} (a consumer's partitions per color, else null)
    window-judged    step, verdict (the step's so far), next_check_at,
                     checks [{name, verdict, value, threshold, unit (of both),
                     baseline (the old color's), baseline_unit, text, message}]
    decision         phase, step, action (deploy | apply release steps | start step | pause |
                     await promotion | promote | roll back | finish | ...), reason,
                     next [the exact commands an operator may run now]
    deployed         color, version, ok, message
    step-applied     name, ok, message (a release step: db-migration, cache-bump, ...)
    step-undone      name, ok, message
    step-contracted  name, ok, message
    outcome          outcome (promoted | rolled-back | aborted), reason, seconds, weights

Verdicts are lowercase words: successful, failed, inconclusive, error, running.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from runbooks.cli.public import iso, verdict_name
from runbooks.core.analysis import assess
from runbooks.core.model import Measurement
from runbooks.core.state import ReleasePhase, ReleaseState
from runbooks.engine import member_decisions
from runbooks.journal.base import Event as JournalEvent
from runbooks.partitions import new_share

__all__ = [
    "ACTION_NAMES",
    "Check",
    "Decision",
    "Deployed",
    "Ended",
    "ReleaseEvent",
    "ReleaseStarted",
    "StepApplied",
    "StepContracted",
    "StepStarted",
    "StepUndone",
    "StreamContext",
    "Translator",
    "WeightsSet",
    "WindowJudged",
    "check_text",
    "events_of",
    "iso",
    "public_action",
]

# The engine's action types as people name them (status and the logs never show the class).
ACTION_NAMES = {
    "Deploy": "deploy",
    "ApplyReleaseStep": "apply release step",
    "ContractReleaseStep": "contract release step",
    "UndoReleaseStep": "undo release step",
    "SetWeights": "set weights",
    "Analyse": "measure",
    "Wait": "wait",
    "NotifyEvent": "notify",
    "WriteStackState": "write stack state",
    "Finish": "finish",
}
# What a phase change means, in the words of the decision event.
PHASE_ACTIONS = {
    ReleasePhase.DEPLOYING: "deploy",
    ReleasePhase.APPLYING_STEPS: "apply release steps",
    ReleasePhase.PROGRESSING: "start step",
    ReleasePhase.PAUSED: "pause",
    ReleasePhase.AWAITING_PROMOTION: "await promotion",
    ReleasePhase.PROMOTING: "promote",
    ReleasePhase.ROLLING_BACK: "roll back",
    ReleasePhase.PROMOTED: "finish",
    ReleasePhase.ROLLED_BACK: "finish",
    ReleasePhase.ABORTED: "stop: needs a human",
}
# (unit of the value and threshold, unit of the old color's value) per check.
CHECK_UNITS = {
    "error-rate": ("pp over the old color", "%"),
    "p95-latency": ("x the old color", "s"),
    "availability": ("%", ""),
}
TOO_LITTLE_TRAFFIC = "too little traffic"


def public_action(type_name: str) -> str:
    """The public name of an engine action type (`Analyse` -> `measure`)."""
    return ACTION_NAMES.get(type_name, type_name.lower())


@dataclass(frozen=True)
class StreamContext:
    """What the translation needs beyond the journal: where, and how to name next steps.

    `kinds` maps each service to its kind (http, consumer): a consumer's weights are shares
    of its partitions; `partitions` maps a consumer to its topics' partition counts, so its
    weights can be told as partitions per color. `local` adds `runbook local load` to a
    pause for too little traffic.
    """

    stack: str
    kinds: Mapping[str, str] = field(default_factory=dict)
    local: bool = False
    partitions: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseEvent:
    """Base of every event: when (epoch seconds), which release, which service."""

    kind: ClassVar[str] = "event"
    at: float
    release: str
    service: str

    def as_json(self) -> dict[str, Any]:
        """The event as plain JSON: `event`, `at` in ISO 8601 UTC, then its fields."""
        body = asdict(self)
        body["at"] = iso(self.at)
        for name, value in list(body.items()):
            if name.endswith("_at") and isinstance(value, float | int | None):
                body[name] = iso(value)
        return {"event": self.kind, **body}


@dataclass(frozen=True)
class PlanStepView:
    """One traffic step of the plan, as the events show it."""

    name: str
    weight: int
    bake_seconds: float


@dataclass(frozen=True)
class ReleaseStarted(ReleaseEvent):
    """A release (or the rollback of a promoted one, `reverts` naming it) began."""

    kind: ClassVar[str] = "release-started"
    version: str
    old_version: str
    old_color: str
    new_color: str
    strategy: str
    steps: tuple[PlanStepView, ...]
    reverts: str | None = None


@dataclass(frozen=True)
class StepStarted(ReleaseEvent):
    """A traffic step began (or was restarted by a resume): its bake and first check."""

    kind: ClassVar[str] = "step-started"
    index: int
    of: int
    name: str
    weight: int
    color: str
    bake_seconds: float
    bake_ends_at: float | None
    next_check_at: float | None
    restarted: bool = False


@dataclass(frozen=True)
class WeightsSet(ReleaseEvent):
    """The router was told a split and answered (`ok`) or not."""

    kind: ClassVar[str] = "weights-set"
    weights: Mapping[str, int]
    unit: str
    ok: bool
    message: str = ""
    partitions: Mapping[str, int] | None = None  # a consumer's partitions per color


@dataclass(frozen=True)
class Check:
    """One check of a window: its value, the old color's, the limit and the verdict."""

    name: str
    verdict: str
    value: float | None
    baseline: float | None
    threshold: float | None
    unit: str
    baseline_unit: str
    text: str
    message: str


@dataclass(frozen=True)
class WindowJudged(ReleaseEvent):
    """An analysis window was judged; `verdict` is the step's so far."""

    kind: ClassVar[str] = "window-judged"
    step: str
    verdict: str
    checks: tuple[Check, ...]
    next_check_at: float | None


@dataclass(frozen=True)
class Decision(ReleaseEvent):
    """The engine changed phase: what it does now, why, and what an operator may run."""

    kind: ClassVar[str] = "decision"
    phase: str
    step: str
    action: str
    reason: str
    next: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepApplied(ReleaseEvent):
    """A release step (db-migration, cache-bump, ...) was applied, or its apply failed."""

    kind: ClassVar[str] = "step-applied"
    name: str
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class StepUndone(StepApplied):
    """A release step was undone (or its undo failed)."""

    kind: ClassVar[str] = "step-undone"


@dataclass(frozen=True)
class StepContracted(StepApplied):
    """A release step's destructive second half ran after promotion."""

    kind: ClassVar[str] = "step-contracted"


@dataclass(frozen=True)
class Deployed(ReleaseEvent):
    """The new version was put on its color (and serves), or not."""

    kind: ClassVar[str] = "deployed"
    color: str
    version: str
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Ended(ReleaseEvent):
    """How the release ended; always the last event."""

    kind: ClassVar[str] = "outcome"
    outcome: str
    reason: str
    seconds: float
    weights: Mapping[str, int] | None


STEP_EVENTS: dict[str, type[StepApplied]] = {
    "ApplyReleaseStep": StepApplied,
    "UndoReleaseStep": StepUndone,
    "ContractReleaseStep": StepContracted,
}


class Translator:
    """Turns one release's journal events, fed in order, into its public events.

    Pure: no I/O, no clock (every time comes from the journal or the journaled state). A
    release of several services journals one decision for all (see `runbooks.engine`):
    each member is followed on its own, its events naming its service.
    """

    def __init__(self, context: StreamContext) -> None:
        self.context = context
        self.release = ""
        self.started_at: float | None = None
        self.states: dict[int, ReleaseState] = {}
        self.weights: dict[str, int] | None = None
        self.reverts: str | None = None

    def feed(self, event: JournalEvent) -> list[ReleaseEvent]:
        """The public events `event` gives (often none)."""
        self.release = event.release_id
        if event.kind == "release.started":
            self.started_at = event.at
            self.reverts = str(event.data.get("reverts") or "") or None
            return []  # announced with each member's first decision, which has its plan
        if event.kind == "decision":
            return list(self._decision(event))
        if event.kind in ("action.done", "action.failed"):
            return self._result(event)
        if event.kind == "release.finished":
            return [self._outcome(event)]
        return []

    def _announce(self, at: float, state: ReleaseState) -> ReleaseStarted:
        plan = state.plan
        steps = tuple(PlanStepView(s.name, s.weight, s.bake_seconds) for s in plan.steps)
        return ReleaseStarted(
            at,
            self.release,
            plan.service,
            plan.version,
            plan.old_version,
            plan.old_color.value,
            plan.new_color.value,
            plan.strategy.value,
            steps,
            self.reverts,
        )

    def _decision(self, event: JournalEvent) -> Iterator[ReleaseEvent]:
        for member, part in enumerate(member_decisions(event.data)):
            state = ReleaseState.from_dict(dict(part["state"]))
            before = self.states.get(member)
            self.states[member] = state
            yield from self._member(event.at, before, state)

    def _member(
        self, at: float, before: ReleaseState | None, state: ReleaseState
    ) -> Iterator[ReleaseEvent]:
        if before is None:
            yield self._announce(self.started_at or at, state)
        fresh = _new_measurements(before, state)
        if fresh:
            yield self._window(at, state, fresh)
        elif state.judged and before is not None:
            # The window that ended a step: that decision cleared the step's history.
            ended = before.evolve(history=(*before.history, *state.judged), next_analysis_at=None)
            yield self._window(at, ended, list(state.judged))
        if before is None or before.phase is not state.phase:
            yield self._phase_change(at, state)
        if _step_began(before, state):
            yield self._step_started(at, state, before)

    def _window(self, at: float, state: ReleaseState, fresh: list[Measurement]) -> WindowJudged:
        verdict = verdict_name(assess(state.history, state.plan.limits).phase.value)
        checks = tuple(check_of(m) for m in fresh)
        service, step, due = state.plan.service, state.step.name, state.next_analysis_at
        return WindowJudged(at, self.release, service, step, verdict, checks, due)

    def _phase_change(self, at: float, state: ReleaseState) -> Decision:
        action = PHASE_ACTIONS.get(state.phase, state.phase.value)
        return Decision(
            at,
            self.release,
            state.plan.service,
            state.phase.value,
            state.step.name,
            action,
            state.reason,
            self.next_commands(state),
        )

    def _step_started(
        self, at: float, state: ReleaseState, before: ReleaseState | None
    ) -> StepStarted:
        step, plan = state.step, state.plan
        began = state.step_started_at or at
        restarted = (
            before is not None
            and before.step_started_at is not None
            and before.step_index == state.step_index
        )
        return StepStarted(
            at,
            self.release,
            plan.service,
            state.step_index + 1,
            len(plan.steps),
            step.name,
            step.weight,
            plan.new_color.value,
            step.bake_seconds,
            began + step.bake_seconds,
            state.next_analysis_at,
            restarted,
        )

    def _result(self, event: JournalEvent) -> list[ReleaseEvent]:
        data = event.data.get("action") or {}
        ok, message = event.kind == "action.done", str(event.data.get("message") or "")
        name = str(data.get("type", ""))
        if name == "SetWeights":
            return [self._weights(event.at, data, ok, message)]
        if name == "Deploy":
            service, color, version = str(data["service"]), str(data["color"]), str(data["version"])
            return [Deployed(event.at, self.release, service, color, version, ok, message)]
        member = self.states.get(int(event.data.get("member", 0)))
        if name in STEP_EVENTS and member is not None:
            step, service = str(data["name"]), member.plan.service
            return [STEP_EVENTS[name](event.at, self.release, service, step, ok, message)]
        return []

    def _weights(self, at: float, data: Mapping[str, Any], ok: bool, message: str) -> WeightsSet:
        service = str(data["service"])
        weights = {color: int(share) for color, share in dict(data["weights"]).items()}
        lead = self.states.get(0)
        if ok and (lead is None or lead.plan.service == service):
            self.weights = weights
        consumer = self.context.kinds.get(service) == "consumer"
        unit = "partitions" if consumer else "traffic"
        owned = self._partitions(service, weights) if consumer else None
        return WeightsSet(at, self.release, service, weights, unit, ok, message, owned)

    def _partitions(self, service: str, weights: Mapping[str, int]) -> dict[str, int] | None:
        """How many partitions each color consumes at `weights`: the new color its share of
        each topic (as runbooks.partitions assigns them), the old color the rest."""
        topics = self.context.partitions.get(service)
        plan = next((s.plan for s in self.states.values() if s.plan.service == service), None)
        if not topics or plan is None:
            return None
        new, old = plan.new_color.value, plan.old_color.value
        taken = sum(new_share(weights.get(new, 0), count) for count in topics.values())
        return {new: taken, old: sum(topics.values()) - taken}

    def _outcome(self, event: JournalEvent) -> Ended:
        """The end, named by the first service (the lead), with the first reason given."""
        states = [self.states[m] for m in sorted(self.states)]
        reason = next((s.reason for s in states if s.reason), "")
        service = states[0].plan.service if states else ""
        seconds = round(event.at - (self.started_at or event.at), 3)
        outcome = str(event.data.get("outcome", ""))
        return Ended(event.at, self.release, service, outcome, reason, seconds, self.weights)

    def next_commands(self, state: ReleaseState) -> tuple[str, ...]:
        """The exact commands an operator may run now: none while the engine drives."""
        target = f"-s {self.context.stack} --service {state.plan.service}"
        if state.phase is ReleasePhase.PAUSED:
            load = (
                (f"runbook local load --stack {self.context.stack} --rate 150 --for 120 &",)
                if self.context.local and TOO_LITTLE_TRAFFIC in state.reason
                else ()
            )
            return (
                *load,
                f"runbook resume {target}",
                f"runbook promote {target}",
                f"runbook rollback {target}",
            )
        if state.phase is ReleasePhase.AWAITING_PROMOTION:
            return (f"runbook promote {target}", f"runbook abort {target}")
        if state.phase is ReleasePhase.ABORTED:
            return (f"runbook rollback {target}", f"runbook status {target}")
        return ()


def _new_measurements(before: ReleaseState | None, state: ReleaseState) -> list[Measurement]:
    """The measurements `state` added since `before` (all of them on a new or restarted step)."""
    same_step = (
        before is not None
        and before.step_index == state.step_index
        and before.step_started_at == state.step_started_at
    )
    seen = len(before.history) if same_step and before is not None else 0
    return list(state.history[seen:])


def _step_began(before: ReleaseState | None, state: ReleaseState) -> bool:
    """Whether `state` starts (or restarts) a traffic step."""
    if state.phase is not ReleasePhase.PROGRESSING or state.step_started_at is None:
        return False
    return before is None or (before.step_index, before.step_started_at) != (
        state.step_index,
        state.step_started_at,
    )


def check_of(m: Measurement) -> Check:
    """A measurement as a public check, with its one-line text (`+0.02pp (limit +1pp)...`)."""
    unit, baseline_unit = CHECK_UNITS.get(m.metric, ("", ""))
    return Check(
        m.metric,
        m.phase.value.lower(),
        m.value,
        m.baseline,
        m.threshold,
        unit,
        baseline_unit,
        check_text(m),
        m.message,
    )


def check_text(m: Measurement) -> str:
    """`+0.02pp (limit +1pp), old color 0.10%`: the value against its threshold."""
    value, limit, old = m.value, m.threshold, m.baseline
    if m.metric == "error-rate":
        head = f"{_num(value, '{:+.2f}pp')} (limit +{_num(limit, '{:g}pp')})"
        tail = _num(old, "{:.2f}%")
    elif m.metric == "p95-latency":
        head = f"{_num(value, 'x{:.2f}')} (limit {_num(limit, 'x{:.2f}')})"
        tail = _num(None if old is None else old * 1000, "{:.1f}ms")
    elif m.metric == "availability":
        head = f"{_num(value, '{:.2f}%')} (min {_num(limit, '{:g}%')})"
        tail = "-"
    else:
        head, tail = f"{_num(value, '{:g}')} (limit {_num(limit, '{:g}')})", _num(old, "{:g}")
    return f"{head}, old color {tail}"


def _num(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def events_of(journal_events: Sequence[JournalEvent], context: StreamContext) -> list[ReleaseEvent]:
    """Every public event of a release from its journal (for `--output json` and reports)."""
    translator = Translator(context)
    return [public for event in journal_events for public in translator.feed(event)]
