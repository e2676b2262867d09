"""A release as facts for people: read once from its journal, shown by status, history and
the report alike (so the three cannot disagree).

Pure: built from a `ReleaseRecord` and its events. Only public words leave this module:
step marks (done, current, pending, failed), check verdicts spelt as every output spells
them (successful, failed, inconclusive, error), and decision markers named for what
happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbooks.cli.public import verdict_name
from runbooks.journal.base import Event, ReleaseRecord

DECISION = "decision"
ACTION_DONE = "action.done"
ACTION_FAILED = "action.failed"

DONE, CURRENT, PENDING, FAILED = "done", "current", "pending", "failed"
# The journal's phase names (runbooks.core.state.ReleasePhase's values, spelled here so that
# status does not import the core's pydantic adapters: a test checks they match).
PENDING, AWAITING_PROMOTION, ABORTED = "pending", "awaiting-promotion", "aborted"
ROLLING = frozenset({"rolling-back", "rolled-back"})
OVER = frozenset({"promoting", "promoted"})
BEFORE_TRAFFIC = frozenset({PENDING, "deploying", "applying-steps"})
VERDICT_RANK = {"successful": 0, "inconclusive": 1, "error": 2, "failed": 3}


def iso(epoch: float | None) -> str | None:
    """`2026-11-26T22:41:07Z` (UTC, whole seconds), or None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Check:
    """One check of one analysis window: the new color's value against its threshold."""

    name: str
    verdict: str
    value: float | None
    baseline: float | None
    threshold: float | None
    message: str


@dataclass(frozen=True)
class Window:
    """One analysis window of a traffic step and each check's verdict in it."""

    at: float
    step: int  # 0-based step index
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> str:
        """The window's worst verdict."""
        return max((c.verdict for c in self.checks), key=lambda v: VERDICT_RANK.get(v, 0))


@dataclass(frozen=True)
class StepLine:
    """One traffic step of the plan and where the release stands with it."""

    index: int
    name: str
    weight: int
    bake_seconds: float
    mark: str  # done | current | pending | failed


@dataclass(frozen=True)
class WeightPoint:
    """A split the engine set and verified live (`action.done` of SetWeights)."""

    at: float
    blue: int
    green: int


@dataclass(frozen=True)
class Marker:
    """A decision worth a line on a chart: what happened, when, and its message."""

    at: float
    kind: str  # step-started, window-failed, rollback-started, promoted, ...
    message: str


@dataclass(frozen=True)
class ReleaseFacts:
    """Everything status, history and the report show about one release."""

    record: ReleaseRecord
    state: Mapping[str, Any] | None  # the last decision's state, as journaled
    steps: tuple[StepLine, ...]
    windows: tuple[Window, ...]
    weights: tuple[WeightPoint, ...]
    markers: tuple[Marker, ...]
    interrupted: tuple[str, ...]  # public names of the last decision's unfinished actions
    halfway: Mapping[str, int] | None = None  # a weight change begun and never verified
    members: tuple[str, ...] = ()  # every service of the release, in declared order
    member_versions: tuple[tuple[str, str, str], ...] = ()  # (service, from, to) of each

    @property
    def plan(self) -> Mapping[str, Any]:
        """The plan the release ran (from its last state, else from its start)."""
        state = self.state or self.record.plan.get("state") or {}
        return state.get("plan") or {}

    @property
    def phase(self) -> str:
        """The release's phase (its last decision's, or `pending` before any)."""
        return str((self.state or {}).get("phase") or PENDING)

    @property
    def started_by(self) -> str | None:
        """Who started the release, when the journal recorded it."""
        by = self.record.plan.get("by")
        return str(by) if by else None

    @property
    def reverts(self) -> str | None:
        """The promoted release this one rolled back, for a rollback of a promoted release."""
        reverted = self.record.plan.get("reverts")
        return str(reverted) if reverted else None

    @property
    def versions(self) -> tuple[str, str]:
        """(from, to) as users experienced it: a rollback of a promoted release goes from
        the version it removed back to the old one."""
        plan = self.plan
        old, new = str(plan.get("old_version", "?")), str(plan.get("version", "?"))
        return (new, old) if self.reverts else (old, new)

    @property
    def reason(self) -> str:
        """Why the release paused, rolled back or aborted ("" when it did not)."""
        return str((self.state or {}).get("reason") or "")

    @property
    def current_windows(self) -> tuple[Window, ...]:
        """The windows of the step the release is on."""
        index = int((self.state or {}).get("step_index", 0))
        return tuple(w for w in self.windows if w.step == index)

    @property
    def last_weights(self) -> WeightPoint | None:
        """The split last set and verified live, per the journal."""
        return self.weights[-1] if self.weights else None


