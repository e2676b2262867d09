"""The engine's metrics textfile: written every turn, valid for Prometheus (promtool), and
what it says follows the release."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runbooks.core.model import Sample, Target
from runbooks.core.plan import build_plan
from runbooks.core.state import Action, Outcome, ReleaseState
from runbooks.drivers.nop import NopDriver
from runbooks.engine import Clock, Engine
from runbooks.engine_metrics import EXPORTED, TextfileWriter, with_textfile
from runbooks.journal.sqlite import SqliteJournal
from runbooks.notifiers.nop import NopNotifier
from runbooks.performer import Backends, Performer
from runbooks.routers.nop import NopRouter
from runbooks.steps.base import StepContext
from stackspec.model import Color
from tests.clock import FakeClock
from tests.unit.core.builders import make_settings

PROMTOOL = shutil.which("promtool")


def samples_of(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def run(tmp_path: Path, error_rate: float, seen: list[str]) -> Outcome:
    clock = FakeClock()
    settings = make_settings(
        steps=[{"weight": 20, "bakeSeconds": 10}, {"weight": 100, "bakeSeconds": 10}]
    )
    plan = build_plan(settings, "trading-api", "2.0.0")
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    release_id = journal.start_release("local", "trading-api", "2.0.0", {})

    class Traffic:
        def sample(self, target: Target, window_seconds: float) -> Sample:
            errors = 1000 * error_rate if target.color is Color.GREEN else 0
            return Sample(target.color, 1000, errors, 0.01, clock.t)

    backends = Backends(NopRouter(), Traffic(), NopDriver(settings), NopNotifier())
    context = StepContext("local", "trading-api", "2.0.0", Color.BLUE, Color.GREEN)
    path = tmp_path / "metrics" / "trading-api.prom"

    def keep(state: ReleaseState, actions: Sequence[Action]) -> None:
        seen.append(path.read_text())

    writer = with_textfile(None, tmp_path, "local", release_id, clock.t)

    def both(state: ReleaseState, actions: Sequence[Action]) -> None:
        writer(state, actions)
        keep(state, actions)

    performer = Performer(backends, context, lambda name: None)
    engine = Engine(journal, release_id, performer, Clock(clock.now, clock.sleep), both)
    return engine.run(ReleaseState(plan))


def test_every_turn_writes_the_phase_step_weights_and_verdicts(tmp_path: Path) -> None:
    seen: list[str] = []
    assert run(tmp_path, 0.0, seen) is Outcome.PROMOTED

    first, last = samples_of(seen[0]), samples_of(seen[-1])
    base = {("stack", "local"), ("service", "trading-api")}
    assert first[("runbook_release_phase", frozenset(base | {("phase", "pending")}))] == 0
    assert last[("runbook_release_phase", frozenset(base | {("phase", "promoted")}))] == 1
    assert last[("runbook_release_weight_percent", frozenset(base | {("color", "green")}))] == 100
    assert last[("runbook_release_step", frozenset(base))] == 2
    assert last[("runbook_release_steps", frozenset(base))] == 2
    middle = [samples_of(text) for text in seen]
    verdicts = {
        dict(labels)["check"]
        for sample in middle
        for (name, labels), value in sample.items()
        if name == "runbook_release_check_verdict"
        and dict(labels)["verdict"] == "successful"
        and value == 1
    }
    assert verdicts == {"error-rate", "p95-latency", "availability"}
    names = {name.removesuffix("_total") for sample in middle for name, _ in sample}
    assert names <= set(EXPORTED)


def test_a_failed_check_is_written_before_the_rollback(tmp_path: Path) -> None:
    seen: list[str] = []
    assert run(tmp_path, 0.3, seen) is Outcome.ROLLED_BACK

    failed_check = frozenset(
        {
            ("stack", "local"),
            ("service", "trading-api"),
            ("check", "error-rate"),
            ("verdict", "failed"),
        }
    )
    failed = [
        text
        for text in seen
        if samples_of(text).get(("runbook_release_check_verdict", failed_check)) == 1
    ]
    assert failed
    last = samples_of(seen[-1])
    base = {("stack", "local"), ("service", "trading-api")}
    assert last[("runbook_release_phase", frozenset(base | {("phase", "rolled-back")}))] == 1
    assert last[("runbook_release_weight_percent", frozenset(base | {("color", "blue")}))] == 100


@pytest.mark.skipif(PROMTOOL is None, reason="promtool comes with Debian's prometheus (setup)")
def test_promtool_accepts_the_textfile(tmp_path: Path) -> None:
    seen: list[str] = []
    run(tmp_path, 0.3, seen)

    checked = subprocess.run(
        [str(PROMTOOL), "check", "metrics"], input=seen[-1], capture_output=True, text=True
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_unwritable_directory_never_stops_a_release(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    writer = TextfileWriter(blocked / "metrics", "local", "r1", 0.0)
    settings = make_settings()
    writer(ReleaseState(build_plan(settings, "trading-api", "2.0.0")), ())  # no exception
