"""The benchmark's direct handles on the stack's database: seed rows, migrate, restore.

Everything else in the benchmarks goes through the product's own entry points; these are
the few places where a figure needs to act on PostgreSQL itself (the backup-restore
baseline, the sample data sizes).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from benchmarks.stack import SERVICE, STACK
from runbooks.session import Session
from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.stack_options import step_options

# Each seeded order is a plausible row of the sample schema; `version = 'seed'` marks it.
SEED_SQL = """
INSERT INTO orders (symbol, side, quantity, price, version, color)
SELECT 'SEED' || (g %% 500), CASE WHEN g %% 2 = 0 THEN 'buy' ELSE 'sell' END,
       1 + g %% 100, 10 + (g %% 1000) / 10.0, 'seed', 'seed'
FROM generate_series(1, %s) AS g
"""


def restore_backup(dsn: str, backup_dir: Path, backup_id: str) -> StepOutcome:
    """Restore backup `backup_id` (the last-resort path the engine no longer takes).

    The one place that knows where the restore lives (`runbooks.steps.db_migration` before
    the expand/contract migrations moved it).
    """
    from runbooks.migrations.restore import restore

    return restore(dsn, backup_dir, backup_id)


def migration_context(version: str, migration: str) -> StepContext:
    """The context the engine gives the db-migration step, for `migration` on this stack."""
    session = Session.open(STACK)
    settings = session.settings
    active = settings.service(SERVICE).active_color
    return StepContext(
        stack=STACK,
        service=SERVICE,
        version=version,
        old_color=active,
        new_color=active.other,
        options=step_options(settings, session.outputs) | {"migration": migration},
    )


def seed_orders(dsn: str, rows: int) -> int:
    """Top `orders` up to at least `rows` rows in one INSERT ... SELECT; returns the count."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
        have = int(row[0]) if row else 0
        if have < rows:
            conn.execute(SEED_SQL, (rows - have,))
            conn.execute("ANALYZE orders")
        return max(have, rows)
