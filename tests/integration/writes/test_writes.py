"""Orders placed under a rolled-back migration are all kept (real stack, real writers).

Given a private local stack and 4 writers placing orders through HAProxy, when the engine
rolls back a faulty release carrying `db-migration`, then every order a user was told was
accepted (201 with an id) is still in `orders`, and the writers kept being answered.
"""

from __future__ import annotations

import time

import pytest

from runbooks.local.process import wait_until
from runbooks.local.writes import ORDERS_PATH, Writers, acknowledged, kept_orders, receipts
from tests.integration.engine.harness import Stack, rollout_args

pytestmark = pytest.mark.integration

WRITERS = 4
WRITE_RATE = 60.0
ROLLED_BACK = 3  # runbook's exit code for a release it rolled back
FAULTY = ("--fault", "error-rate=0.2", "--step", "db-migration", "--migration", "1.2.0")


def test_rolled_back_migration_keeps_every_accepted_order(stack: Stack) -> None:
    writers = Writers(stack.ends.haproxy_url + ORDERS_PATH, WRITE_RATE, WRITERS).start()
    try:
        wait_until(lambda: len(acknowledged(writers.hits())) >= 20, 15, "first accepted orders")
        done = stack.run(*rollout_args("2.9.0-writes-faulty", *FAULTY))
        ended = time.time()
        # Orders placed after the rollback too: the old color must still take them.
        wait_until(
            lambda: len(acknowledged(writers.hits(since=ended))) >= 20,
            15,
            "accepted orders after the rollback",
        )
    finally:
        writes = writers.stop()
    kept = kept_orders(stack.ends.postgres_dsn, receipts(writes))
    assert done.returncode == ROLLED_BACK, (
        f"exit {done.returncode}, {kept.accepted - kept.kept} of {kept.accepted} accepted "
        f"orders lost:\n{done.stderr[-3000:]}{done.stdout[-2000:]}"
    )
    assert kept.accepted > 0
    assert kept.lost == (), (
        f"{len(kept.lost)} of {kept.accepted} accepted orders lost by the rollback, "
        f"e.g. ids {list(kept.lost[:5])}"
    )
