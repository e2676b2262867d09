"""What only the SQLite journal does: its file, WAL mode, locks left by other hosts, and the
journal registry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runbooks.journal.registry import JOURNALS
from runbooks.journal.sqlite import SqliteJournal
from stackspec.errors import BadInput, JournalError, LockedError, UnknownName


def test_the_registry_puts_the_journal_in_the_state_dir(tmp_path: Path) -> None:
    journal = JOURNALS.create("sqlite", state_dir=tmp_path / "state")

    journal.start_release("local", "trading-api", "1.1.0", {})

    path = tmp_path / "state" / "journal.sqlite3"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_the_registry_rejects_unknown_names_and_missing_options() -> None:
    assert JOURNALS.names() == ["postgres", "sqlite"]
    with pytest.raises(UnknownName, match="unknown journal 'mysql'"):
        JOURNALS.create("mysql")
    with pytest.raises(BadInput, match="needs a state_dir"):
        JOURNALS.create("sqlite")
    with pytest.raises(BadInput, match="needs a DSN"):
        JOURNALS.create("postgres", dsn="")


def test_an_unusable_file_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "journal.sqlite3").mkdir()
    with pytest.raises(JournalError, match="could not be used"):
        SqliteJournal(tmp_path / "journal.sqlite3")


def test_a_lock_left_on_another_host_is_taken_only_with_force(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    with sqlite3.connect(journal.path) as conn:
        conn.execute(
            "INSERT INTO locks VALUES ('staging', 'bob', 'build-7', 4242, 1700000000.0, 't')"
        )

    with pytest.raises(LockedError, match="locked by bob on host build-7 \\(pid 4242\\)") as err:
        journal.acquire("staging", "alice")
    assert "check on host build-7 that pid 4242 is no longer running" in err.value.hint

    with journal.acquire("staging", "alice", force=True) as lease:
        holder = journal.lock_holder("staging")
        assert holder == lease.owner and holder.holder == "alice"
    assert journal.lock_holder("staging") is None