def read_facts(
    record: ReleaseRecord, events: Sequence[Event], service: str | None = None
) -> ReleaseFacts:
    """The facts of `record` from its events (in seq order), as `service` saw them (in a
    release of several services; default: its first)."""
    decisions = [e for e in events if e.kind == DECISION]
    last = decisions[-1] if decisions else None
    members = _members(last.data) if last else ()
    member = members.index(service) if service in members else 0
    state = dict(_parts(last.data)[member]["state"]) if last else None
    name = members[member] if members else record.service
    return ReleaseFacts(
        record=record,
        state=state,
        steps=_steps(state, record.finished),
        windows=_windows(decisions, member),
        weights=tuple(_weights(events, name)),
        markers=tuple(_markers(events)),
        interrupted=_interrupted(events, last, member) if not record.finished else (),
        halfway=unverified_weights(events, name),
        members=members or (record.service,),
        member_versions=_member_versions(last.data, bool(record.plan.get("reverts")))
        if last
        else (),
    )


def _member_versions(data: Mapping[str, Any], reverts: bool) -> tuple[tuple[str, str, str], ...]:
    found = []
    for part in _parts(data):
        plan = part["state"]["plan"]
        old, new = str(plan.get("old_version", "?")), str(plan.get("version", "?"))
        found.append((str(plan["service"]), *((new, old) if reverts else (old, new))))
    return tuple(found)


