"""The sample services' PostgreSQL connection pool: psycopg_pool, bounded, checked on checkout.

A fixed set of connections reused across threads. Requests beyond it wait for one to come
back (up to `timeout` seconds) rather than opening and closing a connection each: under
load that churn cost a server process per request and tripled the services' p95 (issue 8's
~100 ms benchmark row). Every connection is opened at start, before the first request:
a new color that opened them under its first traffic read slower than the old one, which
is start-up, not the version. Each connection is checked when taken, so a restarted
database costs no request a dead connection.

The DSN is a string or a callable the pool calls before each new connection
(`samples.credential_files.DsnFile` reads the file ESO keeps current), so connections
opened after a password rotation use the new password. When the callable fails (the file
is unreadable), only that connection is not opened: the pool logs it and retries, the
connections already open keep serving, and a request that finds none free fails with a
PoolTimeout that says why new ones cannot be opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from samples.credential_files import SecretFileError


class Pool:
    """Up to `size` autocommit connections to `dsn` (a string, or a callable giving the DSN
    for each new connection), shared by the service's threads."""

    def __init__(self, dsn: str | Callable[[], str], size: int = 24, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._source = None if isinstance(dsn, str) else _DsnSource(dsn)
        self._pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
            self._source or dsn,
            min_size=size,
            max_size=size,
            kwargs={"autocommit": True, "connect_timeout": 2},
            check=ConnectionPool.check_connection,
            timeout=timeout,
            open=True,
            name="sample-service",
        )

    def warm(self, timeout: float = 5.0) -> bool:
        """Wait until every connection is open; False (and serve anyway) if the database
        does not answer in `timeout` seconds: health then says so."""
        try:
            self._pool.wait(timeout=timeout)
        except PoolTimeout:
            return False
        return True

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """An open connection for the duration of the block (PoolTimeout if none frees up;
        its message names the DSN file's problem if that is why none could be opened)."""
        taken = False
        try:
            with self._pool.connection(timeout=self.timeout) as conn:
                taken = True
                yield conn
        except PoolTimeout as exc:
            reason = self._source.error if self._source else None
            if taken or reason is None:
                raise
            raise PoolTimeout(f"{exc}; new connections cannot be opened: {reason}") from exc

    def ping(self) -> None:
        """Raise unless the database answers `SELECT 1`."""
        with self.connection() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        """Close every connection (the process is stopping)."""
        self._pool.close()


class _DsnSource:
    """Calls `read` for each new connection and keeps its last SecretFileError, if the
    last call failed, for the message of a PoolTimeout."""

    def __init__(self, read: Callable[[], str]) -> None:
        self.read = read
        self.error: SecretFileError | None = None

    def __call__(self) -> str:
        try:
            dsn = self.read()
        except SecretFileError as err:
            self.error = err
            raise
        self.error = None
        return dsn
