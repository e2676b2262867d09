"""Drill 3: the router's admin socket gone for 1-10 s during a release.

Each release (blips of 1, 3, 5, 7 and 10 s; one of 5 s in the short form) runs a healthy
version under steady load. When the engine sends the first command of its second weight
change (step 2, 50 %), the admin-socket proxy resets that connection and removes the socket
file for the blip's length, so the outage begins inside a weight change. The router
retries with backoff within its budget (`runbooks.routers.haproxy.RETRY_BUDGET_SECONDS`);
a blip no longer than the budget must not roll the release back. After each release the
router's real weights must equal the last weights the journal recorded as set.
Figures: releases rolled back by a blip within the budget (target 0); the largest
divergence between HAProxy and the journal afterwards, in percentage points (target 0).
"""

from __future__ import annotations

from typing import Any

from benchmarks.drills.harness import DrillStack, versions
from benchmarks.drills.outages import release_with, weights_set
from benchmarks.drills.result import Measure, at_most
from benchmarks.stack import SERVICE
from runbooks.engine import last_weights
from runbooks.local.load import steady_load
from runbooks.routers.haproxy import RETRY_BUDGET_SECONDS

BLIPS, SHORT_BLIPS = (1.0, 3.0, 5.0, 7.0, 10.0), (5.0,)
LOAD_RATE = 150.0


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """A release per blip: rollbacks caused by blips within the budget, and divergence."""
    fresh = versions()
    records = []
    with steady_load(stack.load_url, LOAD_RATE):
        for seconds in SHORT_BLIPS if short else BLIPS:
            records.append(_one(stack, next(fresh), seconds))
    within = [r for r in records if r["blip_seconds"] <= RETRY_BUDGET_SECONDS]
    rolled_back = sum(1 for r in within if r["outcome"] != "promoted")
    blipped = sum(1 for r in records if r["blipped"])
    divergence = max((r["divergence_pp"] for r in records), default=0)
    figures = {
        "rolled_back_by_a_blip_within_budget": at_most(rolled_back, 0, "releases"),
        "max_divergence_router_vs_journal": at_most(divergence, 0, "percentage points"),
        "releases_blipped": Measure(blipped, "releases", "every release", blipped == len(records)),
    }
    return figures, {"budget_seconds": RETRY_BUDGET_SECONDS, "releases": records}


def _one(stack: DrillStack, version: str, seconds: float) -> dict[str, Any]:
    old = stack.active_color()
    command = f"set server be_{SERVICE}/{old.other.value} weight 50"
    blips_before = len(stack.proxy.blips)
    stack.proxy.blip_on(lambda line: line == command, seconds)
    released = release_with(stack, version, lambda ev: weights_set(ev) >= 2, lambda running: None)
    stack.proxy.blip_on(lambda line: False, 0)  # disarmed if the release never got there
    stack.proxy.restore()
    live = stack.live_weights()
    journaled = last_weights(stack.journal(), released.release_id) if released.release_id else None
    divergence = (
        100 if live is None or journaled is None else abs(live.blue - int(journaled["blue"]))
    )
    return released.detail() | {
        "blip_seconds": seconds,
        "blipped": len(stack.proxy.blips) > blips_before,
        "live": None if live is None else {"blue": live.blue, "green": live.green},
        "journal": journaled,
        "divergence_pp": divergence,
    }
