"""A release's public events and the three ways they are shown: the live view on a
terminal, the plain log when piped, JSON lines for CI.

The live view runs for real through a pseudo-terminal (a short release on the wall clock,
tests/unit/cli/live_driver.py); the rest translate the journal of engine runs on a fake
clock, which take milliseconds.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from rich.console import Console

from runbooks.cli.events import (
    Decision,
    ReleaseEvent,
    StreamContext,
    Translator,
    WeightsSet,
    events_of,
)
from runbooks.cli.live import LiveModel, Output, follow, output_of
from runbooks.cli.view import PlainLog, TurnPrinter, step_summary
from runbooks.core.plan import build_plan
from runbooks.core.state import ReleasePhase, ReleaseState
from runbooks.journal.base import Event
from runbooks.routers.nop import NopRouter
from stackspec.errors import BadInput
from tests.clock import FakeClock
from tests.unit.core.builders import make_settings
from tests.unit.test_engine import _engine

ROOT = Path(__file__).resolve().parents[3]
INTERNAL_NAMES = ("SetWeights", "Analyse", "Wait", "NotifyEvent", "Finish", "WriteStackState")
MARKUP = re.compile(r"\[/?(red|green|yellow|cyan|bold|white)\]")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
LOCAL = StreamContext("local", {"trading-api": "http"}, local=True)


def released(tmp_path: Path, green_error_rate: float) -> list[ReleaseEvent]:
    """The public events of a release run by the engine on a fake clock."""
    engine, state, _ = _engine(tmp_path, green_error_rate=green_error_rate)
    engine.run(state)
    return events_of(engine.journal.events(engine.release_id), LOCAL)


def log_of(events: list[ReleaseEvent]) -> list[str]:
    """The plain log's lines, without their time of day."""
    lines: list[str] = []
    log = PlainLog(lines.append)
    for event in events:
        log(event)
    return [line.split(" ", 1)[1] for line in lines]


def test_live_view_in_a_terminal_shows_marks_countdowns_weights_and_checks() -> None:
    screen = in_terminal([sys.executable, "-m", "tests.unit.cli.live_driver", "text"])

    for mark in ("✓", "▶", "·"):
        assert mark in screen, f"no {mark} in the view: {screen[-2000:]}"
    assert re.search(r"next check in \d+s", screen), screen[-2000:]
    assert re.search(r"bake ends in \d+s", screen), screen[-2000:]
    assert "weights blue 80% / green 20%" in screen
    assert "weights blue 0% / green 100%" in screen
    for check in ("error-rate", "p95-latency", "availability"):
        assert re.search(rf"{check}\s+successful\s+.*(limit|min).*old color", screen), check
    assert "phase: promoted" in screen and re.search(r"release \S+ promoted", screen)
    assert not any(name in screen for name in INTERNAL_NAMES) and not MARKUP.search(screen)


def test_text_not_to_a_terminal_is_the_plain_log_not_the_live_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine, state, _ = _engine(tmp_path, green_error_rate=0.0)
    journal, release = engine.journal, engine.release_id

    with follow(Output.TEXT, journal, LOCAL, lambda: release) as follower:
        engine.on_turn = follower.on_turn
        engine.run(state)
        follower.finish(release)

    lines = capsys.readouterr().out.splitlines()
    assert "\x1b" not in "".join(lines) and "▶" not in "".join(lines)
    assert lines[0].split(" ", 1)[1].startswith("release ")
    assert " promoted after " in lines[-1]


def test_the_plain_log_never_repeats_a_line_and_gives_the_rollback_reason_once(
    tmp_path: Path,
) -> None:
    events = released(tmp_path, green_error_rate=0.2)
    lines = log_of(events)

    assert not [a for a, b in itertools.pairwise(lines) if a == b]
    reason = next(e for e in events if isinstance(e, Decision) and e.phase == "rolling-back")
    assert sum(reason.reason in line for line in lines) == 1, lines
    assert lines[-2:] == ["weights blue 100% / green 0%", lines[-1]]
    assert lines[-1].startswith("release ") and " rolled-back after " in lines[-1]
    text = "\n".join(lines)
    assert not any(name in text for name in INTERNAL_NAMES) and not MARKUP.search(text)


