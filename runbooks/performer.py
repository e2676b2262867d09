"""Carries out the actions `decide()` asks for, with the release's backends.

Every action becomes an `ActionResult`; nothing here raises for an expected failure (a
router that cannot set weights, a step that cannot apply): the core decides what a failure
means. The outcome data of release steps (backup id, previous cache key version) is
returned so the engine can journal it: an undo may run in another process after a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runbooks.core.model import Target
from runbooks.core.state import (
    Action,
    ActionResult,
    Analyse,
    ApplyReleaseStep,
    ContractReleaseStep,
    Deploy,
    EventKind,
    NotifyEvent,
    SamplePair,
    SetWeights,
    UndoReleaseStep,
    WriteStackState,
)
from runbooks.drivers.base import ServiceState, StackDriver
from runbooks.metrics.base import MetricProvider
from runbooks.notifiers.base import EventKind as NoticeKind
from runbooks.notifiers.base import Notifier, ReleaseEvent
from runbooks.routers.base import TrafficRouter
from runbooks.steps.base import ReleaseStep, StepContext, StepOutcome
from stackspec.errors import RunbookError
from stackspec.model import Color, ConfigVersions, Versions

# The core's events are finer than what people are told; each maps to a notifier kind.
NOTIFIED_AS: dict[EventKind, NoticeKind] = {
    EventKind.STARTED: NoticeKind.STARTED,
    EventKind.STEP_STARTED: NoticeKind.STEP,
    EventKind.PAUSED: NoticeKind.PAUSED,
    EventKind.RESUMED: NoticeKind.RESUMED,
    EventKind.AWAITING_PROMOTION: NoticeKind.PAUSED,
    EventKind.PROMOTED: NoticeKind.PROMOTED,
    EventKind.FINISHED: NoticeKind.PROMOTED,
    EventKind.ROLLBACK_STARTED: NoticeKind.FAILED,
    EventKind.ROLLED_BACK: NoticeKind.ROLLED_BACK,
    EventKind.ABORTED: NoticeKind.ABORTED,
    EventKind.RETRYING: NoticeKind.FAILED,
    EventKind.IGNORED: NoticeKind.STEP,
    EventKind.CONTRACT_FAILED: NoticeKind.FAILED,
}


@dataclass
class Backends:
    """The plug-ins one release works through (all chosen by the stack's settings)."""

    router: TrafficRouter
    metrics: MetricProvider
    driver: StackDriver
    notifier: Notifier
    steps: Mapping[str, ReleaseStep] = field(default_factory=dict)


@dataclass(frozen=True)
class Performed:
    """What performing one action gave: its result, samples (Analyse), step data."""

    result: ActionResult
    samples: SamplePair | None = None
    step_data: dict[str, Any] | None = None


class Performer:
    """Performs actions for one release; `applied` looks up a step's journaled outcome."""

    def __init__(
        self,
        backends: Backends,
        context: StepContext,
        applied: Callable[[str], StepOutcome | None],
        versions: Mapping[Color, str] | None = None,
        faults: Mapping[str, Any] | None = None,
    ) -> None:
        self.backends = backends
        self.context = context
        self.applied = applied
        self.versions = dict(versions or {})  # what each color runs in this release
        self.faults = dict(faults or {})  # a drill's faults for the deployed version

    def perform(self, action: Action) -> Performed:
        """Carry out `action`; failures come back as a result with ok=False."""
        handlers: dict[type, Callable[[Any], Performed]] = {
            Deploy: self._deploy,
            SetWeights: self._set_weights,
            Analyse: self._analyse,
            ApplyReleaseStep: self._apply_step,
            UndoReleaseStep: self._undo_step,
            ContractReleaseStep: self._contract_step,
            WriteStackState: self._write_state,
            NotifyEvent: self._notify,
        }
        try:
            return handlers[type(action)](action)
        except RunbookError as err:
            return Performed(ActionResult(action, False, err.message))

    def _deploy(self, action: Deploy) -> Performed:
        self.backends.driver.deploy(action.service, action.color, action.version, self.faults)
        return Performed(ActionResult(action, True, f"{action.version} serving on {action.color}"))

    def _set_weights(self, action: SetWeights) -> Performed:
        self.backends.router.set_weights(action.service, action.weights)
        return Performed(ActionResult(action, True, f"weights {action.weights} live"))

    def _analyse(self, action: Analyse) -> Performed:
        metrics = self.backends.metrics
        window = action.window_seconds
        old, new = action.baseline, action.canary
        baseline = metrics.sample(Target(action.service, old, self.versions.get(old, "")), window)
        canary = metrics.sample(Target(action.service, new, self.versions.get(new, "")), window)
        return Performed(ActionResult(action, True), samples=SamplePair(baseline, canary))

    def _apply_step(self, action: ApplyReleaseStep) -> Performed:
        outcome = self._step(action.name).apply(self.context)
        return Performed(
            ActionResult(action, outcome.ok, outcome.message), step_data=_outcome_dict(outcome)
        )

    def _undo_step(self, action: UndoReleaseStep) -> Performed:
        applied = self.applied(action.name) or StepOutcome(action.name, False, "not recorded")
        outcome = self._step(action.name).undo(self.context, applied)
        return Performed(
            ActionResult(action, outcome.ok, outcome.message), step_data=_outcome_dict(outcome)
        )

    def _contract_step(self, action: ContractReleaseStep) -> Performed:
        outcome = self._step(action.name).contract(self.context)
        return Performed(
            ActionResult(action, outcome.ok, outcome.message), step_data=_outcome_dict(outcome)
        )

    def _write_state(self, action: WriteStackState) -> Performed:
        versions = Versions(blue=action.blue_version, green=action.green_version)
        configs = None  # a release without a config step leaves them as recorded
        if action.blue_config is not None and action.green_config is not None:
            configs = ConfigVersions(blue=action.blue_config, green=action.green_config)
        state = ServiceState(action.active_color, versions, action.weights, configs)
        self.backends.driver.write_release_state(action.service, state)
        return Performed(ActionResult(action, True, f"stack state: {action.active_color} active"))

    def _notify(self, action: NotifyEvent) -> Performed:
        ctx = self.context
        event = ReleaseEvent(
            kind=NOTIFIED_AS[action.kind],
            stack=ctx.stack,
            service=ctx.service,
            version=ctx.version,
            message=action.message,
            fields={"event": action.kind.value},
        )
        self.backends.notifier.notify(event)
        return Performed(ActionResult(action, True))

    def _step(self, name: str) -> ReleaseStep:
        try:
            return self.backends.steps[name]
        except KeyError:
            raise RunbookError(f"release step '{name}' is not configured") from None


def _outcome_dict(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "name": outcome.name,
        "ok": outcome.ok,
        "message": outcome.message,
        "data": outcome.data,
    }


def outcome_from_dict(data: Mapping[str, Any]) -> StepOutcome:
    """A journaled step outcome back as a StepOutcome."""
    return StepOutcome(
        name=str(data["name"]),
        ok=bool(data["ok"]),
        message=str(data.get("message", "")),
        data=dict(data.get("data") or {}),
    )
