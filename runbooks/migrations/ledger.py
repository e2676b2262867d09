"""`public.schema_migrations`: which migration versions are applied, and how far.

One row per version. A version moves through
    expanding -> expanded -> contracting -> contracted      (released, then cleaned up)
    expanding | expanded  -> reverting -> reverted          (rolled back)
and every move is written before the work it names (`expanding` before the first
statement), so after a crash the row says what may be half-done and must be re-run; each
part is re-runnable (IF [NOT] EXISTS everywhere), so re-running it is always safe.
The table lives in `public`, so a backup carries it and a restore puts it back as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg

_TABLE = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
  version text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now(),
  backup_id text
);
ALTER TABLE public.schema_migrations
  ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'expanded',
  ADD COLUMN IF NOT EXISTS applied_by text,
  ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
"""


class State(StrEnum):
    """How far a migration version has gone."""

    EXPANDING = "expanding"
    EXPANDED = "expanded"
    CONTRACTING = "contracting"
    CONTRACTED = "contracted"
    REVERTING = "reverting"
    REVERTED = "reverted"


LIVE = frozenset({State.EXPANDING, State.EXPANDED, State.CONTRACTING, State.CONTRACTED})


@dataclass(frozen=True)
class Entry:
    """One version's row."""

    version: str
    state: State
    backup_id: str | None
    applied_by: str | None
    applied_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "version": self.version,
            "state": self.state.value,
            "backup_id": self.backup_id,
            "applied_by": self.applied_by,
            "applied_at": self.applied_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def ensure(conn: psycopg.Connection[Any]) -> None:
    """Create (or upgrade) the ledger table; an autocommit connection."""
    conn.execute(_TABLE)


def entry(conn: psycopg.Connection[Any], version: str) -> Entry | None:
    """The row of `version`, or None if it was never applied."""
    exists = conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return None
    ensure(conn)
    row = conn.execute(_SELECT + " WHERE version = %s", (version,)).fetchone()
    return None if row is None else _entry(row)


def entries(conn: psycopg.Connection[Any]) -> list[Entry]:
    """Every version's row, oldest first."""
    exists = conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return []
    ensure(conn)
    return [_entry(r) for r in conn.execute(_SELECT + " ORDER BY applied_at, version").fetchall()]


def record(
    conn: psycopg.Connection[Any],
    version: str,
    state: State,
    backup_id: str | None = None,
    applied_by: str | None = None,
) -> None:
    """Write `state` for `version` (creating its row); backup and release kept if not given."""
    ensure(conn)
    conn.execute(
        "INSERT INTO public.schema_migrations (version, state, backup_id, applied_by)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (version) DO UPDATE SET state = EXCLUDED.state,"
        " backup_id = coalesce(EXCLUDED.backup_id, schema_migrations.backup_id),"
        " applied_by = coalesce(EXCLUDED.applied_by, schema_migrations.applied_by),"
        " updated_at = now()",
        (version, state.value, backup_id, applied_by),
    )


_SELECT = (
    "SELECT version, state, backup_id, applied_by, applied_at, updated_at"
    " FROM public.schema_migrations"
)


def _entry(row: tuple[Any, ...]) -> Entry:
    return Entry(str(row[0]), State(row[1]), row[2], row[3], row[4], row[5])
