"""Figures of issue 7: what undoing a release's migration and backing it up cost writers.

1. `orders_lost_rollback_revert_vs_restore`: 4 writers place orders through HAProxy while
   the engine rolls back a faulty release carrying `db-migration` (its expand is reverted);
   then, same writers, same rate, the same migration applied with `DbMigration`, held as
   long as the engine held it, and undone by restoring its backup by id. Acknowledged
   orders (201 with an id) missing from `orders` afterwards are lost.
2. `write_p99_during_migration_vs_none_<rows>_rows` and `write_stall_growth_with_data_size`:
   the writers' p99 while the migration and its backup run, against windows of the same
   length with no migration, at each sample data size; the stall must not grow with size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.database import migration_context, restore_backup, seed_orders
from benchmarks.figures import (
    Figure,
    achieved_rate,
    flat_events,
    median,
    window_p99s,
)
from benchmarks.load import sleep_until, warm_up
from benchmarks.stack import SERVICE, STACK, BenchStack
from benchmarks.verdicts import orders_lost, stall_growth, write_stall
from runbooks.local.writes import (
    ORDERS_PATH,
    Kept,
    Window,
    Write,
    Writers,
    kept_orders,
    p99_ms,
    receipts,
    within,
)
from runbooks.rehearsal.timeline import StepWindow, step_windows
from runbooks.release import rollout
from runbooks.session import Request, Session, open_journal
from runbooks.steps.base import StepContext, StepOutcome
from runbooks.steps.db_migration import DbMigration

WRITE_RATE = 100.0  # orders/s: 4 writers, each INSERT + a Kafka publish per order
WRITERS = 4
MIGRATION = "1.2.0"
STEP = "db-migration"
FAULTY_VERSION = "2.2.0-bench-migration-faulty"
TAIL_SECONDS = 2.0  # orders sent just before the undo are answered after it
QUIET_SECONDS = 8.0  # the shortest no-migration stretch a size's baseline windows come from
QUIET_FACTOR = 4.0  # ... and at least this many migration-lengths of it
SIZES = (10_000, 100_000, 1_000_000)  # 1x, 10x, 100x the sample data
MIN_ORDERS_DUE = 100  # orders due during a size's migrations, so its p99 is a percentile
MAX_RUNS = 10
GAP_SECONDS = 0.5


@dataclass(frozen=True)
class Arm:
    """One way of undoing the migration under the writers: what it kept, and its windows."""

    kept: Kept
    writes: Sequence[Write]
    held_seconds: float
    detail: dict[str, object]


def measure_orders_lost(bench: BenchStack) -> list[Figure]:
    """The engine's rollback (revert) vs a backup restore, same writers, same run."""
    engine = _engine_arm(bench)
    restore = _restore_arm(bench, engine.held_seconds)
    rates = {
        "engine": _rate(engine.writes),
        "restore": _rate(restore.writes),
    }
    details = {"engine": engine.detail, "restore": restore.detail, "achieved_orders_per_s": rates}
    return [orders_lost(engine.kept, restore.kept, details | {"asked_orders_per_s": WRITE_RATE})]


def _engine_arm(bench: BenchStack) -> Arm:
    journal = open_journal(STACK)
    request = Request(
        STACK, SERVICE, FAULTY_VERSION, (STEP,), {"error_rate": 0.2}, migration=MIGRATION
    )
    writers = Writers(_orders_url(bench), WRITE_RATE, WRITERS).start()
    try:
        warm_up()
        release_id, outcome = rollout(request, Session.open(STACK), journal)
        sleep_until(time.time() + TAIL_SECONDS)
    finally:
        writes = writers.stop()
    windows = step_windows(flat_events(journal.events(release_id)), STEP)
    kept = kept_orders(bench.ends.postgres_dsn, receipts(writes))
    detail: dict[str, object] = {
        "release": release_id,
        "outcome": outcome.value,
        "migration_windows": [_window_json(w) for w in windows],
    } | _kept_json(kept)
    return Arm(kept, writes, _held(windows), detail)


def _held(windows: Sequence[StepWindow]) -> float:
    """From the start of the migration's apply to the start of its undo (0 if never undone)."""
    apply = next((w for w in windows if w.verb == "apply"), None)
    undo = next((w for w in windows if w.verb == "undo"), None)
    return 0.0 if apply is None or undo is None else undo.start - apply.start


