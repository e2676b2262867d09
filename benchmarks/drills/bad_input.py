"""Drill 7 (issue item 7): the bad-input corpus against the drill stack, with figures.

Every case of `benchmarks.drills.corpus` (stack files, CLI arguments, migration folders,
evidence records, provider and router responses) is fed once; the CLI cases run the
installed `runbook` against the drill stack. Around each case the stack is read (`_snapshot`:
its lock, every service's newest release, events, intents, colors and HAProxy weights, the
cache key version, the migration state): a refused input must change none of them.
Figures: cases refused as expected with a message naming what and where / all cases
(target all, at least 60); the slowest answer (target <= 1 s); cases that changed the
stack (target 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.drills.harness import DrillStack
from benchmarks.drills.result import Measure, at_most
from benchmarks.stack import STACK
from runbooks.routers.haproxy import HaproxyRouter
from runbooks.session import current_settings
from stackspec.errors import RouterError

MIN_CASES = 60
MAX_SECONDS = 1.0
SHORT_CLI_CASES = 6


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """Every case, each with the stack read before and after."""
    from benchmarks.drills import corpus  # H6's corpus (issue 14 item 7)

    stack.settle()

    def invoke(args: Sequence[str]) -> tuple[int, str]:
        done = stack.run(*args, timeout=60)
        return done.returncode, done.stdout + done.stderr

    results, changed = [], []
    for case in _chosen(corpus.cases(), short):
        before = _snapshot(stack)
        results.append(corpus.run(case, invoke))
        if _snapshot(stack) != before:
            changed.append(case.id)
    good = sum(1 for r in results if r.ok)
    slowest = max(results, key=lambda r: r.seconds, default=None)
    figures = {
        "refused_with_a_clear_message": Measure(
            good,
            "cases",
            f"{len(results)}/{len(results)}, >= {MIN_CASES}",
            good == len(results) >= (0 if short else MIN_CASES),
        ),
        "slowest_answer_seconds": at_most(
            round(slowest.seconds, 2) if slowest else 0.0, MAX_SECONDS, "s"
        ),
        "cases_that_changed_the_stack": at_most(len(changed), 0, "cases"),
    }
    details = {
        "cases": len(results),
        "by_area": _by_area(results),
        "not_ok": [
            {"case": r.case.id, "outcome": r.outcome, "message": r.message[:200]}
            for r in results
            if not r.ok
        ][:20],
        "slowest": slowest.case.id if slowest else None,
        "over_a_second": sorted(r.case.id for r in results if r.seconds > MAX_SECONDS),
        "changed_the_stack": changed,
    }
    return figures, details


def _chosen(cases: Sequence[Any], short: bool) -> list[Any]:
    """Every case; the short form keeps SHORT_CLI_CASES of the CLI's (each one a process)
    and every other (in-process, milliseconds each)."""
    if not short:
        return list(cases)
    cli = [c for c in cases if c.area == "cli"][:SHORT_CLI_CASES]
    return [c for c in cases if c.area != "cli"] + cli


def _snapshot(stack: DrillStack) -> tuple[Any, ...]:
    """What a refused input must not change: the stack's lock, every service's newest
    release with its event count and pending intents, every service's colors and versions,
    HAProxy's real weights of every HTTP service, the cache key version and the database's
    migration state. A read that fails gives a value equal to nothing, so the case counts as
    one that changed the stack rather than passing unseen."""
    journal = stack.journal()
    settings = current_settings(STACK)
    releases = []
    for service in settings.services:
        latest = journal.latest(STACK, service.name)
        pending = len(journal.pending_intents(latest.id)) if latest else 0
        events = len(journal.events(latest.id)) if latest else 0
        releases.append((service.name, latest.id if latest else None, events, pending))
    states = [
        (s.name, s.active_color, s.versions.blue, s.versions.green) for s in settings.services
    ]
    return (
        journal.lock_holder(STACK),
        tuple(releases),
        tuple(states),
        tuple(_live(stack, s.name) for s in settings.services if s.kind == "http"),
        stack.cache_version(),
        stack.migrated(),
    )


def _live(stack: DrillStack, service: str) -> object:
    """HAProxy's real weights of `service`, or a fresh object (unequal to any) if unread."""
    try:
        return HaproxyRouter(stack.proxy.real, retry_budget_seconds=0).get_weights(service)
    except RouterError:
        return object()


def _by_area(results: Sequence[Any]) -> dict[str, str]:
    areas: dict[str, list[bool]] = {}
    for r in results:
        areas.setdefault(r.case.area, []).append(r.ok)
    return {area: f"{sum(oks)}/{len(oks)}" for area, oks in areas.items()}
