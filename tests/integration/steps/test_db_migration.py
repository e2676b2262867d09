"""DbMigration against a real PostgreSQL: backup first, atomic migration, exact restore."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from runbooks.local.servers import wait_until
from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.db_backup import list_backups
from runbooks.steps.db_migration import DbMigration, restore
from runbooks.steps.db_snapshot import snapshot
from tests.integration.steps.conftest import context

pytestmark = pytest.mark.integration

SEED = """
CREATE TABLE quotes (id serial PRIMARY KEY, symbol text NOT NULL, price numeric NOT NULL);
INSERT INTO quotes (symbol, price) SELECT 'SYM' || i, i * 1.5 FROM generate_series(1, 200) i;
CREATE TABLE orders (id bigint PRIMARY KEY, quote_id int REFERENCES quotes, qty int);
INSERT INTO orders SELECT i, i, i * 10 FROM generate_series(1, 50) i;
"""
EXPAND = """
ALTER TABLE quotes ADD COLUMN venue text NOT NULL DEFAULT 'XNAS';
CREATE TABLE fills (id bigserial PRIMARY KEY, order_id bigint REFERENCES orders, qty int);
CREATE INDEX quotes_symbol_idx ON quotes (symbol);
"""


def _seed(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SEED)


def _migrations(root: Path, up_sql: str) -> Path:
    (root / "migrations" / "1.1.0").mkdir(parents=True)
    (root / "migrations" / "1.1.0" / "up.sql").write_text(up_sql)
    return root / "migrations"


def _ctx(dsn: str, root: Path, up_sql: str) -> StepContext:
    return context(
        postgres_dsn=dsn,
        backup_dir=str(root / "backups"),
        migrations_dir=str(_migrations(root, up_sql)),
        db_lock_timeout="5s",
    )


def _state(dsn: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {t: (s.rows, s.checksum) for t, s in snapshot(conn).items()}


def _columns(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows.fetchall()]


def test_expand_migration_applies_validates_and_records_its_backup(
    dsn: str, tmp_path: Path
) -> None:
    _seed(dsn)
    ctx = _ctx(dsn, tmp_path, EXPAND)

    outcome = DbMigration().apply(ctx)

    assert outcome.ok, outcome.message
    assert outcome.data["migrated"] is True
    assert "venue" in _columns(dsn, "quotes")
    [manifest] = list_backups(tmp_path / "backups")
    assert manifest["id"] == outcome.data["backup_id"]
    assert manifest["tables"]["public.quotes"]["rows"] == 200
    assert manifest["size"] > 0 and manifest["database"] == dsn.rsplit("/", 1)[1]
    assert DbMigration().verify(ctx).ok
    assert DbMigration().apply(ctx).data["migrated"] is False


def test_backup_and_manifest_exist_before_the_schema_changes(dsn: str, tmp_path: Path) -> None:
    """The migration waits on an advisory lock the test holds, so the test can look between."""
    _seed(dsn)
    ctx = _ctx(dsn, tmp_path, "SELECT pg_advisory_xact_lock(4242);\n" + EXPAND)
    results: list[StepOutcome] = []
    with psycopg.connect(dsn, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(4242)")
        worker = threading.Thread(target=lambda: results.append(DbMigration().apply(ctx)))
        worker.start()
        wait_until(lambda: bool(list_backups(tmp_path / "backups")), 30, "the backup")
        assert "venue" not in _columns(dsn, "quotes")
        [manifest] = list_backups(tmp_path / "backups")
        assert manifest["tables"]["public.quotes"]["rows"] == 200
        gate.execute("SELECT pg_advisory_unlock(4242)")
        worker.join(timeout=60)
    assert results and results[0].ok, results
    assert "venue" in _columns(dsn, "quotes")


def test_a_migration_failing_midway_leaves_the_database_unchanged(dsn: str, tmp_path: Path) -> None:
    _seed(dsn)
    before = _state(dsn)
    ctx = _ctx(dsn, tmp_path, EXPAND + "\nINSERT INTO no_such_table VALUES (1);\n")

    outcome = DbMigration().apply(ctx)

    assert not outcome.ok
    assert "no_such_table" in outcome.message
    assert _state(dsn) == before
    assert "venue" not in _columns(dsn, "quotes")
    assert DbMigration().undo(ctx, outcome).message.endswith("nothing to undo")


def test_a_migration_that_changes_existing_rows_is_refused(dsn: str, tmp_path: Path) -> None:
    _seed(dsn)
    before = _state(dsn)

    outcome = DbMigration().apply(_ctx(dsn, tmp_path, "UPDATE orders SET qty = 0 WHERE id = 7;"))

    assert not outcome.ok
    assert "public.orders: checksum" in outcome.message
    assert _state(dsn) == before


def test_undo_restores_the_exact_pre_migration_data_twice_over(dsn: str, tmp_path: Path) -> None:
    _seed(dsn)
    before = _state(dsn)
    ctx = _ctx(dsn, tmp_path, EXPAND)
    applied = DbMigration().apply(ctx)
    assert applied.ok, applied.message
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO fills (order_id, qty) VALUES (1, 5)")

    first = DbMigration().undo(ctx, applied)
    second = DbMigration().undo(ctx, applied)

    assert first.ok and second.ok, (first.message, second.message)
    assert _state(dsn) == before
    assert "venue" not in _columns(dsn, "quotes") and _columns(dsn, "fills") == []


def test_undo_after_a_crash_finds_the_backup_in_schema_migrations(dsn: str, tmp_path: Path) -> None:
    _seed(dsn)
    before = _state(dsn)
    ctx = _ctx(dsn, tmp_path, EXPAND)
    assert DbMigration().apply(ctx).ok

    lost = StepOutcome(name="db-migration", ok=False, message="journal lost", data={})
    outcome = DbMigration().undo(ctx, lost)

    assert outcome.ok, outcome.message
    assert _state(dsn) == before


def test_data_validation_catches_a_tampered_row(dsn: str, tmp_path: Path) -> None:
    _seed(dsn)
    ctx = _ctx(dsn, tmp_path, EXPAND)
    assert DbMigration().apply(ctx).ok
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE quotes SET price = price + 0.01 WHERE id = 123")

    verdict = DbMigration().verify(ctx)

    assert not verdict.ok
    assert "public.quotes: checksum" in verdict.message


def test_restore_by_unknown_backup_id_changes_nothing(dsn: str, tmp_path: Path) -> None:
    _seed(dsn)
    before = _state(dsn)

    outcome = restore(dsn, tmp_path / "backups", "20990101T000000Z-deadbeef")

    assert not outcome.ok and "no backup" in outcome.message
    assert _state(dsn) == before


def test_passwords_never_appear_in_messages(dsn: str, tmp_path: Path) -> None:
    secret_dsn = dsn.replace("postgres@", "postgres:s3cr3t-pw@").replace(
        dsn.rsplit(":", 1)[1].split("/")[0], "1"
    )  # port 1: nothing listens
    outcome = DbMigration().apply(_ctx(secret_dsn, tmp_path, EXPAND))

    assert not outcome.ok
    assert "s3cr3t-pw" not in outcome.message
