"""A writer killed with SIGKILL in the middle of appends leaves a readable journal holding
every event it had committed, in order, none half-written."""

from __future__ import annotations

import sqlite3
import subprocess

from runbooks.journal.base import STARTED, Journal
from tests.integration.persistence.conftest import start_worker
from tests.integration.persistence.test_journal_contract import read_line


def test_kill_9_mid_append_keeps_every_committed_event(
    backend: tuple[str, str], journal: Journal, workers: list[subprocess.Popen[str]]
) -> None:
    writer = start_worker(workers, "append", backend, "staging", "writer")
    release_id = read_line(writer)
    committed = [int(read_line(writer)) for _ in range(200)]  # it keeps appending meanwhile

    writer.kill()
    writer.wait(timeout=10)

    events = journal.events(release_id)
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert committed == list(range(2, 202))
    assert len(seqs) >= committed[-1]
    assert events[0].kind == STARTED
    assert all(e.data == {"i": e.seq - 1, "pad": "x" * 512} for e in events[1:])
    if backend[0] == "sqlite":
        with sqlite3.connect(backend[1]) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert journal.append(release_id, "action.done", {"after": "crash"}) == len(seqs) + 1
