"""The `db-migration` release step: expand before traffic moves, revert on rollback,
contract after promotion. See runbooks/migrations for the mechanism.

- `apply`: the migration is checked (shape, lint), the database backed up from an exported
  snapshot (writers never wait), the expand run with the policy's lock and statement
  timeouts, and every row of the backup validated. Data: `backup_id`, `migrated` (False when
  the version was already applied by someone else: then this release must not revert it),
  `backup_backend` (what `backup_id` names: a pg_dump backup or an RDS snapshot).
- `undo`: the migration's declared revert, which drops only what the expand added, so
  every row written by either color during the canary is kept. Without journaled data (a
  crash before it was journaled) the ledger says whether this release applied it.
  Idempotent. A contracted migration cannot be reverted: ok=False, saying what to do.
- `contract`: the destructive clean-up, run by the engine after promotion and the policy's
  bake (or by hand: `runbook db contract`).
- `verify`: the rows of the backup are still there, unchanged.

Options: `postgres_dsn`, `backup_dir` (required); `migration` (folder under
`migrations_dir`, default: the release's version), `migrations_dir` (default
"migrations"), `pg_bin_dir`, `pg_version`, and the policy's `lock_timeout_seconds`,
`statement_timeout_seconds`, `lock_retries`.

Backup: `backup_backend` "pg_dump" (default; under `backup_dir`) or "rds-snapshot" (aws
stacks): an RDS snapshot of `rds_instance_id` (the stack's database writer) in
`aws_region` (`aws_endpoint_url` for a stand-in), waited for at most `rds_wait_seconds`
(default 3600) polling every `rds_poll_seconds` (default 30); its identifier is the
`backup_id`. An RDS snapshot records no row evidence, so nothing is validated against it;
restoring it creates a new instance (see runbooks/migrations/rds_snapshot.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runbooks.migrations import operations
from runbooks.migrations.backup import PG_BIN
from runbooks.migrations.manifest import Migration
from runbooks.migrations.operations import Database, Result, Snapshots
from runbooks.migrations.rds_snapshot import RdsSnapshots
from runbooks.migrations.runner import Timeouts
from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.redact import dsn_password, redact
from stackspec.errors import BadInput, RunbookError


class DbMigration:
    """Expand/contract PostgreSQL migrations as a release step."""

    name = "db-migration"

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Back up and expand; data: backup_id, backup_backend, migrated."""
        backend = str(ctx.option("backup_backend", "pg_dump"))
        return self._do(
            ctx,
            lambda db, m: operations.expand(db, m, ctx.version),
            lambda r: {"migrated": r.changed, "backup_backend": backend},
        )

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Revert the expand this release applied; nothing if it applied none."""
        if applied.ok and applied.data.get("migrated") is False:
            return StepOutcome.success(
                self.name, f"{migration_of(ctx)} was not applied by this release"
            )
        return self._do(ctx, lambda db, m: operations.revert(db, m, ctx.version))

    def contract(self, ctx: StepContext) -> StepOutcome:
        """Run the migration's contract (after promotion and bake)."""
        return self._do(ctx, operations.contract)

    def verify(self, ctx: StepContext) -> StepOutcome:
        """Every row of the migration's backup is still there, unchanged."""

        def check(db: Database, migration: Migration) -> Result:
            backup_id = operations.expand_backup(db, migration.version)
            checks = operations.validate(db, backup_id) if backup_id else []
            broken = [c for c in checks if not c.intact]
            if broken:
                raise operations.MigrationFailed(
                    "data validation failed: "
                    + "; ".join(f"{c.table}: {c.lost} lost, {c.changed} changed" for c in broken)
                )
            return Result(f"{migration.version}: {operations.kept(checks)}", False, backup_id)

        return self._do(ctx, check)

    def _do(
        self,
        ctx: StepContext,
        operation: Callable[[Database, Migration], Result],
        data: Callable[[Result], dict[str, object]] = lambda r: {},
    ) -> StepOutcome:
        dsn = str(ctx.option("postgres_dsn", ""))
        try:
            migration = operations.checked(
                Path(ctx.option("migrations_dir", "migrations")),
                migration_of(ctx),
                str(ctx.option("pg_version", "15")),
            )
            result = operation(database(ctx), migration)
        except RunbookError as err:
            return StepOutcome.failure(self.name, redact(err.message, [dsn_password(dsn)]))
        return StepOutcome.success(
            self.name,
            redact(result.message, [dsn_password(dsn)]),
            backup_id=result.backup_id,
            **data(result),
        )


def migration_of(ctx: StepContext) -> str:
    """The migration a release carries: option `migration`, else the release's version."""
    return str(ctx.option("migration", ctx.version))


def database(ctx: StepContext) -> Database:
    """The database, backup folder and policy timeouts the step options name."""
    return Database(
        dsn=str(ctx.option("postgres_dsn", "")),
        backup_dir=Path(ctx.option("backup_dir", "backups")),
        pg_bin=Path(ctx.option("pg_bin_dir", PG_BIN)),
        timeouts=Timeouts(
            lock_timeout_seconds=float(ctx.option("lock_timeout_seconds", 2.0)),
            statement_timeout_seconds=float(ctx.option("statement_timeout_seconds", 600.0)),
            lock_retries=int(ctx.option("lock_retries", 5)),
        ),
        snapshots=snapshots(ctx),
    )


BACKUP_BACKENDS = ("pg_dump", "rds-snapshot")


def snapshots(ctx: StepContext) -> Snapshots | None:
    """The RDS snapshots the options ask for (`backup_backend`), or None for pg_dump."""
    backend = str(ctx.option("backup_backend", "pg_dump"))
    if backend not in BACKUP_BACKENDS:
        known = ", ".join(BACKUP_BACKENDS)
        raise BadInput(f"unknown backup_backend {backend!r}", hint=f"choose one of: {known}")
    if backend == "pg_dump":
        return None
    missing = [key for key in ("rds_instance_id", "aws_region") if not ctx.option(key)]
    if missing:
        raise BadInput(
            f"backup_backend rds-snapshot needs the option(s) {', '.join(missing)}",
            hint="the stack's database writer instance and its region",
        )
    return RdsSnapshots(
        str(ctx.option("rds_instance_id")),
        str(ctx.option("aws_region")),
        ctx.option("aws_endpoint_url"),
        stack=ctx.stack,
        service=ctx.service,
        wait_seconds=float(ctx.option("rds_wait_seconds", 3600.0)),
        poll_seconds=float(ctx.option("rds_poll_seconds", 30.0)),
    )
