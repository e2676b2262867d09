"""The default journal: one SQLite file under the stack's state dir.

The file is in WAL mode with `synchronous=FULL`, and every write is its own
`BEGIN IMMEDIATE ... COMMIT`: a committed event survives kill -9 (and power loss), a
transaction cut short by a kill is rolled back on the next open, so no event is ever
half-written. IMMEDIATE takes SQLite's write lock up front, which is what makes the stack
lock safe: two processes can never both see the lock free and both insert it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from runbooks.errors import JournalError
from runbooks.journal import records as rec
from runbooks.journal.base import FINISHED, STARTED, Event, Intent, LockHolder, ReleaseRecord
from runbooks.journal.lock import Lease, check_takeover, this_process

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY, stack TEXT NOT NULL, service TEXT NOT NULL, version TEXT NOT NULL,
    plan TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL, outcome TEXT);
CREATE INDEX IF NOT EXISTS releases_by_stack ON releases (stack, service, started_at);
CREATE TABLE IF NOT EXISTS events (
    release_id TEXT NOT NULL REFERENCES releases (id), seq INTEGER NOT NULL,
    at REAL NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (release_id, seq));
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, release_id TEXT NOT NULL REFERENCES releases (id),
    intent TEXT NOT NULL, requested_by TEXT NOT NULL, at REAL NOT NULL, consumed_at REAL);
CREATE TABLE IF NOT EXISTS locks (
    stack TEXT PRIMARY KEY, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    since REAL NOT NULL, token TEXT NOT NULL);
"""

JOURNAL_FILE = "journal.sqlite3"


def _is_locked(err: BaseException) -> bool:
    return isinstance(err, JournalError) and "locked" in err.message


