"""Restoring a backup: the last resort, never the way a release is rolled back.

A restore puts the database back as the backup holds it, so every row written since is
lost. `preview` says how many, per table, before anything happens (from the backup's row
evidence when the database still has it, else from row counts); the CLI requires `--yes`
after showing it.

`restore` is atomic and validated where validation is sound: one psql transaction drops
every user schema (but the row evidence), replays the dump, then checks every table's row
count and checksum against the manifest and raises if one differs, so the transaction rolls
back and the database is unchanged. Nobody else can write those tables inside that
transaction, so live writes can never make a good restore fail half-way.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from runbooks.migrations.backup import (
    PG_BIN,
    TOOL_TIMEOUT,
    list_backups,
    load_manifest,
    tool_env,
)
from runbooks.migrations.evidence import EVIDENCE_SCHEMA, TableSum, check_rows, sum_sql
from runbooks.steps.base import StepOutcome
from runbooks.steps.redact import dsn_password, redact
from stackspec.errors import BadInput

STEP_NAME = "db-migration"

# Run first, in the restore's transaction: the dump recreates every schema but `public`.
_CLEAR_SCHEMAS = f"""
DO $$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT IN ('information_schema', '{EVIDENCE_SCHEMA}')
             AND nspname NOT LIKE 'pg\\_%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END $$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
"""


@dataclass(frozen=True)
class TableLoss:
    """What restoring a backup would do to one table."""

    table: str
    at_backup: int
    now: int | None  # None: the table is gone
    lost: int  # rows written since the backup, which the restore drops
    changed: int  # rows of the backup changed since, which the restore puts back
    exact: bool  # from row evidence (exact) or from row counts (a lower bound)


def backup_manifest(backup_dir: Path, backup_id: str) -> dict[str, Any]:
    """The manifest of `backup_id`; BadInput naming the latest backups if there is none."""
    manifest = load_manifest(backup_dir, backup_id)
    if manifest is None:
        known = [m["id"] for m in list_backups(backup_dir)][-5:]
        raise BadInput(
            f"no backup {backup_id[:80]!r} in {backup_dir}",
            hint=f"latest: {', '.join(known) or 'none'}; `runbook db backups` lists them",
        )
    return manifest


def preview(dsn: str, manifest: dict[str, Any]) -> list[TableLoss]:
    """Per table of the backup, the rows a restore would lose; changes nothing."""
    losses = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, want in sorted(manifest["tables"].items()):
            summed = TableSum(
                table, tuple(want["columns"]), int(want["rows"]), "", tuple(want.get("key", ()))
            )
            losses.append(_loss(conn, manifest["id"], summed))
    return losses


def restore(dsn: str, backup_dir: Path, backup_id: str, pg_bin: Path = PG_BIN) -> StepOutcome:
    """Put the database back exactly as backup `backup_id` holds it, validated, atomically.

    ok=False (database unchanged) for an unknown id, a corrupt dump, a failed replay or a
    restored table that differs from the manifest.
    """
    try:
        manifest = backup_manifest(backup_dir, backup_id)
    except BadInput as err:
        return StepOutcome.failure(STEP_NAME, err.message)
    dump = Path(backup_dir) / backup_id / manifest["file"]
    if hashlib.sha256(dump.read_bytes()).hexdigest() != manifest["sha256"]:
        return StepOutcome.failure(STEP_NAME, f"backup {backup_id}: dump file is corrupt")
    try:
        _replay(dsn, dump, _validation_sql(dsn, manifest), pg_bin)
    except (subprocess.SubprocessError, OSError, psycopg.Error) as err:
        detail = _stderr(err).strip()
        return StepOutcome.failure(
            STEP_NAME,
            redact(
                f"restore of {backup_id} failed, database unchanged: {detail}", [dsn_password(dsn)]
            ),
        )
    return StepOutcome.success(
        STEP_NAME,
        f"restored {backup_id}; {len(manifest['tables'])} tables match its manifest "
        "(checked inside the restore's transaction)",
        backup_id=backup_id,
    )


def _loss(conn: psycopg.Connection[Any], backup_id: str, summed: TableSum) -> TableLoss:
    try:
        with conn.transaction():  # a savepoint: a missing table must not abort the rest
            check = check_rows(conn, backup_id, summed)
            if check is not None:
                return TableLoss(
                    summed.table, summed.rows, check.now, check.written_since, check.changed, True
                )
            count = sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(*summed.table.split(".", 1))
            )
            row = conn.execute(count).fetchone()
    except psycopg.Error:
        return TableLoss(summed.table, summed.rows, None, 0, 0, False)
    now = int(row[0]) if row else 0
    return TableLoss(summed.table, summed.rows, now, max(0, now - summed.rows), 0, False)


def _validation_sql(dsn: str, manifest: dict[str, Any]) -> str:
    """A script that raises unless every table equals the manifest's count and checksum."""
    checks = [
        sql.SQL(
            "DO $check$ BEGIN IF NOT EXISTS (SELECT 1 FROM ({q}) AS s(n, c) "
            "WHERE s.n = {rows} AND s.c = {checksum}) THEN RAISE EXCEPTION "
            "'restored table % differs from the backup manifest', {table}; END IF; END $check$;"
        ).format(
            q=sum_sql(table, tuple(want["columns"])),
            rows=sql.Literal(int(want["rows"])),
            checksum=sql.Literal(str(want["checksum"])),
            table=sql.Literal(table),
        )
        for table, want in sorted(manifest["tables"].items())
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        return "\n".join(check.as_string(conn) for check in checks) + "\n"


def _replay(dsn: str, dump: Path, validation: str, pg_bin: Path) -> None:
    """Clear, replay pg_restore's SQL and validate, in one psql transaction."""
    plain_dsn, env = tool_env(dsn)
    with (
        tempfile.NamedTemporaryFile("w", suffix=".sql") as clear,
        tempfile.NamedTemporaryFile("w", suffix=".sql") as check,
    ):
        clear.write(_CLEAR_SCHEMAS)
        clear.flush()
        check.write(validation)
        check.flush()
        script = subprocess.run(
            [str(pg_bin / "pg_restore"), "--file=-", str(dump)],
            check=True,
            capture_output=True,
            timeout=TOOL_TIMEOUT,
        )
        subprocess.run(
            [
                str(pg_bin / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={plain_dsn}",
                f"--file={clear.name}",
                "--file=-",
                f"--file={check.name}",
            ],
            input=script.stdout,
            env=env,
            check=True,
            capture_output=True,
            timeout=TOOL_TIMEOUT,
        )


def _stderr(err: BaseException) -> str:
    """What a failed tool printed, as text."""
    detail = getattr(err, "stderr", None) or str(err)
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
