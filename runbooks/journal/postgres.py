"""The team journal: the same tables as the SQLite journal, in a PostgreSQL database.

Every call is one connection and one committed transaction (psycopg 3), so as with SQLite
an appended event is durable when `append` returns and never half-written.

The stack lock is a row in `locks` (naming the holder) AND a session advisory lock held by
the lease's own connection for as long as the lease lives. PostgreSQL drops the advisory
lock when the holder's session ends, so liveness is known on any host: a row whose advisory
lock is free belongs to a dead run (taken over with `force`), a row whose advisory lock is
held belongs to a live one (never taken over). A lease whose connection drops loses that
protection; the engine's next journal write then fails loudly if the server is gone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg

from runbooks.errors import JournalError, LockedError
from runbooks.journal import records as rec
from runbooks.journal.base import FINISHED, STARTED, Event, Intent, LockHolder, ReleaseRecord
from runbooks.journal.lock import Lease, check_takeover, this_process

# First keys of the runbooks' advisory locks ("RUNB" + n), one per purpose so they never clash.
LOCK_CLASS = 0x52554E42  # session lock: held by a lease for its lifetime
GUARD_CLASS = LOCK_CLASS + 1  # transaction lock: one `acquire` of a stack at a time
START_CLASS = LOCK_CLASS + 2  # transaction lock: one `start_release` of a service at a time
SCHEMA_CLASS = LOCK_CLASS + 3  # transaction lock: one schema creation at a time

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY, stack TEXT NOT NULL, service TEXT NOT NULL, version TEXT NOT NULL,
    plan JSONB NOT NULL, started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION,
    outcome TEXT);
CREATE INDEX IF NOT EXISTS releases_by_stack ON releases (stack, service, started_at);
CREATE TABLE IF NOT EXISTS events (
    release_id TEXT NOT NULL REFERENCES releases (id), seq INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, data JSONB NOT NULL,
    PRIMARY KEY (release_id, seq));
CREATE TABLE IF NOT EXISTS intents (
    id BIGSERIAL PRIMARY KEY, release_id TEXT NOT NULL REFERENCES releases (id),
    intent TEXT NOT NULL, requested_by TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    consumed_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS locks (
    stack TEXT PRIMARY KEY, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    since DOUBLE PRECISION NOT NULL, token TEXT NOT NULL);
"""

Conn = psycopg.Connection[Any]