class SqliteJournal:
    """Journal and stack lock in one SQLite file (`path`, created with its parents)."""

    def __init__(self, path: Path | str, busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = busy_timeout_seconds
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._initialise()

    def _initialise(self) -> None:
        # Switching to WAL takes an exclusive lock without waiting on the busy handler, so
        # two processes opening a new journal at once can see "database is locked": retry.
        for attempt in Retrying(
            retry=retry_if_exception(_is_locked),
            stop=stop_after_delay(self._timeout),
            wait=wait_random(0.01, 0.1),
            reraise=True,
        ):
            with attempt, self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)

    @classmethod
    def in_state_dir(cls, state_dir: Path | str) -> SqliteJournal:
        """The journal file of a state dir (`<state_dir>/journal.sqlite3`)."""
        return cls(Path(state_dir) / JOURNAL_FILE)

    # -- releases and events ------------------------------------------------------------

    def start_release(self, stack: str, service: str, version: str, plan: Mapping[str, Any]) -> str:
        plan_json = rec.encode(plan, "plan")
        now = time.time()
        release_id = rec.new_release_id(now)
        with self._write() as conn:
            open_release = self._current(conn, stack, service)
            if open_release is not None:
                raise rec.still_open(open_release)
            conn.execute(
                f"INSERT INTO releases ({rec.RELEASE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (release_id, stack, service, version, plan_json, now),
            )
            self._next_event(conn, release_id, STARTED, rec.encode({"version": version}, STARTED))
        return release_id

    def append(self, release_id: str, kind: str, data: Mapping[str, Any] | None = None) -> int:
        data_json = rec.encode(data, f"data of event '{kind}'")
        with self._write() as conn:
            self._open_release(conn, release_id)
            return self._next_event(conn, release_id, kind, data_json)

    def finish(self, release_id: str, outcome: str) -> None:
        with self._write() as conn:
            self._open_release(conn, release_id)
            done = rec.encode({"outcome": outcome}, "outcome")
            self._next_event(conn, release_id, FINISHED, done)
            conn.execute(
                "UPDATE releases SET finished_at = ?, outcome = ? WHERE id = ?",
                (time.time(), outcome, release_id),
            )

    def events(self, release_id: str) -> list[Event]:
        with self._connect() as conn:
            self._release(conn, release_id)
            rows = conn.execute(
                "SELECT seq, release_id, at, kind, data FROM events WHERE release_id = ? "
                "ORDER BY seq",
                (release_id,),
            ).fetchall()
        return [Event(seq, rid, at, kind, rec.decode(data)) for seq, rid, at, kind, data in rows]

    def release(self, release_id: str) -> ReleaseRecord:
        with self._connect() as conn:
            return self._release(conn, release_id)

    def current(self, stack: str, service: str) -> ReleaseRecord | None:
        with self._connect() as conn:
            return self._current(conn, stack, service)

    def latest(self, stack: str, service: str | None = None) -> ReleaseRecord | None:
        found = self.history(stack, service, limit=1)
        return found[0] if found else None

    def history(
        self, stack: str, service: str | None = None, limit: int = 20
    ) -> list[ReleaseRecord]:
        where, args = (
            ("stack = ?", [stack])
            if service is None
            else ("stack = ? AND service = ?", [stack, service])
        )
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE {where} "
                "ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [rec.release_from_row(r) for r in rows]

    # -- operator intents ---------------------------------------------------------------

    def record_intent(self, stack: str, service: str, intent: str, by: str) -> Intent:
        rec.check_intent(intent)
        with self._write() as conn:
            running = self._current(conn, stack, service)
            if running is None:
                raise rec.nothing_in_progress(stack, service, intent)
            now = time.time()
            cursor = conn.execute(
                "INSERT INTO intents (release_id, intent, requested_by, at) VALUES (?, ?, ?, ?)",
                (running.id, intent, by, now),
            )
            assert cursor.lastrowid is not None  # always set after an INSERT
            return Intent(id=cursor.lastrowid, release_id=running.id, intent=intent, by=by, at=now)

    def pending_intents(self, release_id: str) -> list[Intent]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {rec.INTENT_COLUMNS} FROM intents "
                "WHERE release_id = ? AND consumed_at IS NULL ORDER BY id",
                (release_id,),
            ).fetchall()
        return [rec.intent_from_row(r) for r in rows]

    def consume_intent(self, intent_id: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE intents SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL",
                (time.time(), intent_id),
            )

    # -- stack lock ---------------------------------------------------------------------

    def acquire(self, stack: str, holder: str, force: bool = False) -> Lease:
        owner, token = this_process(holder), uuid.uuid4().hex
        with self._write() as conn:
            existing = self._lock_holder(conn, stack)
            if existing is not None:
                check_takeover(stack, existing, force)
            conn.execute(
                "INSERT OR REPLACE INTO locks (stack, holder, host, pid, since, token) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (stack, owner.holder, owner.host, owner.pid, owner.since, token),
            )
        return Lease(stack, owner, lambda: self._unlock(stack, token))

    def lock_holder(self, stack: str) -> LockHolder | None:
        with self._connect() as conn:
            return self._lock_holder(conn, stack)

    # -- internals ----------------------------------------------------------------------

    def _unlock(self, stack: str, token: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM locks WHERE stack = ? AND token = ?", (stack, token))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as err:
            raise _unusable(self.path, err) from None
        try:
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        except sqlite3.Error as err:
            raise _unusable(self.path, err) from None
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed whole when the block ends, else rolled back."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _release(self, conn: sqlite3.Connection, release_id: str) -> ReleaseRecord:
        row = conn.execute(
            f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE id = ?", (release_id,)
        ).fetchone()
        if row is None:
            raise rec.no_release(release_id)
        return rec.release_from_row(row)

    def _open_release(self, conn: sqlite3.Connection, release_id: str) -> ReleaseRecord:
        record = self._release(conn, release_id)
        if record.finished:
            raise rec.finished_release(record)
        return record

    def _current(self, conn: sqlite3.Connection, stack: str, service: str) -> ReleaseRecord | None:
        row = conn.execute(
            f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE stack = ? AND service = ? "
            "AND finished_at IS NULL ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (stack, service),
        ).fetchone()
        return None if row is None else rec.release_from_row(row)

    def _next_event(self, conn: sqlite3.Connection, release_id: str, kind: str, data: str) -> int:
        (last,) = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE release_id = ?", (release_id,)
        ).fetchone()
        seq = int(last) + 1
        conn.execute(
            "INSERT INTO events (release_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)",
            (release_id, seq, time.time(), kind, data),
        )
        return seq

    def _lock_holder(self, conn: sqlite3.Connection, stack: str) -> LockHolder | None:
        row = conn.execute(
            f"SELECT {rec.LOCK_COLUMNS} FROM locks WHERE stack = ?", (stack,)
        ).fetchone()
        return None if row is None else rec.holder_from_row(row)


def _unusable(path: Path, err: sqlite3.Error) -> JournalError:
    return JournalError(
        f"the journal {path} could not be used: {err}",
        hint="check the file's permissions and free disk space; it is safe to retry",
    )
