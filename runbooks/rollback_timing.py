"""How long a rollback took, step by step, against the users' target for its kind of change.

Read from the release's journal only (so it works whichever process drove the rollback):
- the rollback starts at the first `decision` whose state is `rolling-back` and ends at
  `release.finished` (or the last event, if the release has not finished). A rollback that
  stopped (aborted) and was retried later counts from its first start: the wait for a
  human is part of the time to undo the change;
- each step is an action performed after that start, timed from its `action.started` to
  the `action.done` / `action.failed` of the same decision and index: `traffic` (every
  request back on the old color), `stack state` (the stack's record names the old color
  active again), `undo <step>` per release step. A step tried more than once (restoring
  traffic is retried until it works) is one row: its attempts' durations added up.
  Notifications and waits are not steps; they are in the total.

The kind of change, and so the target (`rollout.rollbackTargets` of the stack):
`schema` if the release carried a `db-migration` step; else `configuration` if its only
release step is `config`; else `api`. Every release puts a version on the idle color (the
engine refuses the version already active), so "deployed a version" cannot tell an API
change from a configuration one: the release steps the operator chose say what the release
is for. `met` is true only for a rollback that completed (rolled back) within its target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from runbooks.core.plan import ReleasePlan
from runbooks.core.state import ReleasePhase, ReleaseState
from runbooks.engine import ACTION_DONE, ACTION_FAILED, ACTION_STARTED, DECISION
from runbooks.journal.base import FINISHED, Event
from stackspec.model import RollbackTargets

NOT_STEPS = frozenset({"NotifyEvent", "Wait", "Finish"})


class ChangeKind(StrEnum):
    """What a release changed, which sets how fast its rollback must be."""

    CONFIGURATION = "configuration"
    API = "api"
    SCHEMA = "schema"


def change_kind(plan: ReleasePlan) -> ChangeKind:
    """`schema` with a db-migration step, else `configuration` when `config` is the only
    release step, else `api`."""
    if "db-migration" in plan.release_steps:
        return ChangeKind.SCHEMA
    if plan.release_steps == ("config",):
        return ChangeKind.CONFIGURATION
    return ChangeKind.API


def target_seconds(kind: ChangeKind, targets: RollbackTargets) -> int:
    """The stack's rollback target for `kind`, in seconds."""
    return {
        ChangeKind.CONFIGURATION: targets.config_seconds,
        ChangeKind.API: targets.api_seconds,
        ChangeKind.SCHEMA: targets.schema_seconds,
    }[kind]


@dataclass(frozen=True)
class StepTime:
    """One step of a rollback: its time (None: started, never ended), last result, tries."""

    name: str
    seconds: float | None
    ok: bool
    attempts: int = 1


@dataclass(frozen=True)
class RollbackTiming:
    """A rollback's steps and total, against the target for its kind of change."""

    service: str
    kind: ChangeKind
    steps: tuple[StepTime, ...]
    total_seconds: float
    target_seconds: int
    completed: bool

    @property
    def met(self) -> bool:
        """Whether the rollback completed within its target."""
        return self.completed and self.total_seconds <= self.target_seconds

    def plus(self, step: StepTime) -> RollbackTiming:
        """This rollback followed by `step` (a restore the CLI ran after it), in the total."""
        return replace(
            self,
            steps=(*self.steps, step),
            total_seconds=self.total_seconds + (step.seconds or 0.0),
            completed=self.completed and step.ok,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `runbook rollback --json` prints."""
        return {
            "kind": self.kind.value,
            "steps": [
                {"name": s.name, "seconds": s.seconds, "ok": s.ok, "attempts": s.attempts}
                for s in self.steps
            ],
            "total_seconds": round(self.total_seconds, 3),
            "target_seconds": self.target_seconds,
            "completed": self.completed,
            "met": self.met,
        }


def rollback_timing(events: Sequence[Event], targets: RollbackTargets) -> RollbackTiming | None:
    """The timing of the rollback in a release's `events`; None if it never rolled back."""
    start = next((e for e in events if e.kind == DECISION and _rolling_back(e)), None)
    if start is None:
        return None
    plan = ReleaseState.from_dict(dict(start.data["state"])).plan
    later = [e for e in events if e.seq > start.seq]
    finished = next((e for e in later if e.kind == FINISHED), None)
    end = finished.at if finished is not None else (later[-1].at if later else start.at)
    completed = finished is not None and finished.data.get("outcome") == "rolled-back"
    kind = change_kind(plan)
    return RollbackTiming(
        service=plan.service,
        kind=kind,
        steps=_steps(later, plan),
        total_seconds=max(0.0, end - start.at),
        target_seconds=target_seconds(kind, targets),
        completed=completed,
    )


def _rolling_back(event: Event) -> bool:
    state = event.data.get("state") or {}
    return bool(state.get("phase") == ReleasePhase.ROLLING_BACK.value)


def _steps(events: Sequence[Event], plan: ReleasePlan) -> tuple[StepTime, ...]:
    rows: dict[str, StepTime] = {}
    open_at: dict[int, tuple[str, float]] = {}  # index in the current decision -> (name, at)
    for event in events:
        if event.kind == DECISION:
            open_at.clear()  # a new decision numbers its actions from 0 again
            continue
        action: Mapping[str, Any] = event.data.get("action") or {}
        name = _step_name(action, plan)
        if name is None:
            continue
        index = int(event.data.get("index", -1))
        if event.kind == ACTION_STARTED:
            open_at[index] = (name, event.at)
            rows.setdefault(name, StepTime(name, None, False, 0))
            row = rows[name]
            rows[name] = StepTime(name, row.seconds, False, row.attempts + 1)
        elif event.kind in (ACTION_DONE, ACTION_FAILED) and index in open_at:
            _, began = open_at.pop(index)
            row = rows[name]
            took = (row.seconds or 0.0) + max(0.0, event.at - began)
            rows[name] = StepTime(name, took, event.kind == ACTION_DONE, row.attempts)
    return tuple(rows.values())


def _step_name(action: Mapping[str, Any], plan: ReleasePlan) -> str | None:
    kind = action.get("type")
    if kind is None or kind in NOT_STEPS:
        return None
    if kind == "SetWeights":
        return f"traffic back on {plan.old_color.value}"
    if kind == "WriteStackState":
        return "stack state"
    if kind == "UndoReleaseStep":
        return f"undo {action.get('name')}"
    return str(kind)
