"""Real journals of releases of the `local` stack's trading-api for the status, history,
report and metrics tests: the engine runs them with nop backends, a metric provider
written as a function and a fake clock, so each takes milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runbooks.core.model import Sample, Target
from runbooks.core.plan import build_plan
from runbooks.core.state import Action, Outcome, ReleaseState
from runbooks.drivers.nop import NopDriver
from runbooks.engine import Clock, Engine
from runbooks.journal.sqlite import SqliteJournal
from runbooks.notifiers.nop import NopNotifier
from runbooks.performer import Backends, Performer
from runbooks.routers.nop import NopRouter
from runbooks.session import current_settings
from runbooks.steps.base import StepContext
from stackspec.model import Color
from tests.clock import FakeClock

SERVICE = "trading-api"


class Killed(Exception):
    """Stands for a kill -9 of the engine: the run stops where it is."""


class Traffic:
    """Both colors get 1000 requests a window; the new one `error_rate` of them failing."""

    def __init__(self, clock: FakeClock, new: Color, error_rate: float) -> None:
        self.clock, self.new, self.rate = clock, new, error_rate

    def sample(self, target: Target, window_seconds: float) -> Sample:
        errors = 1000 * self.rate if target.color is self.new else 0
        return Sample(target.color, 1000, errors, 0.01, self.clock.t)


def journal_in(state_dir: Path) -> SqliteJournal:
    """The journal `runbook` opens for the local stack with RUNBOOK_STATE_DIR=state_dir."""
    return SqliteJournal.in_state_dir(state_dir / "local")


def run_release(
    journal: SqliteJournal,
    version: str,
    error_rate: float = 0.0,
    kill_on_step: int | None = None,
    reverts: str | None = None,
) -> tuple[str, Outcome | None]:
    """Release `version` of trading-api (or, with `reverts`, roll that promoted release
    back); with `kill_on_step` (0-based) the engine dies once that step has two windows."""
    clock = FakeClock()
    settings = current_settings("local")
    plan = build_plan(settings, SERVICE, version)
    state = ReleaseState(plan)
    recorded = {"state": state.to_dict(), "by": "alice"}
    if reverts is not None:
        state = ReleaseState.reverting(plan, f"rollback of promoted release {reverts}")
        recorded = {"state": state.to_dict(), "by": "bob", "reverts": reverts}
    shown = plan.old_version if reverts else version
    release_id = journal.start_release("local", SERVICE, shown, recorded)
    backends = Backends(
        NopRouter(), Traffic(clock, plan.new_color, error_rate), NopDriver(settings), NopNotifier()
    )
    context = StepContext("local", SERVICE, version, plan.old_color, plan.new_color)
    performer = Performer(backends, context, lambda name: None)

    def kill(state: ReleaseState, actions: Sequence[Action]) -> None:
        if state.step_index == kill_on_step and len({m.at for m in state.history}) >= 2:
            raise Killed

    on_turn = kill if kill_on_step is not None else None
    engine = Engine(journal, release_id, performer, Clock(clock.now, clock.sleep), on_turn)
    try:
        return release_id, engine.run(state)
    except Killed:
        return release_id, None
