"""Drill 2: Prometheus stopped at a random moment of a release; never promote on no data.

Each release (5; 1 in the short form) runs under steady load; once its first weight change
is live, Prometheus is stopped (by its recorded pid) after a random delay within the
release's analysed steps (seeded; the seed is in the details), and started again after the
release ends. A release promoted after the outage began was promoted on missing data; a
release counts as exercised only if the outage began before its analysis ended (the stop is
skipped when the rollout has already ended).
Figure: promotions on missing data (target 0); details: each release's outcome and the
seconds from the stop to the rollback decision.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from benchmarks.analysis.live import start_prometheus
from benchmarks.drills.harness import DrillStack, versions
from benchmarks.drills.outages import (
    analysis_ended_at,
    first_decision_at,
    release_with,
    weights_set,
)
from benchmarks.drills.result import Measure, at_most
from benchmarks.drills.runtime_parts import stop_part
from runbooks.local.load import steady_load

RELEASES, SHORT_RELEASES = 5, 1
LOAD_RATE = 150.0
MAX_DELAY_SECONDS = 9.0  # the analysed steps of the drill policy bake 4 + 4 + 2 s


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """The releases, each with an outage; promotions on missing data must be 0."""
    seed = int(time.time())
    draw = random.Random(seed)
    fresh = versions()
    records = []
    with steady_load(stack.load_url, LOAD_RATE):
        for _ in range(SHORT_RELEASES if short else RELEASES):
            records.append(_one(stack, next(fresh), draw.uniform(0, MAX_DELAY_SECONDS)))
    on_missing = sum(1 for r in records if r["promoted_on_missing_data"])
    exercised = sum(1 for r in records if r["judged_during_the_outage"])
    figures = {
        "promotions_on_missing_data": at_most(on_missing, 0, "releases"),
        "releases_with_an_outage": Measure(
            exercised, "releases", "every release", exercised == len(records)
        ),
    }
    return figures, {"seed": seed, "releases": records}


def _one(stack: DrillStack, version: str, delay: float) -> dict[str, Any]:
    stopped: dict[str, float] = {}

    def inject(running: Callable[[], bool]) -> None:
        moment = time.monotonic() + delay  # the outage's random moment
        while running() and time.monotonic() < moment:
            time.sleep(0.05)
        if running():  # a release already over is not one judged without metrics
            stopped["at"] = stop_part(stack, "prometheus")

    try:
        released = release_with(stack, version, lambda ev: weights_set(ev) >= 1, inject)
    finally:
        start_prometheus()
    at = stopped.get("at")
    promoting = first_decision_at(released.events, "promoting")
    rolling_back = first_decision_at(released.events, "rolling-back")
    ended = analysis_ended_at(released.events)
    return released.detail() | {
        "delay_seconds": round(delay, 2),
        "stopped_at": at,
        # the outage began while the release was still being judged
        # (a release that never decided, e.g. the engine crashed, was not judged at all)
        "judged_during_the_outage": at is not None and ended is not None and ended > at,
        "promoted_on_missing_data": at is not None and promoting is not None and promoting > at,
        "stop_to_rollback_seconds": (
            round(rolling_back - at, 2) if at is not None and rolling_back is not None else None
        ),
    }
