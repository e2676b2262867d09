"""PostgreSQL backups a release can be rolled back to, named by a backup id.

Layout: `<backup_dir>/<backup id>/database.dump` (pg_dump custom format) and
`manifest.json` (id, database, taken_at, size, sha256, per-table columns, row counts and
checksums). A backup directory appears under its id only once complete (written under a
temporary name, then renamed), so `list_backups` never shows half a backup.

`restore` is atomic: one psql transaction drops every user schema, recreates `public` and
replays the dump, so a failure leaves the database as it was; it is idempotent. Passwords
travel in PGPASSWORD, never on a command line, and never appear in messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo

from runbooks.steps.base import StepOutcome
from runbooks.steps.db_snapshot import TableSum, compare, user_tables
from runbooks.steps.redact import dsn_password, redact

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DUMP_FILE = "database.dump"
MANIFEST_FILE = "manifest.json"
BACKUP_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
STEP_NAME = "db-migration"
TOOL_TIMEOUT = 600.0

# Run first, in the restore's transaction: the dump recreates every schema but `public`.
_CLEAR_SCHEMAS = """
DO $$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END $$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
"""


def tool_env(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and an environment carrying it as PGPASSWORD."""
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return psycopg.conninfo.make_conninfo("", **params), env


def database_name(dsn: str) -> str:
    """The database a DSN points at."""
    return str(psycopg.conninfo.conninfo_to_dict(dsn).get("dbname", ""))


def take_backup(
    dsn: str, backup_dir: Path, tables: Mapping[str, TableSum], pg_bin: Path = PG_BIN
) -> dict[str, Any]:
    """pg_dump `dsn` into a new backup under `backup_dir`; returns its manifest.

    `tables` is the evidence (row counts, checksums) taken in the caller's transaction, which
    holds the tables still while the dump runs. Raises subprocess.CalledProcessError or
    OSError when the dump cannot be written.
    """
    backup_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=backup_dir))
    dump = work / DUMP_FILE
    plain_dsn, env = tool_env(dsn)
    subprocess.run(
        [str(pg_bin / "pg_dump"), "--format=custom", f"--file={dump}", f"--dbname={plain_dsn}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
    )
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    now = datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%SZ}-{digest[:8]}"
    manifest = {
        "id": backup_id,
        "database": database_name(dsn),
        "taken_at": now.isoformat(),
        "size": dump.stat().st_size,
        "sha256": digest,
        "file": DUMP_FILE,
        "tables": {name: t.to_json() for name, t in sorted(tables.items())},
    }
    (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    work.rename(backup_dir / backup_id)
    return manifest


def list_backups(backup_dir: Path) -> list[dict[str, Any]]:
    """The manifests of the complete backups under `backup_dir`, oldest first."""
    if not Path(backup_dir).is_dir():
        return []
    found = []
    for path in sorted(Path(backup_dir).iterdir()):
        manifest = path / MANIFEST_FILE
        if BACKUP_ID.match(path.name) and manifest.is_file():
            found.append(json.loads(manifest.read_text()))
    return found


def load_manifest(backup_dir: Path, backup_id: str) -> dict[str, Any] | None:
    """The manifest of backup `backup_id`, or None if there is no such complete backup."""
    path = Path(backup_dir) / backup_id / MANIFEST_FILE
    if not BACKUP_ID.match(backup_id) or not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def restore(dsn: str, backup_dir: Path, backup_id: str, pg_bin: Path = PG_BIN) -> StepOutcome:
    """Put the database of `dsn` back exactly as backup `backup_id` holds it, then verify.

    ok=False (nothing changed) for an unknown id or a failed replay; ok=False after the
    replay if the restored row counts or checksums differ from the manifest.
    """
    manifest = load_manifest(backup_dir, backup_id)
    if manifest is None:
        known = [m["id"] for m in list_backups(backup_dir)][-5:]
        return StepOutcome.failure(
            STEP_NAME,
            f"no backup {backup_id!r} in {backup_dir}; latest: {', '.join(known) or 'none'}",
        )
    dump = Path(backup_dir) / backup_id / manifest["file"]
    if hashlib.sha256(dump.read_bytes()).hexdigest() != manifest["sha256"]:
        return StepOutcome.failure(STEP_NAME, f"backup {backup_id}: dump file is corrupt")
    try:
        _replay(dsn, dump, pg_bin)
    except (subprocess.SubprocessError, OSError) as err:
        detail = _stderr(err)
        return StepOutcome.failure(
            STEP_NAME,
            redact(
                f"restore of {backup_id} failed, database unchanged: {detail.strip()}",
                [dsn_password(dsn)],
            ),
        )
    return verify_restored(dsn, manifest)


def verify_restored(dsn: str, manifest: Mapping[str, Any]) -> StepOutcome:
    """Compare the database with the manifest's row counts and checksums."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            problems = compare(conn, manifest["tables"])
            extra = sorted(set(user_tables(conn)) - set(manifest["tables"]))
    except psycopg.Error as err:
        return StepOutcome.failure(STEP_NAME, redact(f"cannot verify: {err}", [dsn_password(dsn)]))
    problems += [f"{table}: not in the backup, still present" for table in extra]
    if problems:
        return StepOutcome.failure(
            STEP_NAME,
            f"restored {manifest['id']} but data differs: " + "; ".join(problems),
            backup_id=manifest["id"],
        )
    return StepOutcome.success(
        STEP_NAME,
        f"restored {manifest['id']}; {len(manifest['tables'])} tables match the manifest",
        backup_id=manifest["id"],
    )


def _replay(dsn: str, dump: Path, pg_bin: Path) -> None:
    """pg_restore's SQL piped into one psql transaction that first clears the schemas."""
    plain_dsn, env = tool_env(dsn)
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as clear:
        clear.write(_CLEAR_SCHEMAS)
        clear.flush()
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