class PostgresJournal:
    """Journal and stack lock in the PostgreSQL database at `dsn` (tables created if absent)."""

    def __init__(self, dsn: str, connect_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        with self._transaction() as conn:
            # Two runs creating the tables at once would race on the catalog: serialize.
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (SCHEMA_CLASS,))
            conn.execute(SCHEMA)

    # -- releases and events ------------------------------------------------------------

    def start_release(self, stack: str, service: str, version: str, plan: Mapping[str, Any]) -> str:
        plan_json = rec.encode(plan, "plan")
        now = time.time()
        release_id = rec.new_release_id(now)
        with self._transaction() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (START_CLASS, f"{stack}/{service}"),
            )
            open_release = self._current(conn, stack, service)
            if open_release is not None:
                raise rec.still_open(open_release)
            conn.execute(
                f"INSERT INTO releases ({rec.RELEASE_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s, NULL, NULL)",
                (release_id, stack, service, version, plan_json, now),
            )
            self._next_event(conn, release_id, STARTED, rec.encode({"version": version}, STARTED))
        return release_id

    def append(self, release_id: str, kind: str, data: Mapping[str, Any] | None = None) -> int:
        data_json = rec.encode(data, f"data of event '{kind}'")
        with self._transaction() as conn:
            self._open_release(conn, release_id)
            return self._next_event(conn, release_id, kind, data_json)

    def finish(self, release_id: str, outcome: str) -> None:
        with self._transaction() as conn:
            self._open_release(conn, release_id)
            done = rec.encode({"outcome": outcome}, "outcome")
            self._next_event(conn, release_id, FINISHED, done)
            conn.execute(
                "UPDATE releases SET finished_at = %s, outcome = %s WHERE id = %s",
                (time.time(), outcome, release_id),
            )

    def events(self, release_id: str) -> list[Event]:
        with self._transaction() as conn:
            self._release(conn, release_id)
            rows = conn.execute(
                "SELECT seq, release_id, at, kind, data FROM events WHERE release_id = %s "
                "ORDER BY seq",
                (release_id,),
            ).fetchall()
        return [Event(seq, rid, at, kind, rec.decode(data)) for seq, rid, at, kind, data in rows]

    def release(self, release_id: str) -> ReleaseRecord:
        with self._transaction() as conn:
            return self._release(conn, release_id)

    def current(self, stack: str, service: str) -> ReleaseRecord | None:
        with self._transaction() as conn:
            return self._current(conn, stack, service)

    def latest(self, stack: str, service: str | None = None) -> ReleaseRecord | None:
        found = self.history(stack, service, limit=1)
        return found[0] if found else None

    def history(
        self, stack: str, service: str | None = None, limit: int = 20
    ) -> list[ReleaseRecord]:
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE stack = %s "
                "AND (%s::text IS NULL OR service = %s) ORDER BY started_at DESC, id DESC LIMIT %s",
                (stack, service, service, limit),
            ).fetchall()
        return [rec.release_from_row(r) for r in rows]

    # -- operator intents ---------------------------------------------------------------

    def record_intent(self, stack: str, service: str, intent: str, by: str) -> Intent:
        rec.check_intent(intent)
        with self._transaction() as conn:
            running = self._current(conn, stack, service)
            if running is None:
                raise rec.nothing_in_progress(stack, service, intent)
            now = time.time()
            row = conn.execute(
                "INSERT INTO intents (release_id, intent, requested_by, at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (running.id, intent, by, now),
            ).fetchone()
        assert row is not None  # RETURNING always yields the row
        return Intent(id=int(row[0]), release_id=running.id, intent=intent, by=by, at=now)

    def pending_intents(self, release_id: str) -> list[Intent]:
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {rec.INTENT_COLUMNS} FROM intents "
                "WHERE release_id = %s AND consumed_at IS NULL ORDER BY id",
                (release_id,),
            ).fetchall()
        return [rec.intent_from_row(r) for r in rows]

    def consume_intent(self, intent_id: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE intents SET consumed_at = %s WHERE id = %s AND consumed_at IS NULL",
                (time.time(), intent_id),
            )

    # -- stack lock ---------------------------------------------------------------------

    def acquire(self, stack: str, holder: str, force: bool = False) -> Lease:
        owner, token = this_process(holder), uuid.uuid4().hex
        session = self._connect(autocommit=True)
        try:
            self._take(session, stack, owner, token, force)
        except psycopg.Error as err:
            session.close()
            raise _unusable(err) from None
        except BaseException:
            session.close()
            raise
        return Lease(stack, owner, lambda: self._unlock(session, stack, token))

    def lock_holder(self, stack: str) -> LockHolder | None:
        with self._transaction() as conn:
            return self._lock_holder(conn, stack)

    # -- internals ----------------------------------------------------------------------

    def _take(self, session: Conn, stack: str, owner: LockHolder, token: str, force: bool) -> None:
        """Hold the advisory lock on `session`, then write the row naming `owner`.

        The guard makes a racing `acquire` wait until the winner's row is committed, so the
        loser can always name the winner.
        """
        with session.transaction():
            session.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (GUARD_CLASS, stack))
            (got,) = _one(
                session.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, stack)
                ).fetchone()
            )
            existing = self._lock_holder(session, stack, for_update=True)
            if existing is not None:
                check_takeover(stack, existing, force, alive=not got)
            elif not got:
                raise LockedError(
                    f"stack '{stack}' is being locked by another run right now",
                    hint="`runbook status` shows who; retry once it has started",
                )
            session.execute(
                "INSERT INTO locks (stack, holder, host, pid, since, token) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (stack) DO UPDATE SET "
                "holder = EXCLUDED.holder, host = EXCLUDED.host, pid = EXCLUDED.pid, "
                "since = EXCLUDED.since, token = EXCLUDED.token",
                (stack, owner.holder, owner.host, owner.pid, owner.since, token),
            )

    def _unlock(self, session: Conn, stack: str, token: str) -> None:
        delete = "DELETE FROM locks WHERE stack = %s AND token = %s"
        try:
            session.execute(delete, (stack, token))
        except psycopg.Error:
            # The lease's session is gone (and with it the advisory lock): drop the row anyway.
            with self._transaction() as conn:
                conn.execute(delete, (stack, token))
        finally:
            session.close()  # ends the session, which frees the advisory lock

    def _connect(self, autocommit: bool = False) -> Conn:
        try:
            return psycopg.connect(
                self._dsn, autocommit=autocommit, connect_timeout=max(1, int(self._timeout))
            )
        except psycopg.Error as err:
            raise _unusable(err) from None

    @contextmanager
    def _transaction(self) -> Iterator[Conn]:
        """One connection, one transaction: committed when the block ends, else rolled back."""
        conn = self._connect()
        try:
            with conn:
                yield conn
        except psycopg.Error as err:
            raise _unusable(err) from None

    def _release(self, conn: Conn, release_id: str, lock: bool = False) -> ReleaseRecord:
        row = conn.execute(
            f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE id = %s"
            + (" FOR UPDATE" if lock else ""),
            (release_id,),
        ).fetchone()
        if row is None:
            raise rec.no_release(release_id)
        return rec.release_from_row(row)

    def _open_release(self, conn: Conn, release_id: str) -> ReleaseRecord:
        """The running release, row-locked so concurrent appends get distinct seqs."""
        record = self._release(conn, release_id, lock=True)
        if record.finished:
            raise rec.finished_release(record)
        return record

    def _current(self, conn: Conn, stack: str, service: str) -> ReleaseRecord | None:
        row = conn.execute(
            f"SELECT {rec.RELEASE_COLUMNS} FROM releases WHERE stack = %s AND service = %s "
            "AND finished_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1",
            (stack, service),
        ).fetchone()
        return None if row is None else rec.release_from_row(row)

    def _next_event(self, conn: Conn, release_id: str, kind: str, data: str) -> int:
        (last,) = _one(
            conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE release_id = %s", (release_id,)
            ).fetchone()
        )
        seq = int(last) + 1
        conn.execute(
            "INSERT INTO events (release_id, seq, at, kind, data) "
            "VALUES (%s, %s, %s, %s, %s::jsonb)",
            (release_id, seq, time.time(), kind, data),
        )
        return seq

    def _lock_holder(self, conn: Conn, stack: str, for_update: bool = False) -> LockHolder | None:
        row = conn.execute(
            f"SELECT {rec.LOCK_COLUMNS} FROM locks WHERE stack = %s"
            + (" FOR UPDATE" if for_update else ""),
            (stack,),
        ).fetchone()
        return None if row is None else rec.holder_from_row(row)


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if row is None:
        raise JournalError("the database returned no row for an aggregate query")
    return row


def _unusable(err: psycopg.Error) -> JournalError:
    # The DSN may carry a password: name the failure, never the DSN.
    return JournalError(
        f"the PostgreSQL journal could not be used: {type(err).__name__}: {err}".strip(),
        hint="check that the database is up and the journal DSN is right; it is safe to retry",
    )