def test_a_check_is_logged_when_its_verdict_changes_not_every_window(tmp_path: Path) -> None:
    events = released(tmp_path, green_error_rate=0.0)
    windows = [e for e in events if e.kind == "window-judged"]
    lines = log_of(events)

    assert len(windows) > 2  # several windows per step...
    judged = [line for line in lines if "error-rate" in line]
    assert len(judged) == 2, lines  # ...but one line per step while the verdict holds


def test_json_events_are_plain_json_with_iso_utc_times_in_order(tmp_path: Path) -> None:
    events = [e.as_json() for e in released(tmp_path, green_error_rate=0.2)]

    text = json.dumps(events)
    assert not any(name in text for name in INTERNAL_NAMES) and not MARKUP.search(text)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "release-started" and kinds[-1] == "outcome"
    assert {"step-started", "weights-set", "window-judged", "decision", "deployed"} <= set(kinds)
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert times == sorted(times) and all(e["at"].endswith("Z") for e in events)
    window = next(e for e in events if e["event"] == "window-judged")
    error_rate = next(c for c in window["checks"] if c["name"] == "error-rate")
    assert (error_rate["verdict"], error_rate["value"], error_rate["threshold"]) == (
        "failed",
        20.0,
        0.1,
    )
    assert error_rate["baseline"] == 0.0
    assert events[-1]["outcome"] == "rolled-back" and events[-1]["reason"]


def test_a_pause_for_too_little_traffic_ends_with_the_exact_next_commands() -> None:
    plan = build_plan(make_settings(), "trading-api", "2.0.0")
    reason = "canary-10 inconclusive: too little traffic: 3 requests to green < minRequests (20)"
    paused = ReleaseState(plan).evolve(phase=ReleasePhase.PAUSED, reason=reason)

    commands = Translator(LOCAL).next_commands(paused)

    assert commands == (
        "runbook local load --stack local --rate 150 --for 120 &",
        "runbook resume -s local --service trading-api",
        "runbook promote -s local --service trading-api",
        "runbook rollback -s local --service trading-api",
    )
    remote = Translator(StreamContext("staging")).next_commands(paused)
    assert not any("local load" in c for c in remote)


def test_the_load_put_in_the_background_is_followed_by_then_not_or() -> None:
    from runbooks.cli.view import next_lines

    lines = next_lines(("runbook local load --rate 150 &", "runbook resume", "runbook rollback"))

    assert lines == [
        "next: runbook local load --rate 150 &",
        "then runbook resume",
        "  or runbook rollback",
    ]


def test_the_step_line_of_a_rolled_back_release_names_the_old_colors_traffic() -> None:
    plan = build_plan(make_settings(), "trading-api", "2.0.0")
    state = ReleaseState(plan, phase=ReleasePhase.ROLLED_BACK, step_index=len(plan.steps) - 1)

    line = step_summary(state)

    assert f"to {plan.new_color}" not in line and f"all traffic to {plan.old_color}" in line


def test_the_live_view_of_a_rollback_marks_the_step_abandoned_beside_the_old_weights(
    tmp_path: Path,
) -> None:
    model = LiveModel(now=time.time)
    for event in released(tmp_path, green_error_rate=0.2):
        model.apply(event)
    console = Console(record=True, width=140, color_system=None)

    console.print(model.render())

    screen = console.export_text()
    assert "✗" in screen and "traffic back to blue" in screen
    assert "weights blue 100% / green 0%" in screen and "▶" not in screen


def test_json_is_an_alias_of_output_json_and_a_contradiction_is_bad_input() -> None:
    assert output_of(None, as_json=True) is Output.JSON
    assert output_of(None, as_json=False) is Output.TEXT
    assert output_of(Output.JSONL, as_json=False) is Output.JSONL
    with pytest.raises(BadInput, match="--json and --output jsonl"):
        output_of(Output.JSONL, as_json=True)


