"""The types `decide()` works on: release state, operator intents, observations, actions.

All are frozen dataclasses of primitives, StrEnums and other such dataclasses, so the
journal can store them as JSON: `ReleaseState.to_dict()` / `from_dict()`,
`action_to_dict()` / `action_from_dict()` (validation by pydantic's TypeAdapter).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeAlias

from pydantic import TypeAdapter

from runbooks.core.model import Measurement, Sample, Weights
from runbooks.core.plan import PlanStep, ReleasePlan
from stackspec.model import Color

__all__ = [
    "TERMINAL",
    "Action",
    "ActionResult",
    "Analyse",
    "ApplyReleaseStep",
    "ContractReleaseStep",
    "Decision",
    "Deploy",
    "EventKind",
    "Finish",
    "Intent",
    "NotifyEvent",
    "Observation",
    "Outcome",
    "ReleasePhase",
    "ReleaseState",
    "SamplePair",
    "SetWeights",
    "UndoReleaseStep",
    "Verb",
    "Wait",
    "WriteStackState",
    "action_from_dict",
    "action_to_dict",
]


class ReleasePhase(StrEnum):
    """Where a release stands."""

    PENDING = "pending"  # nothing done yet
    DEPLOYING = "deploying"  # the new version is being put on the idle color
    APPLYING_STEPS = "applying-steps"  # release steps (migration, cache bump...) going on
    PROGRESSING = "progressing"  # a traffic step is baking and being analysed
    PAUSED = "paused"  # operator pause or inconclusive analysis: no progress
    AWAITING_PROMOTION = "awaiting-promotion"  # manual gate before the last step
    PROMOTING = "promoting"  # promoted; old color kept warm for scaleDownDelay
    ROLLING_BACK = "rolling-back"
    PROMOTED = "promoted"  # terminal
    ROLLED_BACK = "rolled-back"  # terminal
    ABORTED = "aborted"  # a rollback action failed: needs a human (a rollback intent retries)


TERMINAL = frozenset({ReleasePhase.PROMOTED, ReleasePhase.ROLLED_BACK, ReleasePhase.ABORTED})


class Verb(StrEnum):
    """What an operator can ask of a running release."""

    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"  # skip the remaining steps: all traffic to the new color now
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Intent:
    """One operator verb as the CLI recorded it; `seq` increases per release, from 1."""

    seq: int
    verb: Verb
    reason: str = ""


@dataclass(frozen=True)
class SamplePair:
    """One analysis window: the old color (baseline) and the new one (canary)."""

    baseline: Sample
    canary: Sample


class Outcome(StrEnum):
    """How a release ended."""

    PROMOTED = "promoted"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"


class EventKind(StrEnum):
    """Kinds of release events sent to notifiers."""

    STARTED = "started"
    STEP_STARTED = "step-started"
    PAUSED = "paused"
    RESUMED = "resumed"
    AWAITING_PROMOTION = "awaiting-promotion"
    PROMOTED = "promoted"
    FINISHED = "finished"
    ROLLBACK_STARTED = "rollback-started"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"
    RETRYING = "retrying"
    IGNORED = "ignored"
    CONTRACT_FAILED = "contract-failed"


@dataclass(frozen=True)
class Deploy:
    """Put `version` of the service on the idle `color`, and wait until it serves.

    Safe to repeat: a deploy killed half-way is performed again on resume.
    """

    service: str
    color: Color
    version: str


@dataclass(frozen=True)
class ApplyReleaseStep:
    """Apply the release step `name` (db-migration, cache-bump, ...)."""

    name: str


@dataclass(frozen=True)
class ContractReleaseStep:
    """Run the destructive second half of release step `name` (after promotion and bake)."""

    name: str


@dataclass(frozen=True)
class UndoReleaseStep:
    """Undo the release step `name`; must be safe if it was only partly applied, or not."""

    name: str


@dataclass(frozen=True)
class SetWeights:
    """Route `weights` of the service's traffic; verify what is live."""

    service: str
    weights: Weights


@dataclass(frozen=True)
class Analyse:
    """Sample both colors over the last `window_seconds`; report them as a SamplePair."""

    service: str
    baseline: Color
    canary: Color
    window_seconds: float


@dataclass(frozen=True)
class Wait:
    """Call decide() again at `until` (or earlier, when a new intent is recorded)."""

    until: float


@dataclass(frozen=True)
class NotifyEvent:
    """Tell the notifiers; best effort, a failure must not be reported back."""

    kind: EventKind
    message: str


@dataclass(frozen=True)
class WriteStackState:
    """Make the stack's declared state of `service` this (versions deployed, weights)."""

    service: str
    active_color: Color
    blue_version: str
    green_version: str
    weights: Weights
    blue_config: int | None = None  # config versions, when the release changes them
    green_config: int | None = None


