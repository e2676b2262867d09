"""Rollback durations from a journal with known timestamps, against the stack's targets;
and `runbook rollback`'s output of them (human and --json), on a journal the test wrote."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runbooks.cli import VERBS
from runbooks.cli.app import app
from runbooks.core.model import Weights
from runbooks.core.plan import build_plan
from runbooks.core.state import (
    Action,
    EventKind,
    NotifyEvent,
    Outcome,
    ReleasePhase,
    ReleaseState,
    SetWeights,
    UndoReleaseStep,
    WriteStackState,
    action_to_dict,
)
from runbooks.engine import ACTION_DONE, ACTION_FAILED, ACTION_STARTED, DECISION
from runbooks.journal.base import FINISHED, STARTED, Event
from runbooks.rollback_timing import (
    ChangeKind,
    RollbackTiming,
    StepTime,
    change_kind,
    rollback_timing,
)
from stackspec.model import Color, RollbackTargets
from tests.unit.core.builders import make_settings

for _verb in VERBS:
    importlib.import_module(f"runbooks.cli.{_verb}")

TARGETS = RollbackTargets(config_seconds=300, api_seconds=900, schema_seconds=1800)
SETTINGS = make_settings()
TRAFFIC = SetWeights("trading-api", Weights.all_on(Color.BLUE))
STATE = WriteStackState("trading-api", Color.BLUE, "1.0.0", "2.0.0", Weights.all_on(Color.BLUE))


def _state(phase: ReleasePhase, steps: tuple[str, ...]) -> dict[str, Any]:
    plan = build_plan(SETTINGS, "trading-api", "2.0.0", steps)
    return ReleaseState(plan, phase=phase).to_dict()


class Journal:
    """Events written by hand, each at a known time."""

    def __init__(self, steps: tuple[str, ...]) -> None:
        self.steps = steps
        self.events: list[Event] = [Event(1, "r1", 1000.0, STARTED, {})]

    def add(self, at: float, kind: str, data: dict[str, Any]) -> None:
        self.events.append(Event(len(self.events) + 1, "r1", at, kind, data))

    def decision(self, at: float, phase: ReleasePhase) -> None:
        self.add(at, DECISION, {"state": _state(phase, self.steps), "actions": []})

    def action(self, index: int, action: Action, began: float, ended: float, ok: bool) -> None:
        record = {"index": index, "action": action_to_dict(action)}
        self.add(began, ACTION_STARTED, record)
        self.add(ended, ACTION_DONE if ok else ACTION_FAILED, record | {"message": ""})

    def finish(self, at: float, outcome: str) -> None:
        self.add(at, FINISHED, {"outcome": outcome})


def _rolled_back_schema_release() -> Journal:
    """Progressing at 1010, rolled back from 1100: traffic 2 s, state 1 s, two undos."""
    j = Journal(("db-migration", "cache-bump"))
    j.decision(1010.0, ReleasePhase.PROGRESSING)
    j.action(0, SetWeights("trading-api", Weights.to_new(Color.GREEN, 10)), 1010.0, 1010.5, True)
    j.decision(1100.0, ReleasePhase.ROLLING_BACK)
    j.action(0, TRAFFIC, 1100.0, 1102.0, True)
    j.action(1, NotifyEvent(EventKind.ROLLBACK_STARTED, "x"), 1102.0, 1102.25, True)
    j.decision(1102.5, ReleasePhase.ROLLING_BACK)
    j.action(0, STATE, 1102.5, 1103.5, True)
    j.decision(1104.0, ReleasePhase.ROLLING_BACK)
    j.action(0, UndoReleaseStep("cache-bump"), 1104.0, 1104.5, True)
    j.decision(1105.0, ReleasePhase.ROLLING_BACK)
    j.action(0, UndoReleaseStep("db-migration"), 1105.0, 1125.0, True)
    j.decision(1125.0, ReleasePhase.ROLLED_BACK)
    j.finish(1126.0, Outcome.ROLLED_BACK.value)
    return j


def test_each_step_is_timed_from_started_to_done_and_the_total_from_the_rollback_start() -> None:
    timing = rollback_timing(_rolled_back_schema_release().events, TARGETS)

    assert timing is not None
    assert [(s.name, s.seconds, s.ok) for s in timing.steps] == [
        ("traffic back on blue", 2.0, True),
        ("stack state", 1.0, True),
        ("undo cache-bump", 0.5, True),
        ("undo db-migration", 20.0, True),
    ]
    assert timing.total_seconds == 26.0  # 1100 -> 1126: the forward SetWeights is not in it
    assert (timing.kind, timing.target_seconds, timing.completed, timing.met) == (
        ChangeKind.SCHEMA,
        1800,
        True,
        True,
    )


def test_a_retried_traffic_restore_adds_its_attempts_and_a_slow_rollback_misses_its_target() -> (
    None
):
    j = Journal(())
    j.decision(2000.0, ReleasePhase.ROLLING_BACK)
    j.action(0, TRAFFIC, 2000.0, 2003.0, False)
    j.decision(2033.0, ReleasePhase.ROLLING_BACK)
    j.action(0, TRAFFIC, 2033.0, 2034.0, True)
    j.decision(2040.0, ReleasePhase.ROLLED_BACK)
    j.finish(3000.0, Outcome.ROLLED_BACK.value)

    timing = rollback_timing(j.events, TARGETS)

    assert timing is not None
    assert [(s.name, s.seconds, s.ok, s.attempts) for s in timing.steps] == [
        ("traffic back on blue", 4.0, True, 2)
    ]
    assert (timing.kind, timing.total_seconds, timing.target_seconds) == (ChangeKind.API, 1000, 900)
    assert timing.completed and not timing.met


def test_an_aborted_rollback_never_meets_its_target_and_an_unended_step_has_no_duration() -> None:
    j = Journal(("config",))
    j.decision(10.0, ReleasePhase.ROLLING_BACK)
    j.action(0, TRAFFIC, 10.0, 11.0, True)
    j.decision(12.0, ReleasePhase.ROLLING_BACK)
    j.add(12.0, ACTION_STARTED, {"index": 0, "action": action_to_dict(UndoReleaseStep("config"))})

    timing = rollback_timing(j.events, TARGETS)

    assert timing is not None
    assert timing.kind is ChangeKind.CONFIGURATION and timing.target_seconds == 300
    assert timing.steps[-1].name == "undo config" and timing.steps[-1].seconds is None
    assert not timing.completed and not timing.met
    assert timing.total_seconds == 2.0  # to the last event: the release has not finished


def test_a_release_that_never_rolled_back_has_no_timing() -> None:
    j = Journal(())
    j.decision(10.0, ReleasePhase.PROGRESSING)
    j.finish(20.0, Outcome.PROMOTED.value)
    assert rollback_timing(j.events, TARGETS) is None


@pytest.mark.parametrize(
    ("steps", "kind"),
    [
        (("cache-bump", "db-migration"), ChangeKind.SCHEMA),
        (("config",), ChangeKind.CONFIGURATION),
        (("config", "cache-bump"), ChangeKind.API),
        ((), ChangeKind.API),
    ],
)
def test_the_kind_of_change_follows_the_release_steps(
    steps: tuple[str, ...], kind: ChangeKind
) -> None:
    assert change_kind(build_plan(SETTINGS, "trading-api", "2.0.0", steps)) is kind


# -- the CLI ---------------------------------------------------------------------------------


class FakeJournal:
    def __init__(self, events: list[Event]) -> None:
        self._events = events

    def events(self, release_id: str) -> list[Event]:
        return self._events


@pytest.fixture
def rolled_back(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`runbook rollback` whose engine run is replaced by the journal above (rolled back)."""
    from runbooks.cli import takeover

    journal = FakeJournal(_rolled_back_schema_release().events)
    monkeypatch.setattr(takeover, "_drive", lambda *a: (Outcome.ROLLED_BACK, "r1", []))
    monkeypatch.setattr(takeover, "open_journal", lambda stack: journal)
    yield


