"""Releases carrying a database migration, on a private local stack, through the CLI.

Given the real stack (HAProxy, PostgreSQL, the sample services...) and the `runbook` CLI:
bad migrations are refused before anything is recorded; a promoted release contracts its
migration after the bake and can then no longer be reverted by a traffic rollback; an
engine killed -9 in the middle of an expand or of its revert leaves a schema that
`rollback --force` or `resume --force` brings to a consistent end.
"""

from __future__ import annotations

import itertools
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from runbooks.local.load import Load
from runbooks.migrations import ledger
from tests.integration.engine.harness import (
    Stack,
    finish,
    newest_release,
    poll,
    rollout_args,
    verb_args,
)

pytestmark = pytest.mark.integration

_versions = itertools.count(1)
ROOT = Path(__file__).resolve().parents[3]


def fresh_version(tag: str) -> str:
    """A version never released before in this module."""
    return f"3.{next(_versions)}.0-{tag}"


def columns(stack: Stack) -> set[str]:
    with psycopg.connect(stack.ends.postgres_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
        ).fetchall()
    return {str(r[0]) for r in rows}


def state_of(stack: Stack, version: str) -> str | None:
    with psycopg.connect(stack.ends.postgres_dsn, autocommit=True) as conn:
        entry = ledger.entry(conn, version)
    return None if entry is None else entry.state.value


@contextmanager
def orders_locked(stack: Stack) -> Iterator[None]:
    """A transaction holding a lock on orders, so any DDL on it waits (and times out)."""
    with psycopg.connect(stack.ends.postgres_dsn) as conn:
        conn.execute("LOCK TABLE orders IN ACCESS SHARE MODE")
        try:
            yield
        finally:
            conn.rollback()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--step", "db-migration", "--migration", "9.9.9"), "no migration '9.9.9'"),
        (("--step", "db-migration", "--migration", "../../etc"), "is not a migration version"),
        (("--migration", "1.2.0"), "--migration needs --step db-migration"),
    ],
)
def test_bad_migrations_are_refused_before_anything_is_recorded(
    stack: Stack, args: tuple[str, ...], says: str
) -> None:
    before = newest_release(stack.journal())
    done = stack.run(*rollout_args(fresh_version("bad"), *args))
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert newest_release(stack.journal()) == before


def test_a_folder_without_revert_or_with_a_wrong_one_is_refused(
    stack: Stack, tmp_path: Path
) -> None:
    folder = tmp_path / "4.0.0"
    folder.mkdir()
    (folder / "migration.yaml").write_text("description: test\n")
    (folder / "expand.sql").write_text("ALTER TABLE orders ADD COLUMN IF NOT EXISTS a text;\n")
    env = {"RUNBOOK_MIGRATIONS_DIR": str(tmp_path)}
    args = ("--step", "db-migration", "--migration", "4.0.0")

    missing = stack.run(*rollout_args(fresh_version("norevert"), *args), env=env)
    (folder / "revert.sql").write_text("ALTER TABLE orders DROP COLUMN IF EXISTS b;\n")
    wrong = stack.run(*rollout_args(fresh_version("wrongrevert"), *args), env=env)

    assert missing.returncode == 2 and "revert.sql: missing" in missing.stderr
    assert wrong.returncode == 2 and "does not drop column public.orders.a" in wrong.stderr
    assert "drops what expand did not add: column public.orders.b" in wrong.stderr
    assert "a" not in columns(stack)


