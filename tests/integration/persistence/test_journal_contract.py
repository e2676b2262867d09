"""The journal contract, run against SQLite and a real PostgreSQL alike.

Every backend must give the same answers: these tests are the definition of a journal.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from runbooks.journal.base import FINISHED, STARTED, Journal
from stackspec.errors import BadInput, JournalError, LockedError
from tests.integration.persistence.conftest import start_worker

PLAN = {"steps": [{"weight": 10, "bakeSeconds": 5}, {"weight": 100, "bakeSeconds": 5}]}


def read_line(proc: subprocess.Popen[str]) -> str:
    """The worker's next line; fails with its stderr if it died instead."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        assert proc.stderr is not None
        pytest.fail(f"worker exited ({proc.wait()}): {proc.stderr.read()}")
    return line.strip()


def test_a_release_starts_with_its_started_event_and_counts_appends(journal: Journal) -> None:
    before = time.time()
    rid = journal.start_release("staging", "trading-api", "1.1.0", PLAN)

    assert journal.append(rid, "action.started", {"action": "set_weights", "green": 10}) == 2
    assert journal.append(rid, "action.done", {"action": "set_weights"}) == 3

    events = journal.events(rid)
    assert [(e.seq, e.kind) for e in events] == [
        (1, STARTED),
        (2, "action.started"),
        (3, "action.done"),
    ]
    assert events[0].data == {"version": "1.1.0"}
    assert events[1].data == {"action": "set_weights", "green": 10}
    assert all(e.release_id == rid and before <= e.at <= time.time() for e in events)
    record = journal.release(rid)
    assert (record.stack, record.service, record.version) == ("staging", "trading-api", "1.1.0")
    assert record.plan == PLAN and not record.finished


def test_finish_closes_the_release_and_records_the_outcome(journal: Journal) -> None:
    rid = journal.start_release("staging", "trading-api", "1.1.0", PLAN)
    assert journal.current("staging", "trading-api") is not None

    journal.finish(rid, "rolled_back")

    assert journal.current("staging", "trading-api") is None
    latest = journal.latest("staging", "trading-api")
    assert latest is not None and latest.id == rid
    assert latest.outcome == "rolled_back" and latest.finished
    assert journal.events(rid)[-1].kind == FINISHED
    assert journal.events(rid)[-1].data == {"outcome": "rolled_back"}


def test_a_finished_release_is_read_only(journal: Journal) -> None:
    rid = journal.start_release("staging", "trading-api", "1.1.0", PLAN)
    journal.finish(rid, "promoted")

    with pytest.raises(JournalError, match="already finished"):
        journal.append(rid, "action.started", {})
    with pytest.raises(JournalError, match="already finished"):
        journal.finish(rid, "aborted")
    assert len(journal.events(rid)) == 2


def test_unknown_release_ids_are_errors(journal: Journal) -> None:
    with pytest.raises(JournalError, match="no release 'nope'"):
        journal.append("nope", "action.started", {})
    with pytest.raises(JournalError, match="no release 'nope'"):
        journal.events("nope")
    with pytest.raises(JournalError, match="no release 'nope'"):
        journal.release("nope")


def test_data_that_is_not_json_is_rejected_before_writing(journal: Journal) -> None:
    rid = journal.start_release("staging", "trading-api", "1.1.0", PLAN)

    with pytest.raises(JournalError, match="cannot be journaled"):
        journal.append(rid, "action.started", {"when": object()})

    assert [e.seq for e in journal.events(rid)] == [1]


def test_a_second_open_release_of_one_service_is_refused(journal: Journal) -> None:
    first = journal.start_release("staging", "trading-api", "1.1.0", PLAN)

    with pytest.raises(JournalError, match=first):
        journal.start_release("staging", "trading-api", "1.2.0", PLAN)
    other = journal.start_release("staging", "market-data", "2.0.0", PLAN)
    assert other != first


def test_history_is_newest_first_per_stack_and_service(journal: Journal) -> None:
    ids = []
    for version in ("1.0.1", "1.0.2", "1.0.3"):
        rid = journal.start_release("staging", "trading-api", version, PLAN)
        journal.finish(rid, "promoted")
        ids.append(rid)
    journal.start_release("staging", "market-data", "9.0.0", PLAN)
    journal.start_release("production", "trading-api", "0.9.0", PLAN)

    api = journal.history("staging", "trading-api")
    assert [r.id for r in api] == ids[::-1]
    assert [r.version for r in journal.history("staging", limit=2)] == ["9.0.0", "1.0.3"]
    assert len(journal.history("staging")) == 4
    latest = journal.latest("staging")
    assert latest is not None and latest.service == "market-data"
    assert journal.latest("dev") is None


