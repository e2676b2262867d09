"""Expand/contract database migration: backed up first, validated, restorable by backup id.

`apply` for version V runs `<migrations_dir>/<V>/up.sql`, an *expand* migration (it only
adds columns, tables, indexes, so the old version keeps working), like this, in ONE
transaction:
  1. lock every user table IN SHARE MODE (writers wait; readers and pg_dump do not), so the
     backup, the evidence and the migration all see the same data;
  2. count and checksum every table (all current columns), pg_dump into a new backup and
     write its manifest — all before the schema is touched;
  3. run up.sql and record V (with the backup id) in `public.schema_migrations`;
  4. validate: every pre-existing table still has 100% of its rows, unchanged in every
     pre-existing column (counts and checksums against the manifest); otherwise roll back.
A failure anywhere rolls the transaction back: the database is as it was, ok=False.
Writes wait for the duration of the backup and the migration: fine for the sample database;
a large one wants a storage snapshot instead (RDS), which this step does not do.

`undo` restores the backup (see `db_backup.restore`): the database goes back exactly to its
pre-migration state, and writes made since the backup are lost — that is what "restorable
by backup id" means. Without a backup id in the journaled data (a crash before it was
journaled) it finds the id in `schema_migrations`; if V is not there, the migration never
committed and there is nothing to undo. Restoring twice is harmless (idempotent).

up.sql must not hold transaction control (BEGIN/COMMIT) or COPY FROM STDIN.

Options: `postgres_dsn` (required), `backup_dir` (required), `migration` (the folder under
`migrations_dir` to apply; default: the release's version), `migrations_dir` (default
"migrations"), `pg_bin_dir` (default /usr/lib/postgresql/15/bin), `db_lock_timeout`
(default "30s": how long to wait for the table locks before giving up).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.db_backup import (
    PG_BIN,
    list_backups,
    load_manifest,
    restore,
    take_backup,
)
from runbooks.steps.db_snapshot import compare, table_sum, user_tables
from runbooks.steps.redact import dsn_password, redact

__all__ = ["DbMigration", "list_backups", "restore"]

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
  version text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now(),
  backup_id text
)
"""


