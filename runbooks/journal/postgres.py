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

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from runbooks.journal.base import LockHolder
from runbooks.journal.lock import Lease, check_takeover, this_process
from runbooks.journal.sql import SqlConnection, SqlJournal, one_row
from stackspec.errors import JournalError, LockedError

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


class PostgresJournal(SqlJournal):
    """Journal and stack lock in the PostgreSQL database at `dsn` (tables created if absent)."""

    JSON_PARAM = "?::jsonb"
    ROW_LOCK = " FOR UPDATE"  # so concurrent appends to a release get distinct seqs
    TIEBREAK = "id"

    def __init__(self, dsn: str, connect_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        with self._transaction() as conn:
            # Two runs creating the tables at once would race on the catalog: serialize.
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (SCHEMA_CLASS,))
            conn.execute(SCHEMA)

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

    # -- internals ----------------------------------------------------------------------

    def _take(self, session: Conn, stack: str, owner: LockHolder, token: str, force: bool) -> None:
        """Hold the advisory lock on `session`, then write the row naming `owner`.

        The guard makes a racing `acquire` wait until the winner's row is committed, so the
        loser can always name the winner.
        """
        with session.transaction():
            session.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (GUARD_CLASS, stack))
            (got,) = one_row(
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
                    hint=f"`runbook status -s {stack}` shows who; retry once it has started",
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

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def _serialize_start(self, conn: SqlConnection, stack: str, service: str) -> None:
        self._run(
            conn,
            "SELECT pg_advisory_xact_lock(?, hashtext(?))",
            (START_CLASS, f"{stack}/{service}"),
        )

    def _read(self) -> AbstractContextManager[Conn]:
        return self._transaction()

    def _write(self) -> AbstractContextManager[Conn]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[Conn]:
        """One connection, one transaction: committed when the block ends, else rolled back."""
        conn = self._connect()
        try:
            with conn:
                yield conn
        except psycopg.Error as err:
            raise _unusable(err) from None


def _unusable(err: psycopg.Error) -> JournalError:
    # The DSN may carry a password: name the failure, never the DSN.
    return JournalError(
        f"the PostgreSQL journal could not be used: {type(err).__name__}: {err}".strip(),
        hint="check that the database is up and the journal DSN is right; it is safe to retry",
    )
