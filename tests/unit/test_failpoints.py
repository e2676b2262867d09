"""Failpoints hold the engine between an action's effect and its journal record, so a
crash drill's kill lands there. Found: kills aimed inside the cache bump and the stack
state write landed after them (each takes milliseconds; the drill polls every 20 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks import failpoints
from runbooks.core.model import Weights
from runbooks.core.plan import build_plan
from runbooks.core.state import ReleaseState
from runbooks.drivers.nop import NopDriver
from runbooks.engine import ACTION_DONE, ACTION_STARTED, Clock, Engine
from runbooks.journal.sqlite import SqliteJournal
from runbooks.notifiers.nop import NopNotifier
from runbooks.performer import Backends, Performer
from runbooks.routers.nop import NopRouter
from runbooks.steps.base import StepContext
from stackspec.errors import BadInput
from stackspec.model import Color
from tests.clock import FakeClock
from tests.unit.core.builders import make_settings
from tests.unit.test_engine import Traffic


def test_the_variable_names_actions_and_seconds() -> None:
    text = "ApplyReleaseStep:cache-bump=5, WriteStackState=0.5"
    assert failpoints.parse(text) == {"ApplyReleaseStep:cache-bump": 5.0, "WriteStackState": 0.5}
    assert failpoints.from_environment({}) == {}
    assert failpoints.from_environment({failpoints.ENV: ""}) == {}


@pytest.mark.parametrize(
    "text", ["Deploy", "Deploy=", "=5", "Deploy=-1", "Deploy=nan", "Deploy=1e9"]
)
def test_a_malformed_failpoint_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(BadInput) as refused:
        failpoints.parse(text)
    assert failpoints.ENV in refused.value.message and "TYPE[:NAME]=SECONDS" in str(
        refused.value.hint
    )


def test_a_named_hold_wins_over_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(failpoints.time, "sleep", slept.append)
    holds = {"ApplyReleaseStep:cache-bump": 3.0, "ApplyReleaseStep": 1.0}
    failpoints.hold(holds, "ApplyReleaseStep", "cache-bump")
    failpoints.hold(holds, "ApplyReleaseStep", "edge-purge")
    failpoints.hold(holds, "SetWeights", None)
    assert slept == [3.0, 1.0]


def test_the_engine_holds_after_the_effect_and_before_the_journal_says_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    settings = make_settings(steps=[{"weight": 100, "bakeSeconds": 10}], analysisIntervalSeconds=5)
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    release_id = journal.start_release("local", "trading-api", "2.0.0", {})
    router = NopRouter()
    backends = Backends(router, Traffic(clock, 0.0), NopDriver(settings), NopNotifier())
    context = StepContext("local", "trading-api", "2.0.0", Color.BLUE, Color.GREEN)
    performer = Performer(backends, context, lambda name: None)
    seen: list[tuple[str, Weights]] = []

    def held(seconds: float) -> None:  # what the journal and router say while held
        kinds = [e.kind for e in journal.events(release_id)]
        seen.append((kinds[-1], router.get_weights("trading-api")))

    monkeypatch.setattr(failpoints.time, "sleep", held)
    engine = Engine(
        journal, release_id, performer, Clock(clock.now, clock.sleep), holds={"SetWeights": 2.0}
    )
    engine.run(ReleaseState(build_plan(settings, "trading-api", "2.0.0")))
    assert seen, "the failpoint never held"
    last_kind, weights = seen[0]
    assert last_kind == ACTION_STARTED  # the journal does not say done yet ...
    assert (weights.blue, weights.green) == (0, 100)  # ... the router has the new split
    assert ACTION_DONE in [e.kind for e in journal.events(release_id)]


def test_failpoints_are_refused_for_a_stack_that_is_not_local() -> None:
    env = {failpoints.ENV: "Deploy=5"}
    assert failpoints.from_environment(env, local=True) == {"Deploy": 5.0}
    with pytest.raises(BadInput, match="local stack only"):
        failpoints.from_environment(env, local=False)
    assert failpoints.from_environment({}, local=False) == {}
