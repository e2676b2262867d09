"""trading-api and market-data released together, as one release, on a private local stack.

Given a private stack of this module under steady load (two short steps, and a latency
tolerance wide enough that the noise of a loaded 2-core box cannot roll a healthy pair back:
these tests are about the pair moving and failing together, not about the judge), the CLI
releases both services with `--service NAME=VERSION` twice. A faulty trading-api rolls
both back (exit 3, each service's traffic and stack state on its old color, one journal
record); a healthy pair promotes both; an engine killed while both take traffic is rolled
back from its journal by `rollback --service market-data`, both services again on their old
colors. Three releases; about a minute on an idle machine.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from runbooks.core.model import Weights
from runbooks.engine import last_weights, member_decisions
from runbooks.local.consumers import SteadyProducer
from runbooks.local.load import Load
from stackspec.model import Color
from tests.integration.engine.harness import STACK, Stack, finish, poll, private_stack

pytestmark = pytest.mark.integration

API, FEED = "trading-api", "market-data"
GROUP = f"{API}+{FEED}"
_versions = itertools.count(1)
POLICY = {
    "steps": [{"weight": 25, "bakeSeconds": 3}, {"weight": 100, "bakeSeconds": 4}],
    "analysisIntervalSeconds": 2,
    "scaleDownDelaySeconds": 1,
    "thresholds": {"minRequests": 20, "p95LatencyFloorMs": 100, "p95LatencyIncreasePercent": 1000},
}


EVENTS_PER_SECOND = 100.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """This module's private local stack (the conftest's `load` and `clean_slate` use it)."""
    with private_stack("multi-it-", POLICY) as up:
        yield up


@pytest.fixture(autouse=True)
def events(stack: Stack) -> Iterator[SteadyProducer]:
    """A steady stream of order events for market-data, so its colors have records to judge."""
    local = stack.settings().local
    assert local is not None
    kafka = local.ports.kafka
    with SteadyProducer(f"127.0.0.1:{kafka}", EVENTS_PER_SECOND) as producing:
        yield producing


def both(version: str, *extra: str) -> tuple[str, ...]:
    """`rollout` of both services to `version`, trading-api first."""
    pair = ("--service", f"{API}={version}", "--service", f"{FEED}={version}")
    return ("rollout", "-s", STACK, *pair, *extra)


def colors(stack: Stack) -> dict[str, Color]:
    """Each service's active color, as the stack state records it."""
    settings = stack.settings()
    return {name: settings.service(name).active_color for name in (API, FEED)}


def newest(stack: Stack) -> Any:
    record = stack.journal().latest(STACK)
    assert record is not None
    return record


def on_old(stack: Stack, release_id: str, old: Mapping[str, Color]) -> None:
    """Both services' traffic, as last set and verified, and stack state on `old`."""
    journal = stack.journal()
    for name in (API, FEED):
        assert last_weights(journal, release_id, name) == vars(Weights.all_on(old[name]))
    assert stack.weights() == Weights.all_on(old[API])  # trading-api, live in HAProxy
    assert colors(stack) == old


def test_one_faulty_service_rolls_both_back(stack: Stack, load: Load) -> None:
    old = colors(stack)
    version = f"2.{next(_versions)}.0-faulty"

    done = stack.run(*both(version, "--fault", f"{API}:error-rate=0.3"))

    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    record = newest(stack)
    assert (record.service, record.version, record.outcome) == (GROUP, version, "rolled-back")
    on_old(stack, record.id, old)
    last = [e for e in stack.journal().events(record.id) if e.kind == "decision"][-1]
    states = [part["state"] for part in member_decisions(last.data)]
    assert [s["phase"] for s in states] == ["rolled-back", "rolled-back"]
    assert API in states[1]["reason"]  # market-data names the service that failed


def test_a_healthy_pair_is_promoted_together(stack: Stack, load: Load) -> None:
    old = colors(stack)
    version = f"2.{next(_versions)}.0-healthy"

    done = stack.run(*both(version))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = newest(stack)
    assert (record.service, record.outcome) == (GROUP, "promoted")
    assert colors(stack) == {name: color.other for name, color in old.items()}
    settings = stack.settings()
    assert all(settings.service(n).versions.of(old[n].other) == version for n in (API, FEED))


def test_killed_mid_release_then_rolled_back_by_one_member(stack: Stack, load: Load) -> None:
    old = colors(stack)
    proc = stack.start(*both(f"2.{next(_versions)}.0-killed"))
    try:
        release_id = poll(lambda: _moving(stack), 120, "both services taking traffic")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        finish(proc)

    done = stack.run("rollback", "-s", STACK, "--service", FEED, "--force", "--yes")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert stack.journal().release(release_id).outcome == "rolled-back"
    on_old(stack, release_id, old)


def _moving(stack: Stack) -> str | None:
    """The release's id once both members progress on a traffic step, their weights set."""
    record = stack.journal().current(STACK, API)
    if record is None:
        return None
    events = stack.journal().events(record.id)
    last = next((e for e in reversed(events) if e.kind == "decision"), None)
    if last is None:
        return None
    states = [part["state"] for part in member_decisions(last.data)]
    journal = stack.journal()
    weighted = all(last_weights(journal, record.id, name) for name in (API, FEED))
    moved = weighted and all(s["phase"] == "progressing" for s in states)
    return record.id if moved else None
