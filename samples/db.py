"""The sample services' PostgreSQL connection pool: psycopg_pool, bounded, checked on checkout.

A fixed set of connections reused across threads. Requests beyond it wait for one to come
back (up to `timeout` seconds) rather than opening and closing a connection each: under
load that churn cost a server process per request and tripled the services' p95 (issue 8's
~100 ms benchmark row). Every connection is opened at start, before the first request:
a new color that opened them under its first traffic read slower than the old one, which
is start-up, not the version. Each connection is checked when taken, so a restarted
database costs no request a dead connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout


class Pool:
    """Up to `size` autocommit connections to `dsn`, shared by the service's threads."""

    def __init__(self, dsn: str, size: int = 24, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
            dsn,
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
        """An open connection for the duration of the block (PoolTimeout if none frees up)."""
        with self._pool.connection(timeout=self.timeout) as conn:
            yield conn

    def ping(self) -> None:
        """Raise unless the database answers `SELECT 1`."""
        with self.connection() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        """Close every connection (the process is stopping)."""
        self._pool.close()
