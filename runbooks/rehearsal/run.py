"""The rehearsal: the whole release story on the local stack, with real servers, in one call.

1. bring the local stack up (idempotent), put steady load on it through the edge, and place
   orders through HAProxy from a few writers (`runbooks.local.writes`);
2. release a healthy version carrying release steps (an expand migration, a cache key-version
   bump, an edge purge): the engine promotes it;
3. release a faulty version (20% 5xx once it gets traffic) carrying another migration: the
   engine detects it and rolls the whole release back — traffic first, then the migration
   reverted (its declared revert drops only what its expand added, so every order
   written meanwhile is kept), the cache key version and the edge;
4. release trading-api and market-data together, healthy: both promoted (trading-api's
   traffic and market-data's partitions move through the steps together);
5. release them together again with a faulty market-data (30% of its records fail, retried):
   the judge rolls both back, each service on its old color. After each of the two, every
   order event trading-api published for an order accepted during the release must have
   exactly one `fills` row (polled until the old color has caught up, with a deadline);
6. summarise (steps, verdicts, time to detect, time to restore, requests failed; per release
   the orders accepted vs still in the database and the writers' p99 latency during each
   migration and outside; for the two together, events produced vs rows written) and write
   the report (HTML timeline and the same data as JSON); tear the stack down unless `keep`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runbooks.core.state import Outcome, ReleaseState
from runbooks.engine import member_decisions
from runbooks.journal.base import Journal
from runbooks.local import stack as local_stack
from runbooks.local.endpoints import endpoints, state_dir_of
from runbooks.local.load import Hit, Load
from runbooks.local.writes import (
    ORDERS_PATH,
    Write,
    Writers,
    acknowledged,
    kept_orders,
    receipts,
)
from runbooks.rehearsal.events import await_fills
from runbooks.rehearsal.report import ms_text, write_report
from runbooks.rehearsal.timeline import (
    EventSummary,
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
CONSUMER = "market-data"
HEALTHY_STEPS = ("db-migration", "cache-bump", "edge-purge")
FAULTY_STEPS = ("cache-bump", "edge-purge", "db-migration")
FAULT = {"error_rate": 0.2}
CONSUMER_FAULT = {"error_rate": 0.3}  # of market-data's records: failed, retried, not lost
EVENTS_DEADLINE_SECONDS = 30.0  # for every event of a release to have its fill
EXPECTED = (
    Outcome.PROMOTED.value,
    Outcome.ROLLED_BACK.value,
    Outcome.PROMOTED.value,  # trading-api and market-data together, healthy
    Outcome.ROLLED_BACK.value,  # together, market-data faulty
)
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
    expected: tuple[str, ...] = (Outcome.PROMOTED.value, Outcome.ROLLED_BACK.value)

    @property
    def ok(self) -> bool:
        """Each release ended as expected (healthy ones promoted, faulty ones rolled back),
        no order the users were told was accepted is missing from the database, and every
        order event has exactly one fill row."""
        releases = self.timeline.releases
        outcomes = tuple(r.outcome for r in releases)
        lost = sum(r.writes.lost for r in releases if r.writes is not None)
        exact = all(r.events.exact for r in releases if r.events is not None)
        return outcomes == self.expected and lost == 0 and exact


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
        return _release_all(options, settings, say, on_turn)
    finally:
        if not options.keep:
            say("tearing the stack down (--keep leaves it up)")
            local_stack.down(state_dir_of(settings))


def _release_all(
    options: Options, settings: StackSettings, say: Callable[[str], None], on_turn: OnTurn | None
) -> Result:
    journal = open_journal(options.stack)
    # Rehearsal versions are the active version's root with a stamp: 1.0.0-r20261125101500a.
    stamp = time.strftime("%Y%m%d%H%M%S")

    def version(service: str, letter: str) -> str:
        return f"{settings.service(service).active_version.split('-r', 1)[0]}-r{stamp}{letter}"

    ends = endpoints(settings)
    start = time.time()
    load = Load(ends.edge_url + LOAD_PATH, options.rate).start()
    writers = Writers(ends.haproxy_url + ORDERS_PATH, options.write_rate, options.writers)
    writers.start()
    run = _Runner(options, journal, say, on_turn)
    try:
        run.one(
            Request(options.stack, SERVICE, version(SERVICE, "a"), HEALTHY_STEPS, migration="1.1.0")
        )
        run.one(
            Request(
                options.stack,
                SERVICE,
                version(SERVICE, "b"),
                FAULTY_STEPS,
                dict(FAULT),
                migration="1.2.0",
            )
        )
        for letter, faults in (("c", None), ("d", dict(CONSUMER_FAULT))):
            pair = (
                Request(options.stack, SERVICE, version(SERVICE, letter)),
                Request(options.stack, CONSUMER, version(CONSUMER, letter), faults=faults),
            )
            run.together(pair, writers, ends.postgres_dsn)
        time.sleep(SETTLE_SECONDS)  # traffic after the rollback, for the report's tail
    finally:
        hits, writes = load.stop(), writers.stop()
    releases = run.releases
    entries = [(r.release_id, r.requests, r.began) for r in releases]
    timeline = timeline_of(journal, start, hits, entries)
    timeline.releases = [
        replace(summary, active_before=r.before, active_after=r.after, events=r.events)
        for summary, r in zip(
            _with_writes(journal, timeline, writes, ends.postgres_dsn, entries),
            releases,
            strict=True,
        )
    ]
    _say_writes(timeline, say)
    _say_events(timeline, say)
    html, data = write_report(timeline, options.report_dir)
    return Result(timeline, html, data, EXPECTED)


@dataclass(frozen=True)
class Released:
    """One release of the rehearsal as it ran: its requests (several: released together),
    when it began and ended (epoch), each service's active color before and after, and for
    trading-api with market-data the events produced vs rows written."""

    release_id: str
    requests: tuple[Request, ...]
    began: float
    ended: float
    before: dict[str, str]
    after: dict[str, str]
    events: EventSummary | None = None


@dataclass
class _Runner:
    """Runs the rehearsal's releases one after the other and keeps what each did."""

    options: Options
    journal: Journal
    say: Callable[[str], None]
    on_turn: OnTurn | None
    releases: list[Released] = field(default_factory=list)

    def one(self, request: Request) -> Released:
        """Release one service."""
        kind = "faulty (20% 5xx)" if request.faults else "healthy"
        self.say(
            f"releasing {kind} {request.service} {request.version} with {', '.join(request.steps)}"
        )
        return self._run((request,))

    def together(self, requests: tuple[Request, ...], writers: Writers, dsn: str) -> Released:
        """Release `requests` as one release, then wait for every order event produced
        meanwhile to have its fill (or the deadline) and count them."""
        faulty = [r for r in requests if r.faults]
        kind = (
            f"with a faulty {', '.join(r.service for r in faulty)} (30% of records fail)"
            if faulty
            else "healthy"
        )
        names = " and ".join(f"{r.service} {r.version}" for r in requests)
        self.say(f"releasing {names} together, {kind}")
        released = self._run(requests)
        produced = acknowledged(w for w in writers.hits(released.began) if w.at < released.ended)
        events = await_fills(dsn, produced, EVENTS_DEADLINE_SECONDS)
        self.releases[-1] = released = replace(released, events=events)
        self.say(f"  {_events_line(events)}")
        return released

    def _run(self, requests: tuple[Request, ...]) -> Released:
        services = [r.service for r in requests]
        before = _active(self.options.stack, services)
        began = time.time()
        release_id, outcome = rollout(
            list(requests), Session.open(self.options.stack), self.journal, on_turn=self.on_turn
        )
        ended = time.time()
        after = _active(self.options.stack, services)
        self.say(f"  {requests[0].version}: {outcome.value} after {ended - began:.1f}s")
        released = Released(release_id, requests, began, ended, before, after)
        self.releases.append(released)
        return released


