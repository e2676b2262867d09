"""The journal logic both SQL backends share, written once against a few small hooks.

A backend provides `_read()` and `_write()` (context managers yielding a connection whose
`.execute(sql, params)` returns a cursor; `_write` is one transaction, committed when the
block ends and rolled back otherwise) and the spelling of what differs between databases:
`_sql` (turns the `?` placeholders used here into the driver's), `JSON_PARAM` (a placeholder
for a JSON column), `ROW_LOCK` (what makes a SELECT lock its row), `TIEBREAK` (orders
releases started in the same instant) and `_serialize_start` (keeps two `start_release` of
one service apart). The stack lock stays with each backend: its semantics differ.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from runbooks.journal import records as rec
from runbooks.journal.base import FINISHED, STARTED, Event, Intent, LockHolder, ReleaseRecord
from stackspec.errors import JournalError


class SqlCursor(Protocol):
    """The part of a DB-API cursor the shared logic reads."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlConnection(Protocol):
    """The part of a connection (sqlite3 or psycopg) the shared logic uses."""

    def execute(self, sql: str, params: Sequence[Any], /) -> SqlCursor: ...


class SqlJournal(ABC):
    """Releases, events and intents (the `Journal` Protocol minus `acquire`) over SQL."""

    JSON_PARAM = "?"
    ROW_LOCK = ""
    TIEBREAK = "id"

    # -- backend hooks ------------------------------------------------------------------

    @abstractmethod
    def _read(self) -> AbstractContextManager[SqlConnection]:
        """A connection for reading; closed when the block ends."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[SqlConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""

    def _sql(self, text: str) -> str:
        """`text` (written with `?` placeholders) as the driver wants it."""
        return text

    @abstractmethod
    def _serialize_start(self, conn: SqlConnection, stack: str, service: str) -> None:
        """Block until no other `start_release` of `stack/service` is in its transaction."""

    # -- releases and events ------------------------------------------------------------

    def start_release(self, stack: str, service: str, version: str, plan: Mapping[str, Any]) -> str:
        plan_json = rec.encode(plan, "plan")
        now = time.time()
        release_id = rec.new_release_id(now)
        with self._write() as conn:
            self._serialize_start(conn, stack, service)
            open_release = self._current(conn, stack, service)
            if open_release is not None:
                raise rec.still_open(open_release)
            self._run(
                conn,
                f"INSERT INTO releases ({rec.RELEASE_COLUMNS}) "
                f"VALUES (?, ?, ?, ?, {self.JSON_PARAM}, ?, NULL, NULL)",
                (release_id, stack, service, version, plan_json, now),
            )
            self._next_event(
                conn, release_id, STARTED, rec.encode(_started(version, plan), STARTED)
            )
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
            self._run(
                conn,
                "UPDATE releases SET finished_at = ?, outcome = ? WHERE id = ?",
                (time.time(), outcome, release_id),
            )

    def events(self, release_id: str) -> list[Event]:
        with self._read() as conn:
            self._release(conn, release_id)
            rows = self._run(
                conn,
                "SELECT seq, release_id, at, kind, data FROM events WHERE release_id = ? "
                "ORDER BY seq",
                (release_id,),
            ).fetchall()
        return [Event(seq, rid, at, kind, rec.decode(data)) for seq, rid, at, kind, data in rows]

    def release(self, release_id: str) -> ReleaseRecord:
        with self._read() as conn:
            return self._release(conn, release_id)

    def current(self, stack: str, service: str) -> ReleaseRecord | None:
        with self._read() as conn:
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
            else (f"stack = ? AND {rec.SERVICE_MATCH}", [stack, *rec.service_args(service)])
        )
        with self._read() as conn:
            rows = self._run(
                conn,
                f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE {where} "
                f"ORDER BY started_at DESC, {self.TIEBREAK} DESC LIMIT ?",
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
            (iid,) = one_row(
                self._run(
                    conn,
                    "INSERT INTO intents (release_id, intent, requested_by, at) "
                    "VALUES (?, ?, ?, ?) RETURNING id",
                    (running.id, intent, by, now),
                ).fetchone()
            )
        return Intent(id=int(iid), release_id=running.id, intent=intent, by=by, at=now)

    def pending_intents(self, release_id: str) -> list[Intent]:
        with self._read() as conn:
            rows = self._run(
                conn,
                f"SELECT {rec.INTENT_COLUMNS} FROM intents "
                "WHERE release_id = ? AND consumed_at IS NULL ORDER BY id",
                (release_id,),
            ).fetchall()
        return [rec.intent_from_row(r) for r in rows]

    def consume_intent(self, intent_id: int) -> None:
        with self._write() as conn:
            self._run(
                conn,
                "UPDATE intents SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL",
                (time.time(), intent_id),
            )

    # -- stack lock (reading it; taking it is the backend's) ----------------------------

    def lock_holder(self, stack: str) -> LockHolder | None:
        with self._read() as conn:
            return self._lock_holder(conn, stack)

    # -- internals ----------------------------------------------------------------------

    def _run(self, conn: SqlConnection, sql: str, params: Sequence[Any]) -> SqlCursor:
        return conn.execute(self._sql(sql), params)

    def _release(self, conn: SqlConnection, release_id: str, lock: bool = False) -> ReleaseRecord:
        row = self._run(
            conn,
            f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE id = ?"
            + (self.ROW_LOCK if lock else ""),
            (release_id,),
        ).fetchone()
        if row is None:
            raise rec.no_release(release_id)
        return rec.release_from_row(row)

    def _open_release(self, conn: SqlConnection, release_id: str) -> ReleaseRecord:
        """The running release, row-locked (`ROW_LOCK`) so concurrent appends get distinct
        seqs."""
        record = self._release(conn, release_id, lock=True)
        if record.finished:
            raise rec.finished_release(record)
        return record

    def _current(self, conn: SqlConnection, stack: str, service: str) -> ReleaseRecord | None:
        row = self._run(
            conn,
            f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE stack = ? AND {rec.SERVICE_MATCH} "
            f"AND finished_at IS NULL ORDER BY started_at DESC, {self.TIEBREAK} DESC LIMIT 1",
            (stack, *rec.service_args(service)),
        ).fetchone()
        return None if row is None else rec.release_from_row(row)

    def _next_event(self, conn: SqlConnection, release_id: str, kind: str, data: str) -> int:
        (last,) = one_row(
            self._run(
                conn, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE release_id = ?", (release_id,)
            ).fetchone()
        )
        seq = int(last) + 1
        self._run(
            conn,
            "INSERT INTO events (release_id, seq, at, kind, data) "
            f"VALUES (?, ?, ?, ?, {self.JSON_PARAM})",
            (release_id, seq, time.time(), kind, data),
        )
        return seq

    def _lock_holder(
        self, conn: SqlConnection, stack: str, for_update: bool = False
    ) -> LockHolder | None:
        row = self._run(
            conn,
            f"SELECT {rec.LOCK_COLUMNS} FROM locks WHERE stack = ?"
            + (self.ROW_LOCK if for_update else ""),
            (stack,),
        ).fetchone()
        return None if row is None else rec.holder_from_row(row)


def one_row(row: Sequence[Any] | None) -> Sequence[Any]:
    """`row`, or JournalError if a query that always yields a row yielded none."""
    if row is None:
        raise JournalError("the database returned no row for an aggregate query")
    return row


def _started(version: str, plan: Mapping[str, Any]) -> dict[str, Any]:
    """The data of `release.started`: the version, and the release a rollback reverts."""
    started: dict[str, Any] = {"version": version}
    if plan.get("reverts"):
        started["reverts"] = str(plan["reverts"])
    return started
