"""Drill 6 (issue item 6): a release carrying a migration, rolled back under write load,
loses no acknowledged write.

Order writers (`runbooks.local.writes.Writers`, 4 threads, open loop) place orders through
HAProxy while a release of a faulty version (20 % of requests answered 500) carrying the
`db-migration` step (migration 1.2.0) runs: the judge rolls it back, which reverts the
migration's expand. Writing goes on for a tail after the rollback. Every order acknowledged
with a 201 and its id must still be in `orders` afterwards (`kept_orders`, by id and
creation time). Figure: acknowledged writes lost (target 0).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.drills.harness import DrillStack, finish, rollout_args, versions
from benchmarks.drills.result import Measure, at_most
from runbooks.local.load import steady_load
from runbooks.local.writes import Writers, kept_orders, receipts

WRITE_RATE, WRITERS = 60.0, 4  # orders/s
READ_RATE = 100.0  # reads alongside, so the judge has its minimum sample quickly
TAIL_SECONDS = 2.0  # orders sent just before the revert are answered after it
MIGRATION = "1.2.0"
FAULT = "error-rate=0.2"


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """One faulty release with the migration, rolled back under the writers."""
    stack.settle()
    version = next(versions()) + "-faulty"
    args = rollout_args(version, "--step", "db-migration", "--migration", MIGRATION)
    with steady_load(stack.load_url, READ_RATE):
        writers = Writers(stack.orders_url, WRITE_RATE, WRITERS).start()
        try:
            code, _, err = finish(stack.start(*args, "--fault", FAULT))
            time.sleep(TAIL_SECONDS)  # writing on after the rollback, not a synchronisation
        finally:
            writes = writers.stop()
    kept = kept_orders(stack.bench.ends.postgres_dsn, receipts(writes))
    release_id = stack.newest_release()
    outcome = stack.journal().release(release_id).outcome if release_id else None
    undone = [
        e.data["action"].get("name")
        for e in stack.events(release_id or "")
        if e.kind == "action.done" and e.data["action"]["type"] == "UndoReleaseStep"
    ]
    figures = {
        "acknowledged_writes_lost": at_most(len(kept.lost), 0, "orders"),
        "rolled_back_with_migration_reverted": Measure(
            int(outcome == "rolled-back" and "db-migration" in undone),
            "releases",
            "1/1",
            outcome == "rolled-back" and "db-migration" in undone,
        ),
    }
    details = {
        "release": release_id,
        "exit": code,
        "outcome": outcome,
        "undone_steps": undone,
        "orders_sent": len(writes),
        "orders_acknowledged": kept.accepted,
        "orders_kept": kept.kept,
        "lost_ids": list(kept.lost[:20]),
        "asked_orders_per_s": WRITE_RATE,
        "error": "" if code == 3 else err[-300:],
    }
    return figures, details