def _active(stack: str, services: Sequence[str]) -> dict[str, str]:
    """Each service's active color, as the stack state records it."""
    settings = current_settings(stack)
    return {name: settings.service(name).active_color.value for name in services}


def timeline_of(
    journal: Journal,
    start: float,
    hits: Sequence[Hit],
    releases: Sequence[tuple[str, Request | Sequence[Request], float]],
) -> Timeline:
    """The rehearsal's timeline from the load's hits and each release's journal events
    (`releases`: id, its request or requests released together, when it began). The
    weights drawn are trading-api's, the service the load reaches."""
    timeline = Timeline(start=start, points=traffic_points(hits, start))
    for index, (release_id, request, began) in enumerate(releases):
        ended = releases[index + 1][2] if index + 1 < len(releases) else float("inf")
        events = [_flat(e.at, e.kind, e.data) for e in journal.events(release_id)]
        timeline.weights += weight_changes(events, start, SERVICE)
        timeline.markers += markers(events, start, release_id)
        window = [h for h in hits if began <= h.at < ended]
        requests = [request] if isinstance(request, Request) else list(request)
        timeline.releases.append(_summary(journal, release_id, requests[0], events, window))
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
    verdicts = _verdicts(decisions[-1]) if decisions else []
    onset = first_fault(hits, request.version)
    decided, restored = rollback_times(events)
    return ReleaseSummary(
        release=release_id,
        service=record.service,
        version=request.version,
        outcome=record.outcome or "running",
        steps=[s.weight for s in final.plan.steps] if final else [],
        verdicts=verdicts,
        requests=len(hits),
        failed_requests=sum(1 for h in hits if h.failed),
        seconds=(record.finished_at or time.time()) - record.started_at,
        fault_onset=onset,
        detected_after_seconds=None if onset is None or decided is None else decided - onset,
        restored_after_seconds=None if onset is None or restored is None else restored - onset,
        faulty_responses=sum(1 for h in hits if h.version == request.version and h.failed),
    )