def test_promoted_release_contracts_its_migration_and_cannot_be_reverted(
    stack: Stack, load: Load
) -> None:
    done = stack.run(
        *rollout_args(fresh_version("contract"), "--step", "db-migration", "--migration", "1.1.0")
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert state_of(stack, "1.1.0") == "contracted"
    events = stack.journal().events(str(newest_release(stack.journal())))
    kinds = [
        e.data["action"].get("type") for e in events if e.kind in ("action.done", "action.failed")
    ]
    assert kinds.index("ContractReleaseStep") > kinds.index("WriteStackState")

    refused = stack.run(*verb_args("rollback"))

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "ran the contract of db-migration" in refused.stderr
    assert "venue" in columns(stack)


def kill_during_expand(stack: Stack, tag: str) -> None:
    """Start a release carrying 1.2.0 and kill -9 its engine while the expand waits for
    its lock (held by the test)."""
    with orders_locked(stack):
        proc = stack.start(
            *rollout_args(fresh_version(tag), "--step", "db-migration", "--migration", "1.2.0")
        )
        poll(lambda: state_of(stack, "1.2.0") == "expanding", 60, "the expand under way")
        proc.send_signal(signal.SIGKILL)
        finish(proc)


def test_engine_killed_during_expand_then_rolled_back_leaves_the_old_schema(
    stack: Stack, load: Load
) -> None:
    kill_during_expand(stack, "killexpand")

    done = stack.run(*verb_args("rollback", "--force"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "client_ref" not in columns(stack)
    assert state_of(stack, "1.2.0") in (None, "reverted")


def test_engine_killed_during_expand_then_resumed_completes_it(stack: Stack, load: Load) -> None:
    kill_during_expand(stack, "resumeexpand")

    done = stack.run(*verb_args("resume", "--force"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "client_ref" in columns(stack)
    # promoted, then contracted after the bake (1.2.0 has nothing to contract)
    assert state_of(stack, "1.2.0") == "contracted"
    # Leave the stack as other tests expect it: 1.2.0 reverted by hand-free means.
    with psycopg.connect(stack.ends.postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX IF EXISTS orders_client_ref_idx")
        conn.execute("ALTER TABLE orders DROP COLUMN IF EXISTS client_ref")
        conn.execute("DELETE FROM schema_migrations WHERE version = '1.2.0'")


def test_engine_killed_during_revert_then_rolled_back_again_finishes_it(
    stack: Stack, load: Load
) -> None:
    proc = stack.start(
        *rollout_args(
            fresh_version("killrevert"),
            "--step",
            "db-migration",
            "--migration",
            "1.2.0",
            "--fault",
            "error-rate=0.5",
        )
    )
    poll(
        lambda: state_of(stack, "1.2.0") == "expanded" and "client_ref" in columns(stack),
        60,
        "the expand",
    )
    with orders_locked(stack):
        poll(lambda: state_of(stack, "1.2.0") == "reverting", 90, "the revert under way")
        proc.send_signal(signal.SIGKILL)
        finish(proc)

    done = stack.run(*verb_args("rollback", "--force"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "client_ref" not in columns(stack)
    assert state_of(stack, "1.2.0") == "reverted"


def order_count(stack: Stack) -> int:
    with psycopg.connect(stack.ends.postgres_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    return int(row[0])


def test_db_verbs_status_backups_lint_and_a_restore_that_needs_yes(stack: Stack) -> None:
    recorded_before = state_of(stack, "1.2.0")  # as earlier tests of the module left it
    migrated = stack.run("db", "migrate", "-s", "local", "--migration", "1.2.0")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    status = json.loads(stack.run("db", "status", "-s", "local", "--json").stdout)
    assert "1.2.0" in status["pending_contracts"]
    backup_id = next(e["backup_id"] for e in status["applied"] if e["version"] == "1.2.0")
    listed = json.loads(stack.run("db", "backups", "-s", "local", "--json").stdout)
    assert backup_id in [b["id"] for b in listed]
    with psycopg.connect(stack.ends.postgres_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (symbol, side, quantity, price, version, color)"
            " SELECT 'X', 'buy', 1, 1, 't', 'blue' FROM generate_series(1, 12)"
        )
    before = order_count(stack)

    unconfirmed = stack.run("db", "restore", "-s", "local", "--backup-id", backup_id)
    bad = stack.run("db", "lint", "--migration", "../1.2.0")

    assert unconfirmed.returncode == 2, unconfirmed.stdout + unconfirmed.stderr
    assert "public.orders" in unconfirmed.stdout and "loses 12" in unconfirmed.stdout
    assert "would lose 12 rows" in unconfirmed.stderr and "--yes" in unconfirmed.stderr
    assert order_count(stack) == before and "client_ref" in columns(stack)
    assert bad.returncode == 2 and "not a migration version" in bad.stderr

    confirmed = stack.run("db", "restore", "-s", "local", "--backup-id", backup_id, "--yes")

    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert order_count(stack) == before - 12
    assert "client_ref" not in columns(stack)
    assert state_of(stack, "1.2.0") == recorded_before  # the ledger is the backup's too


def test_rollback_with_restore_db_reports_its_losses_then_needs_yes(
    stack: Stack, load: Load
) -> None:
    # Given a release killed after its expand, and orders written since its backup
    earlier = newest_release(stack.journal())
    proc = stack.start(
        *rollout_args(fresh_version("restoredb"), "--step", "db-migration", "--migration", "1.2.0")
    )
    # Killed once the expand and its backup are journaled: the restore finds the backup in
    # the release's record (killed between the ledger's "expanded" and that record, as
    # happened in CI, the journal names no backup: see the closing note of 2026-11-27).
    poll(lambda: _expand_journaled(stack, earlier), 60, "the expand in the journal")
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    with psycopg.connect(stack.ends.postgres_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (symbol, side, quantity, price, version, color)"
            " SELECT 'Y', 'buy', 1, 1, 't', 'blue' FROM generate_series(1, 5)"
        )
    before = order_count(stack)

    # When the on-call engineer asks for the restore without confirming
    unconfirmed = stack.run(*verb_args("rollback", "--force", "--restore-db"))

    # Then nothing happened but a report of what would be lost
    assert unconfirmed.returncode == 2, unconfirmed.stdout + unconfirmed.stderr
    assert "loses 5" in unconfirmed.stdout
    assert stack.journal().current("local", "trading-api") is not None
    assert order_count(stack) == before and "client_ref" in columns(stack)

    # And confirmed, the release is rolled back and the database is the backup again
    confirmed = stack.run(*verb_args("rollback", "--force", "--restore-db", "--yes"))

    assert confirmed.returncode == 0, confirmed.stdout[-3000:] + confirmed.stderr[-3000:]
    assert "5 rows written since the backup were dropped" in confirmed.stdout
    assert order_count(stack) == before - 5
    assert "client_ref" not in columns(stack)


def _expand_journaled(stack: Stack, earlier: str | None) -> bool:
    """Whether a release newer than `earlier` journaled its db-migration step as done."""
    release = newest_release(stack.journal())
    return release not in (None, earlier) and any(
        e.kind == "action.done" and (e.data.get("action") or {}).get("name") == "db-migration"
        for e in stack.journal().events(release)
    )