def test_translating_a_journal_without_a_plan_in_its_start_announces_from_its_first_decision(
    tmp_path: Path,
) -> None:
    engine, state, _ = _engine(tmp_path, green_error_rate=0.0)
    engine.run(state)
    journal_events = engine.journal.events(engine.release_id)
    assert "state" not in journal_events[0].data  # this start carries no plan

    public = Translator(LOCAL)
    kinds = [e.kind for event in journal_events for e in public.feed(event)]

    assert kinds.count("release-started") == 1 and kinds[0] == "release-started"
    assert public.feed(Event(999, engine.release_id, time.time(), "intent")) == []


def in_terminal(argv: list[str], timeout: float = 60) -> str:
    """What `argv` drew on a pseudo-terminal as its stdout, ANSI escapes stripped."""
    leader, follower = pty.openpty()
    env = os.environ | {"TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(argv, stdout=follower, stderr=follower, env=env, cwd=ROOT)
    os.close(follower)
    drawn = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = _read(leader, proc)
            if chunk is None:
                break
            drawn += chunk
        assert proc.wait(timeout=10) == 0, drawn.decode(errors="replace")[-2000:]
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return ANSI.sub("", drawn.decode(errors="replace"))


def _read(leader: int, proc: subprocess.Popen[bytes]) -> bytes | None:
    """What the terminal has now (b"" if nothing yet); None once the program is done."""
    ready, _, _ = select.select([leader], [], [], 0.2)
    if not ready:
        return None if proc.poll() is not None else b""
    try:
        return os.read(leader, 65536) or None
    except OSError as err:  # EIO: the program closed the terminal
        if err.errno != errno.EIO:
            raise
        return None


def test_a_release_of_two_services_gives_each_its_events_and_view_section(
    tmp_path: Path,
) -> None:
    from tests.unit.test_group_engine import SERVICES, engine_for, start

    journal, release_id, group = start(tmp_path)
    clock = FakeClock()
    engine_for(journal, release_id, NopRouter(), clock, faulty=SERVICES[1]).run(group)
    events = events_of(journal.events(release_id), LOCAL)
    model = LiveModel(now=clock.now)
    for event in events:
        model.apply(event)

    started = [e.service for e in events if e.kind == "release-started"]
    assert started == list(SERVICES)
    weights = {e.service for e in events if e.kind == "weights-set"}
    assert weights == set(SERVICES)
    assert events[-1].kind == "outcome" and events[-1].as_json()["outcome"] == "rolled-back"
    assert list(model.services) == list(SERVICES)
    console = Console(record=True, width=140, color_system=None)
    console.print(model.render())
    screen = console.export_text()
    assert all(service in screen for service in SERVICES)
    assert screen.count("✗") == 2


def test_the_turn_printer_of_the_rehearsal_logs_each_of_its_releases_once(tmp_path: Path) -> None:
    lines: list[str] = []
    printer = TurnPrinter(lines.append)
    for rate, folder in ((0.0, "healthy"), (0.2, "faulty")):
        engine, state, _ = _engine(tmp_path / folder, green_error_rate=rate)
        engine.on_turn = printer
        engine.run(state)

    texts = [line.split(" ", 1)[1] for line in lines]
    assert sum(t.startswith("release ") and " -> 2.0.0 on green" in t for t in texts) == 2
    assert any(t.startswith("promoting") for t in texts)
    assert any(t.startswith("rolling-back: ") for t in texts)
    assert not [a for a, b in itertools.pairwise(texts) if a == b]


def test_a_consumers_weights_are_told_as_partitions_per_color() -> None:
    plan = build_plan(make_settings(), "trading-api", "2.0.0")  # blue -> green
    context = StreamContext(
        "local", {"trading-api": "consumer"}, partitions={"trading-api": {"order-events": 6}}
    )
    translator = Translator(context)
    translator.feed(Event(1, "r1", 1.0, "decision", {"state": ReleaseState(plan).to_dict()}))
    action = {"type": "SetWeights", "service": "trading-api", "weights": {"blue": 80, "green": 20}}

    (event,) = translator.feed(Event(2, "r1", 2.0, "action.done", {"action": action}))

    assert isinstance(event, WeightsSet)
    assert event.partitions == {"green": 2, "blue": 4}  # ceil(20% of 6) to the new color
    assert log_of([event]) == ["partitions blue 4 / green 2 of 6"]
