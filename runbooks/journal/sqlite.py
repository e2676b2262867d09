"""The default journal: one SQLite file under the stack's state dir.

The file is in WAL mode with `synchronous=FULL`, and every write is its own
`BEGIN IMMEDIATE ... COMMIT`: a committed event survives kill -9 (and power loss), a
transaction cut short by a kill is rolled back on the next open, so no event is ever
half-written. IMMEDIATE takes SQLite's write lock up front, which is what makes the stack
lock safe: two processes can never both see the lock free and both insert it.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

from runbooks.journal.lock import Lease, check_takeover, this_process
from runbooks.journal.sql import SqlConnection, SqlJournal
from stackspec.errors import JournalError

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


class SqliteJournal(SqlJournal):
    """Journal and stack lock in one SQLite file (`path`, created with its parents)."""

    # BEGIN IMMEDIATE already holds the whole file's write lock: no row locks needed.
    ROW_LOCK = ""
    TIEBREAK = "rowid"  # insertion order

    def __init__(self, path: Path | str, busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = busy_timeout_seconds
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_private(self.path)
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

    def _serialize_start(self, conn: SqlConnection, stack: str, service: str) -> None:
        """Nothing to do: `_write`'s BEGIN IMMEDIATE already lets one writer in at a time."""

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connect()

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


def _create_private(path: Path) -> None:
    """Create the journal file readable by its owner only (0600) if it is new: it records
    who released what. SQLite gives its -wal and -shm files the database file's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as err:
        raise JournalError(
            f"the journal {path} could not be created: {err.strerror or err}",
            hint="check the folder's permissions and free disk space",
        ) from None


def _unusable(path: Path, err: sqlite3.Error) -> JournalError:
    return JournalError(
        f"the journal {path} could not be used: {err}",
        hint="check the file's permissions and free disk space; it is safe to retry",
    )
