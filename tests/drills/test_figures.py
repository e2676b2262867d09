"""The drills' pure parts with literal data: consistency after a kill, wrk's summary, the
JSON line."""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks.drills.consistency import Ending, ending_problems, status_problems
from benchmarks.drills.crash import OnJournal
from benchmarks.drills.outages import analysis_ended_at
from benchmarks.drills.result import DrillResult, Measure, all_of, at_most
from benchmarks.drills.wrk import parse
from runbooks.journal.base import Event

ROLLED_BACK = Ending(
    outcome="rolled-back",
    running=False,
    locked=False,
    live={"blue": 100, "green": 0},
    active="blue",
    old="blue",
    migrated=False,
    cache_version=4,
    cache_before=4,
)
PROMOTED = replace(
    ROLLED_BACK,
    outcome="promoted",
    live={"blue": 0, "green": 100},
    active="green",
    migrated=True,
    cache_version=5,
)


@pytest.mark.parametrize("ending", [ROLLED_BACK, PROMOTED])
def test_a_consistent_ending_has_no_problem(ending: Ending) -> None:
    assert ending_problems(ending) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"running": True}, "still in progress"),
        ({"locked": True}, "lock is still held"),
        ({"outcome": "aborted"}, "neither promoted nor rolled back"),
        ({"live": {"blue": 90, "green": 10}}, "not all on one color"),
        ({"live": None}, "not all on one color"),
        ({"active": "green"}, "other color than the active green"),
        ({"migrated": True}, "migration is applied"),
        ({"cache_version": 5}, "cache key version went 4 -> 5"),
    ],
)
def test_each_inconsistency_of_a_rollback_is_named(change: dict[str, object], problem: str) -> None:
    problems = ending_problems(replace(ROLLED_BACK, **change))  # type: ignore[arg-type]
    assert any(problem in p for p in problems), problems


def test_a_promotion_that_left_the_migration_undone_is_named() -> None:
    assert ending_problems(replace(PROMOTED, migrated=False)) == [
        "promoted, but the migration is not applied"
    ]


def test_status_must_tell_the_routers_real_weights() -> None:
    live = {"blue": 91, "green": 9}
    assert status_problems({"weights": {"blue": 91, "green": 9}}, live) == []
    assert status_problems({"weights": None}, live) == [
        "status says weights null; the router sends {'blue': 91, 'green': 9}"
    ]
    assert status_problems({"weights": {"blue": 100, "green": 0}}, live)
    assert status_problems({"error": "exit 1: boom"}, live) == ["status failed: exit 1: boom"]


WRK = """Running 10s test @ http://127.0.0.1:8080/orders
  2 threads and 32 connections
  12771 requests in 10.02s, 3.1MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   1274.60
"""


def test_wrk_summary_counts_every_failure() -> None:
    run = parse(WRK)
    assert (run.requests, run.seconds, run.rate) == (12771, 10.02, 1274.6)
    assert run.failed == 12
    clean = parse("  500 requests in 512.30ms, 1MB read\n")
    assert (clean.failed, clean.rate) == (0, 976.0)
    with pytest.raises(ValueError, match="no wrk summary"):
        parse("unable to connect to 127.0.0.1:1 Connection refused")


def test_a_drill_passes_only_when_every_figure_does() -> None:
    good, bad = all_of(20, 20, "points"), at_most(1, 0, "releases")
    line = DrillResult("crash", {"consistent": good}, 0.0, 12.34, [1.0, 2.0, 3.0], False)
    assert line.passed and line.as_json()["figures"]["consistent"]["target"] == "20/20"
    assert not replace(line, figures={"consistent": good, "lost": bad}).passed
    assert not replace(line, figures={}).passed
    assert line.as_json()["load_average"] == [1.0, 2.0, 3.0]
    assert Measure(0, "x", "t", False).as_json()["pass"] is False
    assert not all_of(0, 0, "points").passed


def _event(seq: int, kind: str, at: float = 0.0, **data: object) -> Event:
    return Event(seq, "r1", at or float(seq), kind, data)


DEPLOY = {"type": "Deploy", "color": "green"}
CACHE = {"type": "ApplyReleaseStep", "name": "cache-bump"}


def test_a_kill_lands_inside_an_action_that_has_no_done_event() -> None:
    """Found: kills aimed inside fast actions were counted as inside though the action had
    finished first; the journal read after the kill says which."""
    started = [_event(1, "action.started", action=DEPLOY)]
    finished = [*started, _event(2, "action.done", action=DEPLOY)]
    trigger = OnJournal("action.started", action="Deploy")
    assert trigger.landed(started) == "inside"
    assert trigger.landed(finished) == "after"
    assert trigger.landed([]) is None  # never fired
    assert OnJournal("action.done", action="Deploy").landed(finished) is None  # not aimed inside


def test_where_a_kill_landed_follows_the_nth_matching_action() -> None:
    events = [
        _event(1, "action.started", action=CACHE),
        _event(2, "action.done", action=CACHE),
        _event(3, "action.started", action=CACHE),
    ]
    assert OnJournal("action.started", 1, step="cache-bump").landed(events) == "after"
    assert OnJournal("action.started", 2, step="cache-bump").landed(events) == "inside"


def test_the_analysis_ends_at_the_first_promote_or_rollback_decision() -> None:
    def decision(seq: int, phase: str) -> Event:
        return _event(seq, "decision", at=100.0 + seq, state={"phase": phase})

    assert analysis_ended_at([decision(1, "progressing")]) is None
    assert analysis_ended_at([decision(1, "progressing"), decision(2, "promoting")]) == 102.0
    events = [decision(3, "rolling-back"), decision(4, "rolled-back")]
    assert analysis_ended_at(events) == 103.0


def test_a_rollback_refused_past_the_contract_is_consistent_only_as_a_promotion() -> None:
    """Found: the crash point inside the contract, recovered with `rollback`, counted as
    inconsistent: the engine rightly refuses to send traffic back to a version whose columns
    the contract may have dropped, and ends the release aborted on its new version."""
    kept = replace(PROMOTED, outcome="aborted", past_contract=True)
    assert ending_problems(kept) == []
    assert ending_problems(replace(kept, past_contract=False)) == [
        "the release ended 'aborted', neither promoted nor rolled back"
    ]
    assert "migration is not applied" in " ".join(ending_problems(replace(kept, migrated=False)))
    moved_back = replace(kept, live={"blue": 100, "green": 0}, active="blue")
    assert ending_problems(moved_back)  # aborted past the contract, yet on the old color
