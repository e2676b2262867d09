"""The rehearsal: the whole release story on the local stack, with real servers, in one call.

1. bring the local stack up (idempotent), put steady load on it through the edge, and place
   orders through HAProxy from a few writers (`runbooks.local.writes`);
2. release a healthy version carrying release steps (an expand migration, a cache key-version
   bump, an edge purge): the engine promotes it;
3. release a faulty version (20% 5xx once it gets traffic) carrying another migration: the
   engine detects it and rolls the whole release back — traffic first, then the migration
   reverted (its declared revert drops only what its expand added, so every order
   written meanwhile is kept), the cache key version and the edge;
4. summarise (steps, verdicts, time to detect, time to restore, requests failed; per release
   the orders accepted vs still in the database and the writers' p99 latency during each
   migration and outside) and write the report (HTML timeline and the same data as JSON);
   tear the stack down unless `keep`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runbooks.core.state import Outcome, ReleaseState
from runbooks.journal.base import Journal
from runbooks.local import stack as local_stack
from runbooks.local.endpoints import endpoints, state_dir_of
from runbooks.local.load import Hit, Load
from runbooks.local.writes import ORDERS_PATH, Write, Writers, kept_orders, receipts
from runbooks.rehearsal.report import ms_text, write_report
from runbooks.rehearsal.timeline import (
    ReleaseSummary,
    Timeline,
    first_fault,
    markers,
    rollback_times,
    step_windows,
    traffic_points,
    weight_changes,
    write_summary,
)
from runbooks.release import OnTurn, rollout
from runbooks.session import Request, Session, current_settings, open_journal
from stackspec.errors import DriverError
from stackspec.model import StackSettings

SERVICE = "trading-api"
HEALTHY_STEPS = ("db-migration", "cache-bump", "edge-purge")
FAULTY_STEPS = ("cache-bump", "edge-purge", "db-migration")
FAULT = {"error_rate": 0.2}
LOAD_PATH = "/orders"
SETTLE_SECONDS = 2.0
MIGRATION_STEP = "db-migration"


@dataclass(frozen=True)
class Options:
    """How to rehearse: the stack, the load, where the report goes, whether to keep it up."""

    stack: str = "local"
    rate: float = 200.0
    write_rate: float = 40.0  # orders per second, from `writers` threads through HAProxy
    writers: int = 4
    report_dir: Path = Path("reports")
    keep: bool = False


@dataclass(frozen=True)
class Result:
    """The rehearsal's outcome and where its report is."""

    timeline: Timeline
    html: Path
    json: Path

    @property
    def ok(self) -> bool:
        """The healthy version was promoted, the faulty one rolled back, and no order the
        users were told was accepted is missing from the database."""
        outcomes = [r.outcome for r in self.timeline.releases]
        lost = sum(r.writes.lost for r in self.timeline.releases if r.writes is not None)
        return outcomes == [Outcome.PROMOTED.value, Outcome.ROLLED_BACK.value] and lost == 0


def rehearse(options: Options, say: Callable[[str], None], on_turn: OnTurn | None = None) -> Result:
    """Run the rehearsal; the stack is torn down at the end unless `options.keep`."""
    settings = current_settings(options.stack)
    say(f"bringing the {options.stack} stack up (state in {state_dir_of(settings)})")
    status = local_stack.up(settings)
    if not status.healthy:
        sick = [p for p in status.parts if not p.healthy]
        raise DriverError(
            f"the {options.stack} stack is not healthy: "
            + ("; ".join(f"{p.name}: {p.problem} (log {p.log_path})" for p in sick) or "no parts"),
            hint=f"see `runbook local status --stack {options.stack}`",
        )
    try:
        return _release_twice(options, settings, say, on_turn)
    finally:
        if not options.keep:
            say("tearing the stack down (--keep leaves it up)")
            local_stack.down(state_dir_of(settings))


def _release_twice(
    options: Options, settings: StackSettings, say: Callable[[str], None], on_turn: OnTurn | None
) -> Result:
    journal = open_journal(options.stack)
    # Rehearsal versions are the active version's root with a stamp: 1.0.0-r20261125101500a.
    base = settings.service(SERVICE).active_version.split("-r", 1)[0]
    stamp = time.strftime("%Y%m%d%H%M%S")
    ends = endpoints(settings)
    start = time.time()
    load = Load(ends.edge_url + LOAD_PATH, options.rate).start()
    writers = Writers(ends.haproxy_url + ORDERS_PATH, options.write_rate, options.writers)
    writers.start()
    try:
        releases = [
            _release(
                options,
                journal,
                load,
                say,
                on_turn,
                Request(
                    options.stack, SERVICE, f"{base}-r{stamp}a", HEALTHY_STEPS, migration="1.1.0"
                ),
            ),
            _release(
                options,
                journal,
                load,
                say,
                on_turn,
                Request(
                    options.stack,
                    SERVICE,
                    f"{base}-r{stamp}b",
                    FAULTY_STEPS,
                    dict(FAULT),
                    migration="1.2.0",
                ),
            ),
        ]
        time.sleep(SETTLE_SECONDS)  # traffic after the rollback, for the report's tail
    finally:
        hits, writes = load.stop(), writers.stop()
    timeline = timeline_of(journal, start, hits, releases)
    timeline.releases = _with_writes(journal, timeline, writes, ends.postgres_dsn, releases)
    _say_writes(timeline, say)
    html, data = write_report(timeline, options.report_dir)
    return Result(timeline, html, data)


