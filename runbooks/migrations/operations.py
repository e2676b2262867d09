"""The migration use cases, shared by the `db-migration` release step and `runbook db`.

    checked()   load + shape check + lint: BadInput (exit 2) before anything is applied
    expand()    back up without stopping writers, run expand, validate the backup's rows
                (the backup: pg_dump, or `Database.snapshots` such as an RDS snapshot,
                which carries no row evidence, so nothing is validated against it)
    revert()    run the declared revert of an expand: every row written meanwhile is kept
    contract()  run the destructive clean-up (only once the release is promoted and baked;
                the callers check that)
    validate()  the database now against a backup's row evidence

Each writes the ledger before the work it names, so a crash leaves a state that re-running
the same call completes (see `ledger`). Expected failures raise `MigrationFailed` with a
message fit for an operator; the database is left consistent (expanded or not).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg

from runbooks.migrations import ledger
from runbooks.migrations.backup import PG_BIN, load_manifest, take_backup
from runbooks.migrations.evidence import RowCheck, TableSum, check_rows
from runbooks.migrations.ledger import State
from runbooks.migrations.lint import lint
from runbooks.migrations.manifest import Migration, Part, load_migration
from runbooks.migrations.runner import Timeouts, run_part
from runbooks.migrations.shape import check_shape
from stackspec.errors import StepError


class MigrationFailed(StepError):
    """A migration part could not run, or its result failed validation."""


class Snapshots(Protocol):
    """A whole-server backup taken in place of pg_dump (runbooks.migrations.rds_snapshot)."""

    def take(self, release_label: str) -> str:
        """Take one for `release_label`; its id (raises StepError)."""
        ...

    def restore_plan(self, snapshot_id: str) -> str:
        """How an operator restores `snapshot_id`."""
        ...


@dataclass(frozen=True)
class Database:
    """Where migrations run and where their backups go (`snapshots`: instead of pg_dump)."""

    dsn: str
    backup_dir: Path
    pg_bin: Path = PG_BIN
    timeouts: Timeouts = field(default_factory=Timeouts)
    snapshots: Snapshots | None = None


@dataclass(frozen=True)
class Result:
    """What an operation did; `changed` is False when there was nothing to do."""

    message: str
    changed: bool
    backup_id: str | None = None
    checks: tuple[RowCheck, ...] = ()


def checked(migrations_dir: Path, version: str, pg_version: str = "15") -> Migration:
    """The migration, proven additive with a matching revert and lint-clean; else BadInput."""
    migration = load_migration(migrations_dir, version)
    check_shape(migration)
    lint(migration, pg_version)
    return migration


def expand(db: Database, migration: Migration, applied_by: str) -> Result:
    """Back up, then expand; re-running after a crash completes it. Validated afterwards."""
    version = migration.version
    entry = _entry(db, version)
    if entry is not None and entry.state in (State.EXPANDED, State.CONTRACTING, State.CONTRACTED):
        mine = entry.applied_by == applied_by
        what = "by this release" if mine else f"by {entry.applied_by or 'an earlier run'}"
        return Result(f"{version} already {entry.state.value} {what}", mine, entry.backup_id)
    backup_id = entry.backup_id if entry is not None and entry.state is State.EXPANDING else None
    if backup_id is None:
        backup_id = _backup(db, applied_by)
    _record(db, version, State.EXPANDING, backup_id, applied_by)
    statements = _run(db, migration, "expand", State.EXPANDED)
    checks = validate(db, backup_id)
    broken = [c for c in checks if not c.intact]
    if broken:
        revert(db, migration, applied_by)
        raise MigrationFailed(
            f"expand of {version} changed existing rows, reverted: {_say(broken)}"
        )
    return Result(
        f"expanded {version} ({statements} statements) after backup {backup_id}; " + kept(checks),
        True,
        backup_id,
        tuple(checks),
    )


def revert(db: Database, migration: Migration, applied_by: str | None = None) -> Result:
    """Undo the expand of `migration` (only if `applied_by` applied it, when given)."""
    version = migration.version
    entry = _entry(db, version)
    if entry is None or entry.state is State.REVERTED:
        return Result(f"{version} is not applied; nothing to revert", False)
    if entry.state in (State.CONTRACTING, State.CONTRACTED):
        raise MigrationFailed(
            f"{version} was contracted: its expand can no longer be reverted; release a fix "
            f"forward, or as a last resort restore backup {entry.backup_id} "
            f"({_how_to_restore(db, entry.backup_id)}, which loses rows written since)"
        )
    if applied_by is not None and entry.applied_by not in (None, applied_by):
        return Result(f"{version} was applied by {entry.applied_by}; left as is", False)
    _record(db, version, State.REVERTING)
    statements = _run(db, migration, "revert", State.REVERTED)
    checks = validate(db, entry.backup_id) if entry.backup_id else []
    broken = [c for c in checks if not c.intact]
    if broken:
        raise MigrationFailed(f"reverted {version}, but rows differ: {_say(broken)}")
    return Result(
        f"reverted {version} ({statements} statements); " + kept(checks),
        True,
        entry.backup_id,
        tuple(checks),
    )


def contract(db: Database, migration: Migration) -> Result:
    """Run the contract of an expanded migration; re-running after a crash completes it."""
    version = migration.version
    entry = _entry(db, version)
    if entry is None or entry.state in (State.REVERTING, State.REVERTED, State.EXPANDING):
        state = entry.state.value if entry else "not applied"
        raise MigrationFailed(f"{version} is {state}: only an expanded migration is contracted")
    if entry.state is State.CONTRACTED:
        return Result(f"{version} already contracted", False, entry.backup_id)
    _record(db, version, State.CONTRACTING)
    statements = _run(db, migration, "contract", State.CONTRACTED)
    what = f"{statements} statements" if migration.contract else "it has no contract.sql"
    return Result(f"contracted {version} ({what})", True, entry.backup_id)


def validate(db: Database, backup_id: str) -> list[RowCheck]:
    """Each table of the backup now against the backup's row evidence (tables without
    evidence left are skipped)."""
    manifest = load_manifest(db.backup_dir, backup_id)
    if manifest is None and db.snapshots is not None:
        return []  # a snapshot backup: no row evidence was recorded
    if manifest is None:
        raise MigrationFailed(f"backup {backup_id} is missing from {db.backup_dir}")
    checks = []
    try:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            for table, want in sorted(manifest["tables"].items()):
                summed = TableSum(
                    table, tuple(want["columns"]), int(want["rows"]), "", tuple(want["key"])
                )
                found = check_rows(conn, backup_id, summed)
                if found is not None:
                    checks.append(found)
    except psycopg.Error as err:
        raise MigrationFailed(f"cannot validate rows against backup {backup_id}: {err}") from err
    return checks


def expand_backup(db: Database, version: str) -> str | None:
    """The backup taken before `version` was expanded, while it is applied; else None."""
    entry = _entry(db, version)
    return entry.backup_id if entry is not None and entry.state in ledger.LIVE else None


def _entry(db: Database, version: str) -> ledger.Entry | None:
    try:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            return ledger.entry(conn, version)
    except psycopg.Error as err:
        raise MigrationFailed(f"cannot read the migration ledger: {err}") from err


def _record(
    db: Database,
    version: str,
    state: State,
    backup_id: str | None = None,
    applied_by: str | None = None,
) -> None:
    try:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            ledger.record(conn, version, state, backup_id, applied_by)
    except psycopg.Error as err:
        raise MigrationFailed(f"cannot write the migration ledger: {err}") from err


def _backup(db: Database, release_label: str) -> str:
    if db.snapshots is not None:
        try:
            return db.snapshots.take(release_label)
        except StepError as err:
            message = f"backup failed, nothing applied: {err.message}"
            raise MigrationFailed(message, err.hint) from None
    try:
        return str(take_backup(db.dsn, db.backup_dir, db.pg_bin)["id"])
    except (psycopg.Error, subprocess.SubprocessError, OSError) as err:
        detail = getattr(err, "stderr", None) or err
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        raise MigrationFailed(f"backup failed, nothing applied: {str(detail).strip()}") from err


def _how_to_restore(db: Database, backup_id: str | None) -> str:
    if db.snapshots is not None:
        return "see runbooks/migrations/rds_snapshot.py: a restore creates a new instance"
    return f"`runbook db restore --backup-id {backup_id}`"


def _run(db: Database, migration: Migration, part_name: str, done: State) -> int:
    """Run one part; its ledger state `done` commits with its last transaction."""
    part: Part | None = getattr(migration, part_name)
    if part is None:
        _record(db, migration.version, done)
        return 0

    def finish(conn: psycopg.Connection[Any]) -> None:
        ledger.record(conn, migration.version, done)

    try:
        return run_part(db.dsn, part, db.timeouts, finish)
    except psycopg.Error as err:
        raise MigrationFailed(
            f"{part.path} failed (the ledger says {part_name} is unfinished; running it again "
            f"completes it): {str(err).strip()}"
        ) from err


def kept(checks: list[RowCheck]) -> str:
    """One line on what the row checks found intact."""
    if not checks:
        return "no row evidence to validate against"
    compared = sum(c.compared for c in checks)
    since = sum(c.written_since for c in checks)
    return (
        f"100% of {compared} rows of the backup intact in {len(checks)} tables, "
        f"{since} written since kept"
    )


def _say(broken: list[RowCheck]) -> str:
    return "; ".join(f"{c.table}: {c.lost} lost, {c.changed} changed" for c in broken)