class MigrationRefused(Exception):
    """Raised inside the transaction to roll it back; carries the outcome to return."""

    def __init__(self, outcome: StepOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


class DbMigration:
    """Backs up, migrates (expand only) and validates PostgreSQL; undo restores the backup."""

    name = "db-migration"

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Back up, migrate and validate in one transaction; data: backup_id, migrated."""
        up = _up_sql(ctx)
        if not up.is_file():
            return StepOutcome.success(
                self.name,
                f"no migration for {_migration(ctx)} ({up})",
                migrated=False,
                backup_id=None,
            )
        dsn = ctx.option("postgres_dsn")
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                if _recorded_backup(conn, _migration(ctx)) is not None:
                    return StepOutcome.success(
                        self.name,
                        f"{_migration(ctx)} already applied; left as is",
                        migrated=False,
                        backup_id=None,
                    )
                with conn.transaction():
                    return self._migrate(ctx, conn, up)
        except MigrationRefused as refused:
            return refused.outcome
        except (psycopg.Error, subprocess.SubprocessError, OSError) as err:
            return self._failed(ctx, f"migration to {_migration(ctx)} rolled back: ", err)

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Restore the backup taken by `applied` (or recorded for _migration(ctx))."""
        backup_id = applied.data.get("backup_id")
        if backup_id is None or not applied.data.get("migrated", True):
            try:
                with psycopg.connect(ctx.option("postgres_dsn"), autocommit=True) as conn:
                    backup_id = _recorded_backup(conn, _migration(ctx))
            except psycopg.Error as err:
                return self._failed(ctx, "cannot look up the migration's backup: ", err)
        if not backup_id:
            return StepOutcome.success(
                self.name, f"{_migration(ctx)} is not applied; nothing to undo"
            )
        return restore(ctx.option("postgres_dsn"), _backup_dir(ctx), backup_id, _pg_bin(ctx))

    def verify(self, ctx: StepContext) -> StepOutcome:
        """Every row of the backup is still there, unchanged in its original columns."""
        try:
            with psycopg.connect(ctx.option("postgres_dsn"), autocommit=True) as conn:
                backup_id = _recorded_backup(conn, _migration(ctx))
                manifest = load_manifest(_backup_dir(ctx), backup_id) if backup_id else None
                if manifest is None:
                    return self._unverifiable(ctx, backup_id)
                problems = compare(conn, manifest["tables"])
        except psycopg.Error as err:
            return self._failed(ctx, "cannot validate data: ", err)
        if problems:
            return StepOutcome.failure(
                self.name, "data validation failed: " + "; ".join(problems), backup_id=backup_id
            )
        return StepOutcome.success(
            self.name,
            f"100% of rows of {len(manifest['tables'])} tables intact (backup {backup_id})",
            backup_id=backup_id,
        )

    def _migrate(self, ctx: StepContext, conn: psycopg.Connection[Any], up: Path) -> StepOutcome:
        lock_timeout = str(ctx.option("db_lock_timeout", "30s"))
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
        tables = user_tables(conn)
        if tables:
            names = sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in tables)
            conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(names))
        sums = {t: table_sum(conn, t, cols) for t, cols in tables.items()}
        manifest = take_backup(ctx.option("postgres_dsn"), _backup_dir(ctx), sums, _pg_bin(ctx))
        backup_id = manifest["id"]
        try:
            conn.execute(up.read_text().encode())  # file text: psycopg takes bytes as a query
        except psycopg.Error as err:
            raise MigrationRefused(
                self._failed(
                    ctx,
                    f"{up} failed, rolled back (backup {backup_id} kept): ",
                    err,
                    backup_id=backup_id,
                    migrated=False,
                )
            ) from err
        conn.execute(_MIGRATIONS_TABLE)
        conn.execute(
            "INSERT INTO public.schema_migrations (version, backup_id) VALUES (%s, %s)",
            (_migration(ctx), backup_id),
        )
        problems = compare(conn, manifest["tables"])
        if problems:
            raise MigrationRefused(
                StepOutcome.failure(
                    self.name,
                    f"{up} is not an expand migration, rolled back: " + "; ".join(problems),
                    backup_id=backup_id,
                    migrated=False,
                )
            )
        return StepOutcome.success(
            self.name,
            f"migrated to {_migration(ctx)}; backup {backup_id}; {len(sums)} tables validated",
            backup_id=backup_id,
            migrated=True,
            database=manifest["database"],
        )

    def _failed(self, ctx: StepContext, what: str, err: BaseException, **data: Any) -> StepOutcome:
        detail = getattr(err, "stderr", None) or str(err)
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        dsn = ctx.option("postgres_dsn", "")
        return StepOutcome.failure(
            self.name, redact(what + str(detail).strip(), [dsn_password(dsn)]), **data
        )

    def _unverifiable(self, ctx: StepContext, backup_id: str | None) -> StepOutcome:
        if backup_id is None and not _up_sql(ctx).is_file():
            return StepOutcome.success(self.name, f"no migration for {_migration(ctx)}")
        if backup_id is None:
            return StepOutcome.failure(self.name, f"{_migration(ctx)} is not applied")
        return StepOutcome.failure(
            self.name, f"backup {backup_id} of {_migration(ctx)} is missing from {_backup_dir(ctx)}"
        )


def _recorded_backup(conn: psycopg.Connection[Any], version: str) -> str | None:
    """The backup id recorded with `version` in schema_migrations, or None if not applied."""
    exists = conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute(
        "SELECT backup_id FROM public.schema_migrations WHERE version = %s", (version,)
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _migration(ctx: StepContext) -> str:
    """The migration a release carries: option `migration`, else the release's version."""
    return str(ctx.option("migration", ctx.version))


def _up_sql(ctx: StepContext) -> Path:
    return Path(ctx.option("migrations_dir", "migrations")) / _migration(ctx) / "up.sql"


def _backup_dir(ctx: StepContext) -> Path:
    return Path(ctx.option("backup_dir", "backups"))


def _pg_bin(ctx: StepContext) -> Path:
    return Path(ctx.option("pg_bin_dir", PG_BIN))
