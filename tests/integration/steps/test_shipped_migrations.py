"""The migrations shipped in migrations/ apply on the sample schema as expands, and undo."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from infra.settings import Color
from runbooks.steps.base import StepContext
from runbooks.steps.db_migration import DbMigration

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "migrations"
SCHEMA = ROOT / "samples" / "schema.sql"


def _ctx(dsn: str, migration: str, backups: Path) -> StepContext:
    return StepContext(
        stack="local",
        service="trading-api",
        version="9.9.9",
        old_color=Color.BLUE,
        new_color=Color.GREEN,
        options={
            "postgres_dsn": dsn,
            "backup_dir": str(backups),
            "migrations_dir": str(MIGRATIONS),
            "migration": migration,
        },
    )


def _columns(conn: psycopg.Connection[tuple[object, ...]]) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
    ).fetchall()
    return {str(r[0]) for r in rows}


@pytest.mark.parametrize(("migration", "column"), [("1.1.0", "venue"), ("1.2.0", "client_ref")])
def test_shipped_migration_expands_and_rolls_back(
    dsn: str, tmp_path: Path, migration: str, column: str
) -> None:
    # Given the sample services' schema with an order in it
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
        conn.execute(
            "INSERT INTO orders (symbol, side, quantity, price, version, color) "
            "VALUES ('AAPL', 'buy', 10, 190.5, '1.0.0', 'blue')"
        )
    # When the migration is applied (named by the `migration` option, not the version)
    applied = DbMigration().apply(_ctx(dsn, migration, tmp_path))
    assert applied.ok, applied.message
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert column in _columns(conn)
    # Then undo restores the backup: the column is gone and the order is intact
    assert DbMigration().undo(_ctx(dsn, migration, tmp_path), applied).ok
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert column not in _columns(conn)
        assert conn.execute("SELECT symbol, quantity FROM orders").fetchall() == [("AAPL", 10)]