def _verdicts(decision: Mapping[str, Any]) -> list[str]:
    """The last window's verdicts of each member (named when several were released)."""
    parts = member_decisions(decision)
    found = []
    for part in parts:
        state = ReleaseState.from_dict(dict(part["state"]))
        if not state.history:
            continue
        last = [m for m in state.history if m.at == state.history[-1].at]
        named = f"{state.plan.service} " if len(parts) > 1 else ""
        found += [f"{named}{m.metric}: {m.phase.value}" for m in last]
    return found


def _with_writes(
    journal: Journal,
    timeline: Timeline,
    writes: Sequence[Write],
    dsn: str,
    releases: Sequence[tuple[str, Request | Sequence[Request], float]],
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


def _say_events(timeline: Timeline, say: Callable[[str], None]) -> None:
    """Events produced vs rows written, for the releases of trading-api with market-data."""
    together = [(r, r.events) for r in timeline.releases if r.events is not None]
    if not together:
        return
    say("order events trading-api published vs fills market-data wrote (exactly one each):")
    for r, events in together:
        say(f"  {r.service} {r.version} ({r.outcome}): {_events_line(events)}")


def _events_line(events: EventSummary) -> str:
    """One line for people: produced vs written, and what is wrong if anything."""
    if events.exact:
        verdict = f"none lost, none doubled; all written {events.caught_up_seconds}s after"
    else:
        verdict = (
            f"LOST {events.lost} (e.g. {events.lost_ids[:5]}), "
            f"DOUBLED {events.doubled} (e.g. {events.doubled_ids[:5]})"
        )
    colors = ", ".join(f"{c} {n}" for c, n in events.by_color.items()) or "none"
    return (
        f"events produced {events.produced}, rows written {events.written} (by {colors}): {verdict}"
    )


def _flat(at: float, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"at": at, "kind": kind, **dict(data)}