ROLLBACK = ("rollback", "--stack", "local", "--service", "trading-api", "--yes")


def test_rollback_prints_each_step_and_the_total_against_the_target(rolled_back: None) -> None:
    result = CliRunner().invoke(app, list(ROLLBACK))

    assert result.exit_code == 0, result.output  # rolled back, as the operator asked
    lines = [line.split() for line in result.output.splitlines()]
    assert lines[0] == [
        "rollback",
        "of",
        "trading-api",
        "(schema",
        "change),",
        "step",
        "by",
        "step:",
    ]
    assert lines[1:6] == [
        ["traffic", "back", "on", "blue", "2.0s"],
        ["stack", "state", "1.0s"],
        ["undo", "cache-bump", "0.5s"],
        ["undo", "db-migration", "20s"],
        ["total", "26s", "within", "the", "30m", "00s", "target", "for", "a", "schema", "change"],
    ]
    assert lines[6] == ["release", "r1", "rolled-back"]


def test_rollback_json_carries_the_durations_total_target_and_met(rolled_back: None) -> None:
    result = CliRunner().invoke(app, [*ROLLBACK, "--json"])

    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    timing = payload["rollback"]
    assert payload["outcome"] == "rolled-back"
    assert [(s["name"], s["seconds"]) for s in timing["steps"]] == [
        ("traffic back on blue", 2.0),
        ("stack state", 1.0),
        ("undo cache-bump", 0.5),
        ("undo db-migration", 20.0),
    ]
    assert (timing["total_seconds"], timing["target_seconds"], timing["met"]) == (26.0, 1800, True)
    assert timing["kind"] == "schema"


def test_timing_of_a_rollback_plus_a_restore_counts_the_restore() -> None:
    timing = rollback_timing(_rolled_back_schema_release().events, TARGETS)
    assert isinstance(timing, RollbackTiming)

    later = timing.plus(StepTime("restore b1", 1800.0, True))
    assert later.total_seconds == 1826.0 and not later.met


def test_the_engines_own_journal_of_a_rollback_gives_its_steps(tmp_path: Path) -> None:
    from tests.unit.test_engine import _engine

    engine, state, _ = _engine(tmp_path, green_error_rate=0.2)
    assert engine.run(state) is Outcome.ROLLED_BACK

    timing = rollback_timing(engine.journal.events(engine.release_id), TARGETS)

    assert timing is not None
    assert [(s.name, s.ok, s.attempts) for s in timing.steps] == [("traffic back on blue", True, 1)]
    assert timing.kind is ChangeKind.API and timing.completed and timing.met
    assert all(s.seconds is not None and s.seconds <= timing.total_seconds for s in timing.steps)
