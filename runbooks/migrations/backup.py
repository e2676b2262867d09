"""Backups of the trading database, named by a backup id, taken without stopping writers.

Layout: `<backup_dir>/<backup id>/database.dump` (pg_dump custom format, from an exported
snapshot) and `manifest.json` (id, database, taken_at, size, sha256, and per table its
columns, key, row count and checksum). A backup directory appears under its id only once
complete (written under a temporary name, then renamed), so `list_backups` never shows half
a backup. Row evidence of each backup (see `evidence`) lives in the database itself, in the
`runbook_evidence` schema, which the dump leaves out. Passwords travel in PGPASSWORD, never
on a command line, and never appear in messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo

from runbooks.migrations.evidence import (
    EVIDENCE_SCHEMA,
    ensure_evidence_table,
    forget,
    record_rows,
    snapshot,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DUMP_FILE = "database.dump"
MANIFEST_FILE = "manifest.json"
BACKUP_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")  # fullmatch: `$` lets a newline end one
TOOL_TIMEOUT = 600.0
KEEP_EVIDENCE = 5


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


def take_backup(dsn: str, backup_dir: Path, pg_bin: Path = PG_BIN) -> dict[str, Any]:
    """Back up `dsn` under `backup_dir` without stopping writers; returns the manifest.

    One REPEATABLE READ transaction exports its snapshot; pg_dump dumps that snapshot
    (`--snapshot`) while the same transaction counts, checksums and records row evidence of
    every table. So the dump, the manifest and the evidence describe one instant, and no
    lock stronger than ACCESS SHARE is held (writers never wait; DDL waits until the backup
    is done, which is why a migration runs after it). Raises psycopg.Error,
    subprocess.CalledProcessError or OSError when the backup cannot be made.
    """
    backup_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=backup_dir))
    now = datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as setup:
        ensure_evidence_table(setup)
    with psycopg.connect(dsn) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None  # a function call returns one row
            dump = _start_dump(dsn, work / DUMP_FILE, str(row[0]), pg_bin)
            try:
                sums = snapshot(conn)
                for summed in sums.values():
                    record_rows(conn, backup_id, summed)
            finally:
                _finish_dump(dump)
    digest = hashlib.sha256((work / DUMP_FILE).read_bytes()).hexdigest()
    manifest = {
        "id": backup_id,
        "database": database_name(dsn),
        "taken_at": now.isoformat(),
        "size": (work / DUMP_FILE).stat().st_size,
        "sha256": digest,
        "file": DUMP_FILE,
        "tables": {name: t.to_json() for name, t in sorted(sums.items())},
    }
    (work / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    work.rename(backup_dir / backup_id)
    _forget_old_evidence(dsn, backup_dir)
    return manifest


def _start_dump(dsn: str, path: Path, snapshot_id: str, pg_bin: Path) -> subprocess.Popen[bytes]:
    plain_dsn, env = tool_env(dsn)
    command = [
        str(pg_bin / "pg_dump"),
        "--format=custom",
        f"--snapshot={snapshot_id}",
        f"--exclude-schema={EVIDENCE_SCHEMA}",
        f"--file={path}",
        f"--dbname={plain_dsn}",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish_dump(dump: subprocess.Popen[bytes]) -> None:
    """Wait for pg_dump; CalledProcessError (with its stderr) if it failed."""
    try:
        _, stderr = dump.communicate(timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        dump.kill()
        dump.communicate()
        raise
    if dump.returncode != 0:
        raise subprocess.CalledProcessError(dump.returncode, dump.args, stderr=stderr)


def _forget_old_evidence(dsn: str, backup_dir: Path) -> None:
    """Row evidence is kept for the newest KEEP_EVIDENCE backups only (it is a row per row)."""
    keep = {m["id"] for m in list_backups(backup_dir)[-KEEP_EVIDENCE:]}
    with psycopg.connect(dsn, autocommit=True) as conn:
        forget(conn, keep)


def list_backups(backup_dir: Path) -> list[dict[str, Any]]:
    """The manifests of the complete backups under `backup_dir`, oldest first."""
    if not Path(backup_dir).is_dir():
        return []
    found = []
    for path in sorted(Path(backup_dir).iterdir()):
        manifest = path / MANIFEST_FILE
        if BACKUP_ID.fullmatch(path.name) and manifest.is_file():
            found.append(json.loads(manifest.read_text()))
    return found


def load_manifest(backup_dir: Path, backup_id: str) -> dict[str, Any] | None:
    """The manifest of backup `backup_id`, or None if there is no such complete backup."""
    path = Path(backup_dir) / backup_id / MANIFEST_FILE
    if not BACKUP_ID.fullmatch(backup_id) or not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest
