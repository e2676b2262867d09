"""A tiny PostgreSQL connection pool for the sample services (psycopg_pool is not a dependency)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


class Pool:
    """Up to `size` idle autocommit connections to `dsn`, reused across threads.

    A connection that raised is closed instead of being returned, so a restarted database
    only costs the requests in flight.
    """

    def __init__(self, dsn: str, size: int = 8) -> None:
        self.dsn = dsn
        self._idle: queue.LifoQueue[psycopg.Connection[tuple[object, ...]]] = queue.LifoQueue(size)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """An open connection for the duration of the block."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=2)
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def ping(self) -> None:
        """Raise unless the database answers `SELECT 1`."""
        with self.connection() as conn:
            conn.execute("SELECT 1")