def _restore_arm(bench: BenchStack, held_seconds: float) -> Arm:
    ctx = migration_context(FAULTY_VERSION, MIGRATION)
    step = DbMigration()
    writers = Writers(_orders_url(bench), WRITE_RATE, WRITERS).start()
    try:
        warm_up()
        began = time.time()
        applied = step.apply(ctx)
        sleep_until(began + held_seconds)
        backup_id = applied.data.get("backup_id")
        restored = (
            restore_backup(ctx.option("postgres_dsn"), Path(ctx.option("backup_dir")), backup_id)
            if backup_id
            else None
        )
        sleep_until(time.time() + TAIL_SECONDS)
    finally:
        writes = writers.stop()
    kept = kept_orders(bench.ends.postgres_dsn, receipts(writes))
    detail: dict[str, object] = {
        "applied": applied.message,
        "restore": None if restored is None else restored.message,
        "held_seconds": round(held_seconds, 3),
    } | _kept_json(kept)
    return Arm(kept, writes, held_seconds, detail)


def measure_write_stall(bench: BenchStack, sizes: Sequence[int] = SIZES) -> list[Figure]:
    """At each data size: writers' p99 during migration + backup vs no migration."""
    figures = []
    ratios: dict[int, float | None] = {}
    spreads: list[float] = []
    for rows in sizes:
        figure, spread = _stall_at(bench, rows)
        figures.append(figure)
        ratios[rows] = figure.as_json()["ratio"]
        spreads += spread
    figures.append(stall_growth(ratios, spreads))
    return figures


def _stall_at(bench: BenchStack, rows: int) -> tuple[Figure, list[float]]:
    """Seed to `rows`, migrate under the writers, then QUIET_FACTOR times as long quiet."""
    count = seed_orders(bench.ends.postgres_dsn, rows)
    ctx = migration_context(FAULTY_VERSION, MIGRATION)
    step = DbMigration()
    writers = Writers(_orders_url(bench), WRITE_RATE, WRITERS).start()
    try:
        warm_up()
        windows, applied = _migrate_until_enough(step, ctx)
        migrating = sum(end - start for start, end in windows)
        # The quiet stretch comes after, so it can be sized from the migration it matches.
        quiet_start = windows[-1][1] + TAIL_SECONDS
        quiet = (quiet_start, quiet_start + max(QUIET_SECONDS, QUIET_FACTOR * migrating))
        sleep_until(quiet[1])
    finally:
        writes = writers.stop()
    undone = step.undo(ctx, applied)  # writers stopped: the next size starts unmigrated
    baseline = window_p99s(writes, *quiet, migrating)
    during = within(writes, windows)
    details = {
        "rows": count,
        "migration_seconds": [round(end - start, 3) for start, end in windows],
        "orders_during": len(during),
        "baseline_windows": len(baseline),
        "applied": applied.message,
        "undone": undone.message,
        "achieved_orders_per_s": {
            "during": round(len(during) / migrating, 1) if migrating else 0.0,
            "quiet": _rate(within(writes, [quiet])),
        },
    }
    figure = write_stall(rows, p99_ms(during), median(baseline), applied.ok, details)
    return figure, _spread(baseline)


def _migrate_until_enough(step: DbMigration, ctx: StepContext) -> tuple[list[Window], StepOutcome]:
    """Apply the migration (undoing it between runs) until MIN_ORDERS_DUE orders fell due
    during its applies, or MAX_RUNS; the windows and the last apply, left applied.

    A migration of a small table takes a fraction of a second: one run would give a p99 of
    a handful of orders, which is their maximum, not a percentile.
    """
    windows: list[Window] = []
    while True:
        start = time.time()
        applied = step.apply(ctx)
        windows.append((start, time.time()))
        due = WRITE_RATE * sum(end - begin for begin, end in windows)
        if not applied.ok or due >= MIN_ORDERS_DUE or len(windows) >= MAX_RUNS:
            return windows, applied
        # A gap either side of the undo keeps it out of the windows measured.
        sleep_until(windows[-1][1] + GAP_SECONDS)
        step.undo(ctx, applied)
        sleep_until(time.time() + GAP_SECONDS)


def _spread(p99s: Sequence[float]) -> list[float]:
    """Each quiet window's p99 over their median: how much a ratio moves with no migration."""
    middle = median(p99s)
    return [] if not middle else [value / middle for value in p99s]


def _orders_url(bench: BenchStack) -> str:
    return bench.ends.haproxy_url + ORDERS_PATH


def _rate(writes: Sequence[Write]) -> float:
    """Orders per second sent from the first to the last of `writes` (0 for fewer than 2)."""
    if len(writes) < 2:
        return 0.0
    first, last = min(w.at for w in writes), max(w.at for w in writes)
    return round(achieved_rate(writes, first, last), 1) if last > first else 0.0


def _kept_json(kept: Kept) -> dict[str, object]:
    return {
        "accepted": kept.accepted,
        "kept": kept.kept,
        "lost": kept.accepted - kept.kept,
        "lost_ids": list(kept.lost[:10]),
    }


def _window_json(window: StepWindow) -> dict[str, object]:
    return {
        "verb": window.verb,
        "seconds": round(window.end - window.start, 3),
        "ok": window.ok,
    }
