"""The engine loop around decide(): write-ahead journaling, waits, intents, and recovery.

Backends are the `nop` plug-ins plus a metric provider written as a plain function; the
clock is fake (sleeping advances it), so a whole release runs in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.core.model import Sample, Target, Weights
from runbooks.core.plan import build_plan
from runbooks.core.state import Outcome, ReleaseState
from runbooks.drivers.nop import NopDriver
from runbooks.engine import ACTION_DONE, ACTION_STARTED, DECISION, Clock, Engine, snapshot
from runbooks.journal.sqlite import SqliteJournal
from runbooks.notifiers.nop import NopNotifier
from runbooks.performer import Backends, Performer
from runbooks.release import preflight
from runbooks.routers.nop import NopRouter
from runbooks.steps.base import StepContext
from stackspec.errors import RunbookError
from stackspec.model import Color
from tests.clock import FakeClock
from tests.unit.core.builders import make_settings

STEPS = [{"weight": 20, "bakeSeconds": 10}, {"weight": 100, "bakeSeconds": 10}]


class Traffic:
    """A metric provider as a function of color: `error_rate` of the green color's requests."""

    def __init__(self, clock: FakeClock, green_error_rate: float) -> None:
        self.clock, self.rate = clock, green_error_rate

    def sample(self, target: Target, window_seconds: float) -> Sample:
        errors = 1000 * self.rate if target.color is Color.GREEN else 0
        return Sample(target.color, 1000, errors, 0.01, self.clock.t)


def _engine(
    tmp_path: Path, green_error_rate: float, down_at: float | None = None
) -> tuple[Engine, ReleaseState, NopRouter]:
    clock = FakeClock()
    settings = make_settings(steps=STEPS, analysisIntervalSeconds=5)
    plan = build_plan(settings, "trading-api", "2.0.0")
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    release_id = journal.start_release("local", "trading-api", "2.0.0", {})
    router = NopRouter()
    metrics = Traffic(clock, green_error_rate) if down_at is None else Outage(clock, down_at)
    backends = Backends(router, metrics, NopDriver(settings), NopNotifier())
    context = StepContext("local", "trading-api", "2.0.0", Color.BLUE, Color.GREEN)
    performer = Performer(backends, context, lambda name: None)
    engine = Engine(journal, release_id, performer, Clock(clock.now, clock.sleep))
    return engine, ReleaseState(plan), router


def test_a_healthy_release_is_promoted_and_every_action_journaled_around_it(
    tmp_path: Path,
) -> None:
    engine, state, router = _engine(tmp_path, green_error_rate=0.0)

    outcome = engine.run(state)

    assert outcome is Outcome.PROMOTED
    assert router.get_weights("trading-api") == Weights.all_on(Color.GREEN)
    events = engine.journal.events(engine.release_id)
    kinds = [e.kind for e in events]
    # write-ahead: a decision is recorded before any of its actions start
    assert kinds.index(DECISION) < kinds.index(ACTION_STARTED)
    assert kinds.count(ACTION_STARTED) == kinds.count(ACTION_DONE)
    assert engine.journal.release(engine.release_id).outcome == "promoted"


def test_a_failing_green_is_rolled_back_to_blue(tmp_path: Path) -> None:
    engine, state, router = _engine(tmp_path, green_error_rate=0.2)

    assert engine.run(state) is Outcome.ROLLED_BACK
    assert router.get_weights("trading-api") == Weights.all_on(Color.BLUE)


def test_an_abort_intent_recorded_while_waiting_rolls_back(tmp_path: Path) -> None:
    engine, state, router = _engine(tmp_path, green_error_rate=0.0)
    journal = engine.journal

    def abort_once_progressing(turn_state: ReleaseState, actions: object) -> None:
        if turn_state.phase.value == "progressing" and not journal.pending_intents(
            engine.release_id
        ):
            journal.record_intent("local", "trading-api", "abort", "on-call")

    engine.on_turn = abort_once_progressing
    assert engine.run(state) is Outcome.ROLLED_BACK
    assert router.get_weights("trading-api") == Weights.all_on(Color.BLUE)


def test_snapshot_names_the_actions_a_killed_turn_did_not_finish(tmp_path: Path) -> None:
    engine, state, _ = _engine(tmp_path, green_error_rate=0.0)
    engine.run(state)
    journal, release_id = engine.journal, engine.release_id
    # Replay the journal up to the first decision with actions, as if killed right after it.
    first = next(e for e in journal.events(release_id) if e.kind == DECISION and e.data["actions"])
    other = SqliteJournal(tmp_path / "other.sqlite3")
    copy_id = other.start_release("local", "trading-api", "2.0.0", {})
    other.append(copy_id, DECISION, first.data)

    shot = snapshot(other, copy_id)

    assert shot is not None
    assert [type(a).__name__ for a in shot.pending] == [a["type"] for a in first.data["actions"]]


class Outage(Traffic):
    """Healthy traffic until `down_at`, then the provider cannot measure anything."""

    def __init__(self, clock: FakeClock, down_at: float) -> None:
        super().__init__(clock, 0.0)
        self.down_at = down_at

    def sample(self, target: Target, window_seconds: float) -> Sample:
        if self.clock.t >= self.down_at:
            return Sample.failed(target.color, self.clock.t, "connection refused")
        return super().sample(target, window_seconds)


def test_a_provider_that_stops_answering_in_the_last_step_never_lets_it_promote(
    tmp_path: Path,
) -> None:
    # Given a release whose provider dies 2.5 s into the last step (as in the issue)
    last_step_at = 1000.0 + 10.0  # the first step bakes 10 s
    engine, state, router = _engine(tmp_path, green_error_rate=0.0, down_at=last_step_at + 2.5)

    # When it runs to its end
    outcome = engine.run(state)

    # Then it is rolled back, not promoted, and every request is on the old color
    assert outcome is Outcome.ROLLED_BACK
    assert router.get_weights("trading-api") == Weights.all_on(Color.BLUE)
    reason = engine.journal.events(engine.release_id)
    assert any("consecutiveErrorLimit" in str(e.data) for e in reason)


def test_preflight_refuses_a_release_the_provider_cannot_measure(tmp_path: Path) -> None:
    settings = make_settings(steps=STEPS, analysisIntervalSeconds=5)
    plan = build_plan(settings, "trading-api", "2.0.0")
    clock = FakeClock()
    down = Outage(clock, down_at=0.0)
    backends = Backends(NopRouter(), down, NopDriver(settings), NopNotifier())

    with pytest.raises(RunbookError, match=r"cannot measure trading-api blue 1\.0\.0: conn"):
        preflight(backends, settings, plan, poll_seconds=0.1, patience_seconds=0.3)
    healthy = Backends(NopRouter(), Traffic(clock, 0.0), NopDriver(settings), NopNotifier())
    assert preflight(healthy, settings, plan) == 1000 / 5