def _release(
    options: Options,
    journal: Journal,
    load: Load,
    say: Callable[[str], None],
    on_turn: OnTurn | None,
    request: Request,
) -> tuple[str, Request, float]:
    kind = "faulty (20% 5xx)" if request.faults else "healthy"
    say(f"releasing {kind} {request.service} {request.version} with {', '.join(request.steps)}")
    began = time.time()
    release_id, outcome = rollout(request, Session.open(options.stack), journal, on_turn=on_turn)
    say(f"  {request.version}: {outcome.value} after {time.time() - began:.1f}s")
    return release_id, request, began


def timeline_of(
    journal: Journal,
    start: float,
    hits: Sequence[Hit],
    releases: Sequence[tuple[str, Request, float]],
) -> Timeline:
    timeline = Timeline(start=start, points=traffic_points(hits, start))
    for index, (release_id, request, began) in enumerate(releases):
        ended = releases[index + 1][2] if index + 1 < len(releases) else float("inf")
        events = [_flat(e.at, e.kind, e.data) for e in journal.events(release_id)]
        timeline.weights += weight_changes(events, start)
        timeline.markers += markers(events, start, release_id)
        window = [h for h in hits if began <= h.at < ended]
        timeline.releases.append(_summary(journal, release_id, request, events, window))
    return timeline


def _summary(
    journal: Journal,
    release_id: str,
    request: Request,
    events: Sequence[Mapping[str, Any]],
    hits: Sequence[Hit],
) -> ReleaseSummary:
    record = journal.release(release_id)
    decisions = [e for e in events if e["kind"] == "decision"]
    final = ReleaseState.from_dict(dict(decisions[-1]["state"])) if decisions else None
    onset = first_fault(hits, request.version)
    decided, restored = rollback_times(events)
    return ReleaseSummary(
        release=release_id,
        version=request.version,
        outcome=record.outcome or "running",
        steps=[s.weight for s in final.plan.steps] if final else [],
        verdicts=[f"{m.metric}: {m.phase.value}" for m in (final.history[-3:] if final else ())],
        requests=len(hits),
        failed_requests=sum(1 for h in hits if h.failed),
        seconds=(record.finished_at or time.time()) - record.started_at,
        fault_onset=onset,
        detected_after_seconds=None if onset is None or decided is None else decided - onset,
        restored_after_seconds=None if onset is None or restored is None else restored - onset,
        faulty_responses=sum(1 for h in hits if h.version == request.version and h.failed),
    )


def _with_writes(
    journal: Journal,
    timeline: Timeline,
    writes: Sequence[Write],
    dsn: str,
    releases: Sequence[tuple[str, Request, float]],
) -> list[ReleaseSummary]:
    """Each release's summary with its orders: accepted vs kept (asked of PostgreSQL now,
    after every release and rollback is over) and the writers' p99 per migration window."""
    summaries = []
    for index, (release_id, _, began) in enumerate(releases):
        ended = releases[index + 1][2] if index + 1 < len(releases) else float("inf")
        mine = [w for w in writes if began <= w.at < ended]
        events = [_flat(e.at, e.kind, e.data) for e in journal.events(release_id)]
        windows = step_windows(events, MIGRATION_STEP)
        kept = kept_orders(dsn, receipts(mine))
        summary = timeline.releases[index]
        summaries.append(replace(summary, writes=write_summary(mine, windows, kept)))
    return summaries


def _say_writes(timeline: Timeline, say: Callable[[str], None]) -> None:
    """The orders part of the summary (the CLI prints the traffic part after it)."""
    say("orders placed through HAProxy during each release (accepted = told 201):")
    for r in timeline.releases:
        w = r.writes
        if w is None:
            continue
        verdict = "all kept" if w.lost == 0 else f"LOST {w.lost} (e.g. ids {w.lost_ids[:5]})"
        say(f"  {r.version}: orders accepted {w.accepted}, kept {w.kept} ({verdict})")
        say(
            f"    writers' p99: {ms_text(w.p99_apply_ms)} during the migration "
            f"({w.writes_apply} orders), {ms_text(w.p99_revert_ms)} during its revert "
            f"({w.writes_revert}), {ms_text(w.p99_outside_ms)} outside migrations "
            f"({w.writes_outside})"
        )


def _flat(at: float, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"at": at, "kind": kind, **dict(data)}
