"""Figures 1-3: real rollouts by the engine under load, each with its same-run baseline.

1. a healthy release vs the same load for the same time with no release;
2. a faulty release (20% 5xx): fault onset to all traffic back on the old color;
3. the faulty release's blast radius vs an all-at-once switch to the same faulty version,
   held for the engine's own reaction time, then switched back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.figures import (
    Figure,
    Restore,
    between,
    blast,
    failed,
    first_hit_of,
    flat_events,
    restore_of,
)
from benchmarks.load import RATE, WORKERS, sleep_until, under_load, warm_up, window_rates
from benchmarks.stack import SERVICE, STACK, BenchStack
from benchmarks.verdicts import blast_radius, release_failures, restore_time
from runbooks.core.model import Weights
from runbooks.journal.base import Journal
from runbooks.local.load import Hit, Load
from runbooks.local.services import deploy_color
from runbooks.release import rollout
from runbooks.routers.haproxy import HaproxyRouter
from runbooks.session import Request, Session, current_settings, open_journal
from samples.options import Faults
from stackspec.model import Color

HEALTHY_VERSION = "2.0.0-bench"
FAULTY_VERSION = "2.1.0-bench-faulty"
SWITCHED_VERSION = "2.1.0-bench-switched"  # the same fault, released all at once
FAULT = Faults(error_rate=0.2)
TAIL_SECONDS = 1.0  # requests sent just before traffic moved back are answered after it


def measure_healthy_release(bench: BenchStack) -> Figure:
    """Release a healthy version under load, then run the same load as long with no release."""
    journal = open_journal(STACK)
    load = Load(bench.load_url, RATE, WORKERS).start()
    try:
        warm_up()
        start = time.time()
        release_id, outcome = rollout(
            Request(STACK, SERVICE, HEALTHY_VERSION), Session.open(STACK), journal
        )
        end = time.time()
        quiet = (end + TAIL_SECONDS, end + TAIL_SECONDS + (end - start))
        sleep_until(quiet[1])
    finally:
        hits = load.stop()
    during, baseline = between(hits, start, end), between(hits, *quiet)
    details = {
        "release": release_id,
        "outcome": outcome.value,
        "release_seconds": round(end - start, 2),
        "requests_during_release": len(during),
        "requests_baseline": len(baseline),
    }
    figure = release_failures(failed(during), failed(baseline), details)
    return under_load(figure, window_rates(hits, {"release": (start, end), "baseline": quiet}))


@dataclass(frozen=True)
class Switch:
    """The all-at-once baseline: when traffic went to the faulty color and came back."""

    to_faulty: float
    back: float
    held_seconds: float


def measure_faulty_release(bench: BenchStack) -> list[Figure]:
    """Release a faulty version under load, then switch to it all at once; figures 2 and 3."""
    journal = open_journal(STACK)
    interval = float(bench.settings.rollout.analysis_interval_seconds)
    load = Load(bench.load_url, RATE, WORKERS).start()
    try:
        warm_up()
        start = time.time()
        release_id, outcome = rollout(_faulty_request(), Session.open(STACK), journal)
        end = time.time()
        sleep_until(end + TAIL_SECONDS)
        restore = restore_of(load.hits(), _events(journal, release_id), FAULTY_VERSION)
        switch = _switch_all_at_once(bench, restore.seconds or 2 * interval)
    finally:
        hits = load.stop()
    details: dict[str, object] = {"release": release_id, "outcome": outcome.value}
    windows = {"release": (start, end), "all_at_once": (switch.to_faulty, switch.back)}
    rates = window_rates(hits, windows)
    return [
        under_load(restore_time(restore, interval, details), rates),
        under_load(_blast_figure(hits, restore, switch, details), rates),
    ]


def _faulty_request() -> Request:
    return Request(STACK, SERVICE, FAULTY_VERSION, faults={"error_rate": FAULT.error_rate})


def _events(journal: Journal, release_id: str) -> list[dict[str, object]]:
    return flat_events(journal.events(release_id))


def _switch_all_at_once(bench: BenchStack, hold_seconds: float) -> Switch:
    """Deploy the faulty version on the idle color, send it everything, hold, switch back."""
    router = HaproxyRouter(bench.ends.admin_socket)
    live = router.get_weights(SERVICE)
    active = Color.BLUE if live.blue == 100 else Color.GREEN
    settings = current_settings(STACK)
    deploy_color(settings, None, SERVICE, active.other, SWITCHED_VERSION, FAULT)
    to_faulty = time.time()
    router.set_weights(SERVICE, Weights.all_on(active.other))
    sleep_until(to_faulty + hold_seconds)
    router.set_weights(SERVICE, Weights.all_on(active))
    back = time.time()
    # Keep the load on for a whole comparison window after the switch back.
    sleep_until(back + hold_seconds + 2 * TAIL_SECONDS)
    return Switch(to_faulty, back, back - to_faulty)


def _blast_figure(
    hits: Sequence[Hit], restore: Restore, switch: Switch, details: dict[str, object]
) -> Figure:
    """Both blasts over the same window length, each from the first hit its version served."""
    phased_start = first_hit_of(hits, FAULTY_VERSION) or switch.to_faulty
    phased_end = restore.restored or phased_start
    switched_start = first_hit_of(hits, SWITCHED_VERSION) or switch.to_faulty
    length = max(phased_end - phased_start, switch.held_seconds) + TAIL_SECONDS
    phased = blast(hits, FAULTY_VERSION, phased_start, length)
    switched = blast(hits, SWITCHED_VERSION, switched_start, length)
    more = {
        "window_seconds": round(length, 3),
        "all_at_once_held_seconds": round(switch.held_seconds, 3),
    }
    return blast_radius(phased, switched, dict(details) | more)