def _parts(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A decision's {state, actions} per member: the first under "state"/"actions", the
    others (a release of several services) under "others" (see runbooks.engine)."""
    first = {"state": data["state"], "actions": data.get("actions") or ()}
    return [first, *(data.get("others") or ())]


def _members(data: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(part["state"]["plan"]["service"]) for part in _parts(data))


def _steps(state: Mapping[str, Any] | None, finished: bool) -> tuple[StepLine, ...]:
    if state is None:
        return ()
    plan_steps = state["plan"]["steps"]
    phase, index = state["phase"], int(state["step_index"])
    lines = []
    for i, step in enumerate(plan_steps):
        if phase in OVER or (phase == AWAITING_PROMOTION and i < index):
            mark = DONE
        elif phase in BEFORE_TRAFFIC:
            mark = PENDING
        elif i < index:
            mark = DONE
        elif i == index:
            mark = FAILED if phase in ROLLING or phase == ABORTED else CURRENT
        else:
            mark = PENDING
        if mark == CURRENT and finished:
            mark = PENDING
        lines.append(
            StepLine(i, step["name"], int(step["weight"]), float(step["bake_seconds"]), mark)
        )
    return tuple(lines)


def _windows(decisions: Sequence[Event], member: int) -> tuple[Window, ...]:
    """Every analysis window, once: the measurements of one step that share a time."""
    seen: dict[tuple[int, float], dict[str, Check]] = {}
    step = 0
    for event in decisions:
        parts = _parts(event.data)
        if member >= len(parts):
            continue
        state = parts[member]["state"]
        # What the decision judged is of the step it came in on: the window that ends a
        # step is only there, the history already the next step's (empty).
        judged = [(step, m) for m in state.get("judged") or ()]
        step = int(state.get("step_index", 0))
        for at_step, m in [*judged, *((step, m) for m in state.get("history") or ())]:
            checks = seen.setdefault((at_step, float(m["at"])), {})
            checks[m["metric"]] = Check(
                name=m["metric"],
                verdict=verdict_name(m["phase"]),
                value=m.get("value"),
                baseline=m.get("baseline"),
                threshold=m.get("threshold"),
                message=m.get("message", ""),
            )
    return tuple(
        Window(at, step, tuple(checks.values())) for (step, at), checks in sorted(seen.items())
    )


def _weights(events: Sequence[Event], service: str) -> list[WeightPoint]:
    points = []
    for event in events:
        action = event.data.get("action") or {}
        if (
            event.kind == ACTION_DONE
            and action.get("type") == "SetWeights"
            and action.get("service", service) == service
        ):
            w = action["weights"]
            points.append(WeightPoint(event.at, int(w["blue"]), int(w["green"])))
    return points


def _markers(events: Sequence[Event]) -> list[Marker]:
    """The engine's announcements (step started, paused, rollback started, promoted...) and
    each failed action, in order."""
    found = []
    for event in events:
        action = event.data.get("action") or {}
        kind = action.get("type")
        if event.kind == ACTION_DONE and kind == "NotifyEvent":
            found.append(Marker(event.at, str(action["kind"]), str(action["message"])))
        elif event.kind == ACTION_FAILED:
            what = ACTION_WORDS.get(str(kind), str(kind))
            found.append(Marker(event.at, "action-failed", f"{what}: {event.data.get('message')}"))
    return found


ACTION_WORDS = {
    "Deploy": "deploy the new version",
    "ApplyReleaseStep": "apply a release step",
    "ContractReleaseStep": "contract a release step",
    "UndoReleaseStep": "undo a release step",
    "SetWeights": "set the weights",
    "Analyse": "measure both colors",
    "Wait": "wait",
    "NotifyEvent": "notify",
    "WriteStackState": "write the stack state",
    "Finish": "finish",
}
"""Internal action names as people read them."""


def action_words(action: Mapping[str, Any]) -> str:
    """One journaled action in public words (`set the weights blue 90% / green 10%`)."""
    kind = str(action.get("type"))
    words = ACTION_WORDS.get(kind, kind)
    if kind == "SetWeights":
        w = action["weights"]
        return f"{words} blue {w['blue']}% / green {w['green']}%"
    if kind in ("ApplyReleaseStep", "UndoReleaseStep", "ContractReleaseStep"):
        return f"{words} ({action['name']})"
    return words


def _interrupted(events: Sequence[Event], last: Event | None, member: int) -> tuple[str, ...]:
    """The member's actions of the last decision that neither completed nor failed."""
    if last is None:
        return ()
    finished = {
        int(e.data["index"])
        for e in events
        if e.seq > last.seq
        and e.kind in (ACTION_DONE, ACTION_FAILED)
        and int(e.data.get("member", 0)) == member
    }
    return tuple(
        action_words(a)
        for i, a in enumerate(_parts(last.data)[member]["actions"])
        if i not in finished and a.get("type") not in ("Wait", "Finish")
    )


def unverified_weights(events: Sequence[Event], service: str) -> Mapping[str, int] | None:
    """The split of a SetWeights of `service` that started and never ended (an engine
    killed inside a weight change): the router may hold it, or the one before."""
    started: dict[int, Mapping[str, int]] = {}
    for event in events:
        action = event.data.get("action") or {}
        if action.get("type") != "SetWeights" or action.get("service", service) != service:
            continue
        if event.kind == "action.started":
            started[event.seq] = action["weights"]
        elif event.kind in (ACTION_DONE, ACTION_FAILED):
            started.clear()
    return next(reversed(started.values()), None) if started else None