@dataclass(frozen=True)
class Finish:
    """The release is over; stop calling decide()."""

    outcome: Outcome
    message: str


Action: TypeAlias = (
    Deploy
    | ApplyReleaseStep
    | ContractReleaseStep
    | UndoReleaseStep
    | SetWeights
    | Analyse
    | Wait
    | NotifyEvent
    | WriteStackState
    | Finish
)
_ACTION_TYPES: tuple[type[Action], ...] = (
    Deploy,
    ApplyReleaseStep,
    ContractReleaseStep,
    UndoReleaseStep,
    SetWeights,
    Analyse,
    Wait,
    NotifyEvent,
    WriteStackState,
    Finish,
)


@dataclass(frozen=True)
class ActionResult:
    """What became of one action the engine performed."""

    action: Action
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Observation:
    """What the engine saw since the last decision: the time, a window's samples (after an
    Analyse action), and the results of the actions it just performed, in order."""

    now: float
    samples: SamplePair | None = None
    results: tuple[ActionResult, ...] = ()


@dataclass(frozen=True)
class ReleaseState:
    """Everything decide() knows about a release; journaled after every decision."""

    plan: ReleasePlan
    phase: ReleasePhase = ReleasePhase.PENDING
    step_index: int = 0
    step_started_at: float | None = None
    next_analysis_at: float | None = None
    history: tuple[Measurement, ...] = ()  # of the current step only
    applied_steps: tuple[str, ...] = ()  # release steps applied (or being applied), in order
    baseline_reference: Sample | None = None  # last baseline with enough traffic
    paused_from: ReleasePhase | None = None
    intents_seen: int = 0  # highest Intent.seq handled
    weights_restored: bool = False  # rolling back: old color has every request again
    promotion_written: bool = False  # the stack state names the new color active
    warm_until: float | None = None  # promoting: old color kept up until then
    retry_at: float | None = None  # rolling back: when to retry restoring weights
    contract_at: float | None = None  # promoting: when the contracts are due
    contracted_steps: tuple[str, ...] = ()  # release steps whose contract ran (or is running)
    reason: str = ""  # why the release paused, rolled back or aborted
    # Multi-service releases only (None / False: a release of one service, never held):
    step_gate: int | None = None  # highest step index it may enter; len(steps): promotion,
    # len(steps) + 1: the end of promoting (PROMOTED)
    ready_for: int | None = None  # held before entering this step index (or promotion)
    undo_held: bool = False  # rolling back: later members' undo not done, so wait after traffic
    # The measurements judged in this decision (none: no window came in). Journaled with it
    # because the window that completes a step is cleared from `history` in the same turn.
    judged: tuple[Measurement, ...] = ()

    @property
    def step(self) -> PlanStep:
        """The traffic step the release is on (or about to start)."""
        return self.plan.steps[self.step_index]

    @classmethod
    def reverting(cls, plan: ReleasePlan, reason: str) -> ReleaseState:
        """A promoted release of `plan` being rolled back: every step applied, promotion
        written, the last traffic step on."""
        return cls(
            plan,
            phase=ReleasePhase.ROLLING_BACK,
            step_index=len(plan.steps) - 1,
            applied_steps=plan.release_steps,
            promotion_written=True,
            reason=reason,
        )

    def evolve(self, **changes: Any) -> ReleaseState:
        """A copy with `changes`."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (an infinite bucket bound as the string "Infinity")."""
        return json.loads(_STATE.dump_json(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseState:
        """Inverse of to_dict(); raises pydantic.ValidationError for a malformed dict."""
        return _STATE.validate_python(data)


@dataclass(frozen=True)
class Decision:
    """What decide() returns: the next state (journal it first), then the actions to run.

    The engine runs the actions in order, stops at the first that fails, and calls decide()
    again with their results: at once, unless the last action is Wait or Finish.
    """

    state: ReleaseState
    actions: tuple[Action, ...]


def action_to_dict(action: Action) -> dict[str, Any]:
    """JSON-ready form of an action, with its type under "type"."""
    body = _ACTIONS[type(action).__name__].dump_python(action, mode="json")
    return {"type": type(action).__name__, **body}


def action_from_dict(data: dict[str, Any]) -> Action:
    """Inverse of action_to_dict(); raises ValueError for an unknown type."""
    body = dict(data)
    name = body.pop("type", None)
    if name not in _ACTIONS:
        raise ValueError(f"unknown action type {name!r}; known: {sorted(_ACTIONS)}")
    return _ACTIONS[name].validate_python(body)  # type: ignore[no-any-return]


_STATE: TypeAdapter[ReleaseState] = TypeAdapter(ReleaseState)
_ACTIONS: dict[str, TypeAdapter[Any]] = {t.__name__: TypeAdapter(t) for t in _ACTION_TYPES}
