"""The db-migration step on a real PostgreSQL while writers keep inserting orders.

Given the sample schema and writers inserting orders on their own connections (as the
services do), an expand, its revert, a contract and a restore are run; every insert that
committed (the "acknowledged" orders) is then looked up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from runbooks.local.servers import wait_until
from runbooks.migrations import ledger
from runbooks.migrations.backup import list_backups
from runbooks.migrations.restore import backup_manifest, preview, restore
from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.db_migration import DbMigration
from tests.integration.steps.conftest import context

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = (ROOT / "samples" / "schema.sql").read_text()
SEED = (
    "INSERT INTO orders (symbol, side, quantity, price, version, color) "
    "SELECT 'SYM' || (i % 50), 'buy', i, 1.5, '1.0.0', 'blue' FROM generate_series(1, 2000) i"
)
EXPAND = """
ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS client_ref text;
CREATE TABLE IF NOT EXISTS public.venues (code text PRIMARY KEY, name text NOT NULL);
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_client_ref_idx ON public.orders (client_ref);
"""
REVERT = """
DROP INDEX CONCURRENTLY IF EXISTS public.orders_client_ref_idx;
ALTER TABLE public.orders DROP COLUMN IF EXISTS client_ref;
DROP TABLE IF EXISTS public.venues;
"""
CONTRACT = "ALTER TABLE public.orders DROP COLUMN IF EXISTS color;\n"


class Writers:
    """Threads inserting orders as fast as they can; remembers each committed id."""

    def __init__(self, dsn: str, count: int = 4) -> None:
        self.dsn = dsn
        self.acked: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, daemon=True) for _ in range(count)]

    def _write(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                try:
                    row = conn.execute(
                        "INSERT INTO orders (symbol, side, quantity, price, version, color)"
                        " VALUES ('AAPL', 'buy', 1, 190.5, '1.0.0', 'blue') RETURNING id"
                    ).fetchone()
                except psycopg.Error as err:
                    with self._lock:
                        self.errors.append(str(err))
                    continue
                assert row is not None
                with self._lock:
                    self.acked.append(int(row[0]))

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    @contextmanager
    def running(self) -> Iterator[Writers]:
        for thread in self._threads:
            thread.start()
        wait_until(lambda: self.count() >= 20, 10, "the writers' first orders")
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(5)

    def wrote_more(self, than: int) -> bool:
        """Wait (with a deadline) until 20 more orders were acknowledged."""
        wait_until(lambda: self.count() >= than + 20, 10, "20 more acknowledged orders")
        return True


def _folder(root: Path, expand: str = EXPAND, revert: str = REVERT, **extra: str) -> Path:
    folder = root / "migrations" / "2.0.0"
    folder.mkdir(parents=True)
    (folder / "migration.yaml").write_text("description: test migration\n")
    (folder / "expand.sql").write_text(expand)
    (folder / "revert.sql").write_text(revert)
    for name, text in extra.items():
        (folder / name).write_text(text)
    return root / "migrations"


def _ctx(dsn: str, root: Path, migrations: Path, version: str = "2.0.0") -> StepContext:
    """A release of `version` carrying migration 2.0.0."""
    base = context()
    options = {
        "postgres_dsn": dsn,
        "backup_dir": str(root / "backups"),
        "migrations_dir": str(migrations),
        "migration": "2.0.0",
        "lock_timeout_seconds": 1.0,
    }
    return StepContext(base.stack, base.service, version, base.old_color, base.new_color, options)


def _seeded(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(SEED)
    return dsn


def _missing(dsn: str, ids: list[int]) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM orders WHERE id = ANY(%s)", (ids,)).fetchone()
    assert row is not None
    return len(set(ids)) - int(row[0])


def _columns(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
        ).fetchall()
    return {str(r[0]) for r in rows}


def _state(dsn: str, version: str = "2.0.0") -> str | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        entry = ledger.entry(conn, version)
    return None if entry is None else entry.state.value


def test_rolled_back_expand_keeps_every_acknowledged_row(dsn: str, tmp_path: Path) -> None:
    # Given writers inserting orders all along
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path))
    step = DbMigration()
    with Writers(dsn).running() as writers:
        # When the expand is applied, writes go on, and the release is rolled back
        applied = step.apply(ctx)
        assert applied.ok, applied.message
        assert {"client_ref"} <= _columns(dsn)
        assert writers.wrote_more(than=writers.count())
        undone = step.undo(ctx, applied)
        assert undone.ok, undone.message
        assert writers.wrote_more(than=writers.count())
    # Then the schema is as before, and every committed order is still there
    assert "client_ref" not in _columns(dsn)
    assert _state(dsn) == "reverted"
    assert writers.count() > 100
    assert writers.errors == []
    assert _missing(dsn, writers.acked) == 0
    # (the backup was taken while the writers wrote: it holds the seed and some of theirs)
    assert re.search(r"100% of \d+ rows of the backup intact", applied.message)
    assert re.search(r"100% of \d+ rows of the backup intact", undone.message)


def test_undo_is_idempotent_and_works_without_journaled_data(dsn: str, tmp_path: Path) -> None:
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path))
    assert DbMigration().apply(ctx).ok
    # A crash before the apply's outcome was journaled: undo finds its way from the ledger.
    unknown = StepOutcome("db-migration", False, "not recorded")
    first = DbMigration().undo(ctx, unknown)
    second = DbMigration().undo(ctx, unknown)
    assert first.ok and second.ok, (first.message, second.message)
    assert "nothing to revert" in second.message
    assert "client_ref" not in _columns(dsn)


def test_undo_leaves_a_migration_applied_by_another_release(dsn: str, tmp_path: Path) -> None:
    migrations = _folder(tmp_path)
    _seeded(dsn)
    assert DbMigration().apply(_ctx(dsn, tmp_path, migrations, version="1.9.0")).ok
    ours = _ctx(dsn, tmp_path, migrations, version="2.0.0")
    applied = DbMigration().apply(ours)
    assert applied.ok and applied.data["migrated"] is False
    assert DbMigration().undo(ours, applied).ok
    assert "client_ref" in _columns(dsn)


def test_backup_does_not_block_writers_and_matches_its_snapshot(dsn: str, tmp_path: Path) -> None:
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path))
    with Writers(dsn).running() as writers:
        applied = DbMigration().apply(ctx)
        assert writers.wrote_more(than=writers.count())
    [manifest] = list_backups(tmp_path / "backups")
    assert applied.data["backup_id"] == manifest["id"]
    # The manifest describes the instant of the snapshot: at least the seed, not later rows.
    rows = manifest["tables"]["public.orders"]["rows"]
    assert 2000 <= rows < 2000 + writers.count()
    assert manifest["tables"]["public.orders"]["key"] == ["id"]


def test_contract_runs_the_destructive_part_and_blocks_the_revert(dsn: str, tmp_path: Path) -> None:
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path, **{"contract.sql": CONTRACT}))
    applied = DbMigration().apply(ctx)
    assert applied.ok
    contracted = DbMigration().contract(ctx)
    assert contracted.ok, contracted.message
    assert "color" not in _columns(dsn)
    assert _state(dsn) == "contracted"
    refused = DbMigration().undo(ctx, applied)
    assert not refused.ok
    assert "contracted" in refused.message and "runbook db restore" in refused.message


def test_contract_of_an_unapplied_migration_is_refused(dsn: str, tmp_path: Path) -> None:
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path, **{"contract.sql": CONTRACT}))
    refused = DbMigration().contract(ctx)
    assert not refused.ok
    assert "not applied" in refused.message
    assert "color" in _columns(dsn)


def test_lock_taking_migration_is_refused_and_nothing_applied(dsn: str, tmp_path: Path) -> None:
    expand = "CREATE INDEX IF NOT EXISTS orders_symbol_idx ON public.orders (symbol);\n"
    revert = "DROP INDEX IF EXISTS public.orders_symbol_idx;\n"
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path, expand, revert))
    refused = DbMigration().apply(ctx)
    assert not refused.ok
    assert "require-concurrent-index-creation" in refused.message
    assert "expand.sql:1" in refused.message
    assert list_backups(tmp_path / "backups") == []
    assert _state(dsn) is None


def test_a_declared_reason_lets_a_lint_rule_pass(dsn: str, tmp_path: Path) -> None:
    expand = "CREATE INDEX IF NOT EXISTS orders_symbol_idx ON public.orders (symbol);\n"
    revert = "DROP INDEX IF EXISTS public.orders_symbol_idx;\n"
    migrations = _folder(tmp_path, expand, revert)
    (migrations / "2.0.0" / "migration.yaml").write_text(
        "description: test\nallow:\n  expand:\n"
        "    require-concurrent-index-creation: the table is tiny in this test\n"
        "  revert:\n"
        "    require-concurrent-index-deletion: the table is tiny in this test\n"
    )
    applied = DbMigration().apply(_ctx(_seeded(dsn), tmp_path, migrations))
    assert applied.ok, applied.message


def test_a_ddl_that_cannot_get_its_lock_gives_up_and_leaves_nothing(
    dsn: str, tmp_path: Path
) -> None:
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path))
    # Given a transaction that holds a lock on orders for the whole attempt
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE orders IN ACCESS SHARE MODE")
        options = dict(ctx.options) | {"lock_retries": 1, "lock_timeout_seconds": 0.2}
        refused = DbMigration().apply(
            StepContext(ctx.stack, ctx.service, ctx.version, ctx.old_color, ctx.new_color, options)
        )
        blocker.rollback()
    assert not refused.ok
    assert "lock timeout" in refused.message
    assert "client_ref" not in _columns(dsn)
    # And re-running it (as resume does) completes it
    again = DbMigration().apply(ctx)
    assert again.ok, again.message
    assert "client_ref" in _columns(dsn)


def test_restore_reports_what_it_loses_and_matches_the_manifest(dsn: str, tmp_path: Path) -> None:
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path))
    applied = DbMigration().apply(ctx)
    backup_id = str(applied.data["backup_id"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (symbol, side, quantity, price, version, color)"
            " SELECT 'NEW', 'sell', i, 2, '2.0.0', 'green' FROM generate_series(1, 37) i"
        )
    manifest = backup_manifest(tmp_path / "backups", backup_id)
    losses = {loss.table: loss for loss in preview(dsn, manifest)}
    assert losses["public.orders"].lost == 37
    assert losses["public.orders"].exact
    restored = restore(dsn, tmp_path / "backups", backup_id)
    assert restored.ok, restored.message
    assert "client_ref" not in _columns(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None and row[0] == 2000


def test_restore_of_a_tampered_manifest_fails_and_changes_nothing(dsn: str, tmp_path: Path) -> None:
    ctx = _ctx(_seeded(dsn), tmp_path, _folder(tmp_path))
    backup_id = str(DbMigration().apply(ctx).data["backup_id"])
    manifest_path = tmp_path / "backups" / backup_id / "manifest.json"
    manifest_path.write_text(manifest_path.read_text().replace('"rows": 2000', '"rows": 1999'))
    failed = restore(dsn, tmp_path / "backups", backup_id)
    assert not failed.ok
    assert "differs from the backup manifest" in failed.message
    assert "client_ref" in _columns(dsn)  # the expanded schema is untouched
