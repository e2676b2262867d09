"""`runbook status` and `runbook history` on real journals (engine runs with nop backends).

Given a journal in RUNBOOK_STATE_DIR, when the verb runs through the CLI, then the tree,
the JSON (no markup, ISO 8601 UTC times) and the history rows say what happened.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runbooks.cli import status as status_module
from runbooks.cli.app import app
from runbooks.core.model import Weights
from runbooks.engine import ACTION_STARTED
from runbooks.journal.sqlite import SqliteJournal
from tests.unit.report.releases import SERVICE, journal_in, run_release

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # as every output writes it
MARKUP = re.compile(r"\[/?(red|green|yellow|cyan|bold)[^\]]*\]")


class FixedRouter:
    """A router whose live split is whatever the test says."""

    def __init__(self, weights: Weights) -> None:
        self.weights = weights

    def get_weights(self, service: str) -> Weights:
        return self.weights


class FakeSession:
    def __init__(self, weights: Weights) -> None:
        self.router = FixedRouter(weights)

    def backends(self, steps: tuple[str, ...]) -> FakeSession:
        return self


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteJournal:
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path))
    return journal_in(tmp_path)


def live_router(monkeypatch: pytest.MonkeyPatch, weights: Weights) -> None:
    monkeypatch.setattr(
        "runbooks.session.Session.open", classmethod(lambda cls, stack: FakeSession(weights))
    )


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def status_json(*extra: str) -> dict[str, Any]:
    document = json.loads(cli("status", "-s", "local", "--service", SERVICE, "-o", "json", *extra))
    row: dict[str, Any] = document["services"][0]
    return row


def all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in all_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in all_strings(v)]
    return []


def test_status_of_a_killed_release_is_a_tree_with_marks_windows_and_revisions(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    release_id, outcome = run_release(journal, "9.1.0", kill_on_step=1)
    assert outcome is None
    live_router(monkeypatch, Weights(blue=50, green=50))

    told = cli("status", "-s", "local", "--service", SERVICE)

    assert f"release {release_id}" in told
    assert "strategy   canary" in told and "status     progressing" in told
    assert "step       2/3 canary-50 (50% to green)" in told
    assert re.search(r"├──✓ canary-10 +10%.*done", told)  # the marks of the live view
    assert re.search(r"├──▶ canary-50 +50%.*current", told)
    assert re.search(r"└──· canary-100 +100%.*pending", told)
    windows = re.findall(r"window \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  successful", told)
    assert len(windows) == 2, told  # the current step's windows only
    assert "✔ error-rate" in told and "✔ availability" in told
    assert re.search(r"├── blue +1\.0\.0 +stable, active +weight 50%", told)
    assert re.search(r"└── green +9\.1\.0 +canary +weight 50%", told)
    assert "started by alice" in told.replace("    ", " ") or "by alice" in told
    assert "weights    blue 50% / green 50% (live, from the router)" in told
    assert "no engine is running this release" in told
    assert f"`runbook resume -s local --service {SERVICE}`" in told  # the exact command
    assert "[red]" not in told


def test_status_refuses_output_jsonl_naming_text_or_json(journal: SqliteJournal) -> None:
    result = CliRunner().invoke(app, ["status", "-s", "local", "--output", "jsonl"])

    assert result.exit_code == 2 and "text or json" in result.output, result.output
    assert "Traceback" not in result.output


def test_status_json_has_no_markup_iso_times_and_public_names(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_release(journal, "9.2.0", kill_on_step=1)
    live_router(monkeypatch, Weights(blue=50, green=50))

    row = status_json()

    strings = all_strings(row)
    assert not [s for s in strings if MARKUP.search(s)]
    assert not [s for s in strings if re.search(r"Analyse|SetWeights|\['Wait'\]", s)]
    release = row["release"]
    assert ISO.match(release["started_at"]) and release["finished_at"] is None
    assert all(ISO.match(w["at"]) for w in row["windows"])
    assert [s["mark"] for s in row["steps"]] == ["done", "current", "pending"]
    assert {c["verdict"] for w in row["windows"] for c in w["checks"]} == {"successful"}
    assert row["weights"] == {"blue": 50, "green": 50} == row["journal_weights"]
    assert row["weights_source"] == "router" and row["weights_mismatch"] is None
    assert row["engine_alive"] is False
    assert release["started_by"] == "alice"
    assert (release["from_version"], release["to_version"]) == ("1.0.0", "9.2.0")


def test_live_weights_that_differ_from_the_journal_are_reported(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Killed inside the weight change to step 1: started, never verified; HAProxy has it.
    release_id, _ = run_release(journal, "9.3.0", kill_on_step=1)
    halfway = {"type": "SetWeights", "service": SERVICE, "weights": {"blue": 0, "green": 100}}
    journal.append(release_id, ACTION_STARTED, {"index": 0, "action": halfway})
    live_router(monkeypatch, Weights(blue=0, green=100))

    row = status_json()
    told = cli("status", "-s", "local", "--service", SERVICE)

    assert row["weights"] == {"blue": 0, "green": 100}
    assert row["journal_weights"] == {"blue": 50, "green": 50}
    assert row["weights_mismatch"] == (
        "the router sends blue 0% / green 100% but the journal's last verified split is "
        "blue 50% / green 50%: the engine stopped inside a change to blue 0% / green 100%"
    )
    assert "mismatch   the router sends blue 0% / green 100%" in told


def test_unreadable_router_falls_back_to_the_journal_and_says_why(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_release(journal, "9.4.0", kill_on_step=0)
    monkeypatch.setattr(
        status_module,
        "live_weights",
        lambda stack, services: status_module.LiveWeights({}, "socket gone"),
    )

    row = status_json()

    assert row["weights"] == {"blue": 90, "green": 10} and row["weights_source"] == "journal"
    assert row["live_weights_error"] == "socket gone"


def test_history_names_the_right_versions_after_a_promoted_release_is_rolled_back(
    journal: SqliteJournal,
) -> None:
    promoted, outcome = run_release(journal, "9.5.0")
    assert outcome is not None and outcome.value == "promoted"
    reverted, outcome = run_release(journal, "9.5.0", reverts=promoted)
    assert outcome is not None and outcome.value == "rolled-back"

    rows = json.loads(cli("history", "-s", "local", "--json"))["releases"]
    told = cli("history", "-s", "local")

    newest, older = rows[0], rows[1]
    assert (newest["id"], newest["from_version"], newest["to_version"]) == (
        reverted,
        "9.5.0",
        "1.0.0",
    )
    assert newest["reverts"] == promoted and newest["started_by"] == "bob"
    assert (older["id"], older["from_version"], older["to_version"]) == (promoted, "1.0.0", "9.5.0")
    assert older["outcome"] == "promoted" and older["reverted_by"] == reverted
    assert older["started_by"] == "alice" and ISO.match(older["started_at"])
    assert older["duration_seconds"] is not None
    lines = told.splitlines()
    assert re.search(r"\bversions\b.*\bduration\b.*\boutcome\b.*\breason\b.*\bby\b", lines[0])
    row_of = {line.split()[0]: line for line in lines[1:] if line.strip()}
    assert re.search(r"9\.5\.0 → 1\.0\.0 .* rolled-back .* bob", row_of[reverted])
    assert re.search(rf"1\.0\.0 → 9\.5\.0 .* promoted, rolled back by {reverted}", row_of[promoted])


def test_status_of_a_rolled_back_release_says_where_traffic_is_and_how_long_it_took(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, outcome = run_release(journal, "9.6.1", error_rate=0.3)
    assert outcome is not None and outcome.value == "rolled-back"
    live_router(monkeypatch, Weights(blue=100, green=0))

    told = cli("status", "-s", "local", "--service", SERVICE)

    assert re.search(r"step +rolled-back from \d/3 canary-\d+; all traffic to blue", told), told
    assert "% to green)" not in told  # never a step's weights beside the old color's
    assert "(took " in told and "(age " not in told


def test_history_of_a_rolled_back_release_gives_a_short_reason(journal: SqliteJournal) -> None:
    release_id, outcome = run_release(journal, "9.6.0", error_rate=0.3)
    assert outcome is not None and outcome.value == "rolled-back"

    rows = json.loads(cli("history", "-s", "local", "-o", "json"))["releases"]
    told = cli("history", "-s", "local")

    assert "error-rate" in rows[0]["reason"] or "error rate" in rows[0]["reason"]
    line = next(line for line in told.splitlines() if line.startswith(release_id))
    assert "rolled-back" in line and "…" in line and "alice" in line


def test_watch_when_piped_prints_a_line_per_change_and_ends_with_the_release(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    release_id, _ = run_release(journal, "9.7.0", error_rate=0.3)
    live_router(monkeypatch, Weights(blue=100, green=0))

    told = cli("status", "-s", "local", "--service", SERVICE, "--watch")

    lines = told.strip().splitlines()
    assert len(lines) == 1, told  # ended: one state, printed once, then the watch returns
    assert re.match(
        rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {SERVICE} {release_id}: rolled-back",
        lines[0],
    )
    assert "last window failed" in lines[0] and "finished rolled-back" in lines[0]


def test_watch_when_piped_prints_only_changes_until_the_release_ends(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    release_id, _ = run_release(journal, "9.8.1", kill_on_step=1)
    live_router(monkeypatch, Weights(blue=50, green=50))
    polls: list[float] = []

    def sleep(seconds: float) -> None:  # each poll of the watch; the release ends at the 3rd
        polls.append(seconds)
        if len(polls) == 3:
            journal.finish(release_id, "rolled-back")

    monkeypatch.setattr(status_module.time, "sleep", sleep)

    with journal.acquire("local", "tester"):  # an engine (this process) holds the lock
        told = cli("status", "-s", "local", "--service", SERVICE, "--watch")

    lines = told.strip().splitlines()
    assert len(polls) == 3
    assert len(lines) == 2, told  # unchanged polls print nothing
    assert "progressing, step 2/3 canary-50" in lines[0]
    assert "finished rolled-back" in lines[1]


def test_watch_of_a_release_whose_engine_died_says_interrupted_and_ends(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_release(journal, "9.8.2", kill_on_step=1)  # killed: running, no lock holder
    live_router(monkeypatch, Weights(blue=50, green=50))
    polls: list[float] = []
    monkeypatch.setattr(status_module.time, "sleep", polls.append)

    told = cli("status", "-s", "local", "--service", SERVICE, "--watch")

    assert polls == [], told  # nothing will change until someone resumes it: no waiting
    assert "interrupted (no engine)" in told
    assert f"`runbook resume -s local --service {SERVICE}`" in told


def test_the_phase_names_status_spells_are_the_cores() -> None:
    from runbooks.core.state import ReleasePhase
    from runbooks.report import facts

    spelled = facts.ROLLING | facts.OVER | facts.BEFORE_TRAFFIC
    spelled |= {facts.PENDING, facts.AWAITING_PROMOTION, facts.ABORTED}
    assert spelled <= {p.value for p in ReleasePhase}