def test_operator_intents_wait_until_consumed(journal: Journal) -> None:
    rid = journal.start_release("staging", "trading-api", "1.1.0", PLAN)
    other = journal.start_release("staging", "market-data", "2.0.0", PLAN)

    pause = journal.record_intent("staging", "trading-api", "pause", by="alice")
    journal.record_intent("staging", "trading-api", "abort", by="bob")
    journal.record_intent("staging", "market-data", "promote", by="ci")

    pending = journal.pending_intents(rid)
    assert [(i.intent, i.by, i.release_id) for i in pending] == [
        ("pause", "alice", rid),
        ("abort", "bob", rid),
    ]
    journal.consume_intent(pause.id)
    assert [i.intent for i in journal.pending_intents(rid)] == ["abort"]
    assert [i.intent for i in journal.pending_intents(other)] == ["promote"]


def test_intents_need_a_release_in_progress_and_a_known_verb(journal: Journal) -> None:
    with pytest.raises(BadInput, match="no release of staging/trading-api is in progress"):
        journal.record_intent("staging", "trading-api", "pause", by="alice")
    journal.start_release("staging", "trading-api", "1.1.0", PLAN)
    with pytest.raises(BadInput, match="unknown intent 'explode'"):
        journal.record_intent("staging", "trading-api", "explode", by="alice")


def test_the_lock_names_its_holder_and_is_released(journal: Journal) -> None:
    lease = journal.acquire("staging", "alice")
    holder = journal.lock_holder("staging")
    assert holder is not None
    assert (holder.holder, holder.host, holder.pid) == ("alice", socket.gethostname(), os.getpid())

    with pytest.raises(LockedError, match=r"locked by alice on host .* \(pid \d+\) since") as err:
        journal.acquire("staging", "bob")
    assert err.value.exit_code == 4
    with journal.acquire("production", "bob") as other_stack:
        assert other_stack.owner.holder == "bob"

    lease.release()
    lease.release()  # idempotent
    assert journal.lock_holder("staging") is None
    with journal.acquire("staging", "bob") as again:
        assert again.owner.holder == "bob"
    assert journal.lock_holder("staging") is None


def test_force_never_takes_a_lock_whose_process_is_alive(journal: Journal) -> None:
    with journal.acquire("staging", "alice"):
        with pytest.raises(LockedError, match="locked by alice") as err:
            journal.acquire("staging", "bob", force=True)
        assert "still running" in err.value.hint


def test_two_processes_racing_for_the_lock_exactly_one_wins(
    backend: tuple[str, str], workers: list[subprocess.Popen[str]]
) -> None:
    for round_no in range(3):
        stack = f"race-{round_no}"
        procs = [start_worker(workers, "hold", backend, stack, f"w{n}") for n in range(2)]
        assert [read_line(p) for p in procs] == ["ready", "ready"]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

        results = [read_line(p) for p in procs]

        winners = [n for n, r in enumerate(results) if r == "won"]
        assert len(winners) == 1, results
        loser = results[1 - winners[0]]
        assert loser.startswith(f"locked stack '{stack}' is locked by w{winners[0]} ")
        assert f"(pid {procs[winners[0]].pid})" in loser


def test_a_dead_holders_lock_is_taken_over_only_with_force(
    backend: tuple[str, str], journal: Journal, workers: list[subprocess.Popen[str]]
) -> None:
    holder = start_worker(workers, "hold", backend, "staging", "crashed-run")
    assert read_line(holder) == "ready"
    assert holder.stdin is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert read_line(holder) == "won"

    holder.kill()
    holder.wait(timeout=10)

    hint = _hint_once_holder_is_seen_dead(journal, "staging")
    assert "--force" in hint
    with journal.acquire("staging", "alice", force=True) as lease:
        assert lease.owner.holder == "alice"
        owner = journal.lock_holder("staging")
        assert owner is not None and owner.pid == os.getpid()


def _hint_once_holder_is_seen_dead(journal: Journal, stack: str) -> str:
    """The LockedError hint once the backend sees the holder as gone (PostgreSQL notices a
    dead client's session asynchronously, so poll with a deadline)."""
    deadline = time.monotonic() + 15
    while True:
        with pytest.raises(LockedError, match="locked by crashed-run") as err:
            journal.acquire(stack, "alice")
        if "gone" in err.value.hint or time.monotonic() > deadline:
            return err.value.hint
        time.sleep(0.05)
