"""The migrations shipped in migrations/ apply in order and 1.1.0 passes as an expand."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from infra.settings import Color
from runbooks.steps.base import StepContext
from runbooks.steps.db_migration import DbMigration

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def _ctx(dsn: str, version: str, backups: Path) -> StepContext:
    return StepContext(stack="local", service="trading-api", version=version,
                       old_color=Color.BLUE, new_color=Color.GREEN,
                       options={"postgres_dsn": dsn, "backup_dir": str(backups),
                                "migrations_dir": str(MIGRATIONS)})


def test_shipped_migrations_apply_and_roll_back(dsn: str, tmp_path: Path) -> None:
    assert DbMigration().apply(_ctx(dsn, "1.0.0", tmp_path)).ok
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO orders (symbol, side, quantity) VALUES ('AAPL', 'buy', 10)")

    applied = DbMigration().apply(_ctx(dsn, "1.1.0", tmp_path))

    assert applied.ok, applied.message
    assert DbMigration().undo(_ctx(dsn, "1.1.0", tmp_path), applied).ok
    with psycopg.connect(dsn, autocommit=True) as conn:
        versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
        assert versions == [("1.0.0",)]
        assert conn.execute("SELECT to_regclass('public.fills')").fetchone() == (None,)
