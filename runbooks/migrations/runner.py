"""Runs a migration part against PostgreSQL, as writers keep writing.

Each group of statements (see `shape.groups`) runs as it must: consecutive ordinary
statements in ONE transaction, `CREATE/DROP INDEX CONCURRENTLY` one at a time outside any
transaction. Every statement runs under the policy's `lock_timeout` (a DDL statement
waiting for its lock makes every writer queue behind it, so it must give up quickly) and
`statement_timeout`. A group that gave up on a lock is retried with backoff, up to
`lock_retries` times; anything else fails at once. Before a concurrent index build, an
INVALID index of the same name (left by a build that was killed or timed out) is dropped,
so re-running a part after a crash completes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors, sql
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from runbooks.migrations.manifest import Part
from runbooks.migrations.shape import Group, Statement, groups

_INVALID_INDEX = """
SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisvalid
"""


@dataclass(frozen=True)
class Timeouts:
    """From the rollout policy: how long a statement may wait for a lock, and run."""

    lock_timeout_seconds: float = 2.0
    statement_timeout_seconds: float = 600.0
    lock_retries: int = 5


Finish = Callable[[psycopg.Connection[Any]], None]


def run_part(dsn: str, part: Part, timeouts: Timeouts, finish: Finish | None = None) -> int:
    """Run every statement of `part`, then `finish` (e.g. the ledger's new state) in the
    same transaction as the last group when it is transactional, so a part and its record
    commit together. Returns how many statements ran; raises psycopg.Error."""
    count = 0
    parts = groups(part)
    with psycopg.connect(dsn, autocommit=True) as conn:
        _session_timeouts(conn, timeouts)
        for index, group in enumerate(parts):
            last = index == len(parts) - 1
            for attempt in _retrying(timeouts):
                with attempt:
                    _run_group(conn, group, finish if last and group.transactional else None)
            count += len(group.statements)
        if finish is not None and (not parts or not parts[-1].transactional):
            finish(conn)
    return count


def _run_group(conn: psycopg.Connection[Any], group: Group, finish: Finish | None) -> None:
    if group.transactional:
        with conn.transaction():
            for stmt in group.statements:
                conn.execute(stmt.sql.encode())  # file text: bytes are never parameterised
            if finish is not None:
                finish(conn)
        return
    for stmt in group.statements:
        _drop_invalid_index(conn, stmt)
        conn.execute(stmt.sql.encode())


def _drop_invalid_index(conn: psycopg.Connection[Any], stmt: Statement) -> None:
    if stmt.index is None:
        return
    schema, name = stmt.index.split(".", 1)
    if conn.execute(_INVALID_INDEX, (schema, name)).fetchone():
        conn.execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name))
        )


def _session_timeouts(conn: psycopg.Connection[Any], timeouts: Timeouts) -> None:
    # Session-wide, so they hold for CONCURRENTLY statements too (no transaction to SET LOCAL).
    conn.execute(
        sql.SQL("SET lock_timeout = {}").format(
            sql.Literal(f"{int(timeouts.lock_timeout_seconds * 1000)}ms")
        )
    )
    conn.execute(
        sql.SQL("SET statement_timeout = {}").format(
            sql.Literal(f"{int(timeouts.statement_timeout_seconds * 1000)}ms")
        )
    )


def _retrying(timeouts: Timeouts) -> Retrying:
    return Retrying(
        retry=retry_if_exception_type(errors.LockNotAvailable),
        stop=stop_after_attempt(timeouts.lock_retries + 1),
        wait=wait_exponential(multiplier=0.25, max=5),
        reraise=True,
    )
