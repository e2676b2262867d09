"""Drill 5 (issue item 5): the most this machine sustains through HAProxy, held through a
healthy release and a rollback, with no failed request.

First wrk runs flat out against HAProxy's frontend for a few seconds: the most this machine
sustains (target >= 1,000 requests/s). Then wrk runs flat out again through a healthy
release (promoted) and through a release rolled back by the operator (`runbook rollback`
once its second weight change is live). A request failed when wrk got a 4xx/5xx or no
answer (connect, read, write error or a 2 s timeout).
Figures: sustained requests/s; failed requests during the release and the rollback
(target 0), with the rate achieved during each in the details.
"""

from __future__ import annotations

from typing import Any

from benchmarks.drills.harness import DrillStack, verb_args, versions
from benchmarks.drills.outages import release_with, weights_set
from benchmarks.drills.result import Measure, at_most
from benchmarks.drills.wrk import WrkRun, flat_out, running

MIN_RATE = 1000.0
CAPACITY_SECONDS, SHORT_CAPACITY_SECONDS = 10.0, 4.0


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """Capacity, then the healthy release and the rollback at full speed."""
    fresh = versions()
    capacity = flat_out(stack.load_url, SHORT_CAPACITY_SECONDS if short else CAPACITY_SECONDS)
    with running(stack.load_url) as during_release:
        released = release_with(stack, next(fresh), lambda ev: False, lambda running: None)
    with running(stack.load_url) as during_rollback:
        rolled = release_with(
            stack, next(fresh), lambda ev: weights_set(ev) >= 2, lambda running: _rollback(stack)
        )
    release, rollback = during_release[0], during_rollback[0]
    figures = {
        "sustained_requests_per_s": Measure(
            capacity.rate, "requests/s", f">= {MIN_RATE:g}", capacity.rate >= MIN_RATE
        ),
        "failed_requests_healthy_release": at_most(release.failed, 0, "requests"),
        "failed_requests_rollback": at_most(rollback.failed, 0, "requests"),
        "release_promoted_and_rollback_rolled_back": Measure(
            int(released.outcome == "promoted") + int(rolled.outcome == "rolled-back"),
            "releases",
            "2/2",
            released.outcome == "promoted" and rolled.outcome == "rolled-back",
        ),
    }
    details = {
        "capacity": _json(capacity),
        "release": released.detail() | {"wrk": _json(release)},
        "rollback": rolled.detail() | {"wrk": _json(rollback)},
    }
    return figures, details


def _rollback(stack: DrillStack) -> None:
    done = stack.run(*verb_args("rollback"))
    if done.returncode != 0:
        raise RuntimeError(f"runbook rollback exited {done.returncode}: {done.stderr[-300:]}")


def _json(run: WrkRun) -> dict[str, Any]:
    return {
        "requests": run.requests,
        "seconds": run.seconds,
        "rate": run.rate,
        "non_2xx_3xx": run.non_2xx_3xx,
        "socket_errors": run.socket_errors,
    }
