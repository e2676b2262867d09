"""`runbook status` and `runbook history`: where releases of a stack stand.

runbook status -s local [--service trading-api] [--watch] [--output text|json]
runbook history -s local [--service trading-api] [--limit 20] [--output text|json]

`status` draws each service's release in progress (or its latest) as a tree, like
`kubectl argo rollouts get rollout`: the release, its strategy and phase, the steps with
their marks, the current step's analysis windows and each check's verdict, the revisions
(version on each color, which is active) and its age. The weights are the router's LIVE
ones, read back from it; when they differ from what the journal last verified (an engine
killed inside a weight change), it says so. JSON carries no markup, times in ISO 8601 UTC.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbooks.cli.app import app
from runbooks.cli.common import JsonOption, StackOption, emit_json, exits_cleanly, one_line, say
from runbooks.cli.public import MARKS, Output, iso, output_of, verdict_name
from runbooks.journal.base import Journal, LockHolder, ReleaseRecord
from runbooks.journal.lock import holder_alive
from runbooks.report.facts import (
    ReleaseFacts,
    Window,
    read_facts,
)
from stackspec.errors import BadInput, RunbookError


def escape(text: str) -> str:
    """rich.markup.escape, imported once a tree is drawn: a refusal never pays for rich."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


if TYPE_CHECKING:  # the session (settings model, backends' registries): once a verb runs
    from runbooks.routers.base import TrafficRouter
    from stackspec.model import StackSettings

OptionalService = Annotated[
    str | None, typer.Option("--service", help="One service (default: every service).")
]


OutputOption = Annotated[
    Output | None,
    typer.Option("--output", "-o", help="text (a tree for people) or json (for tools); not jsonl."),
]
WatchOption = Annotated[
    bool,
    typer.Option(
        "--watch", "-w", help="Redraw until the release ends (a line per change when piped)."
    ),
]
WATCH_SECONDS = 1.0
LIVE_READ_SECONDS = 2.0
WINDOWS_SHOWN = 5
# The step a rollback gave up is `failed` in the document and marked as every view marks it.
STEP_MARKS = {**MARKS, "failed": MARKS["abandoned"]}
VERDICT_MARKS = {"successful": "✔", "failed": "✖", "error": "⚠", "inconclusive": "?"}
VERDICT_STYLE = {"successful": "green", "failed": "red", "error": "red", "inconclusive": "yellow"}
ROLLED_BACK_PHASES = ("rolling-back", "rolled-back", "aborted")
PHASE_STYLE = {"promoted": "green", "rolled-back": "red", "aborted": "red", "paused": "yellow"}


def chosen(output: Output | None, as_json: bool) -> Output:
    """`--output` (text or json: status and history are no stream), with `--json` as an
    alias of `--output json`; BadInput for jsonl or a contradiction."""
    if output is Output.JSONL:
        raise BadInput("--output jsonl is for verbs that run a release", hint="text or json")
    return output_of(output, as_json)


def refuse_missing_stack(stack: str) -> None:
    """StackFileError (exit 2, naming the stack files there are) for a stack without a
    file, read as YAML before the session and its settings model are imported."""
    from stackspec.stackfile import read_config, stack_path

    read_config(stack_path(stack))


# -- status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveWeights:
    """What the router says each service's split is, or why it could not be read."""

    weights: Mapping[str, Mapping[str, int]]
    error: str | None = None


@app.command("status")
def status(
    stack: StackOption,
    service: OptionalService = None,
    watch: WatchOption = False,
    output: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show each service's release in progress (or its latest) as a tree, with live weights."""
    with exits_cleanly():
        mode = chosen(output, as_json)
        refuse_missing_stack(stack)
        from runbooks.session import current_settings, open_journal, require_service

        settings = current_settings(stack)
        names = (
            [require_service(settings, service).name]
            if service
            else [s.name for s in settings.services]
        )
        journal = open_journal(stack)

    def read() -> dict[str, Any]:
        return status_document(stack, settings, journal, names)

    if watch:
        with exits_cleanly():
            watch_status(read, mode)
        return
    with exits_cleanly():
        document = read()
    if mode is Output.JSON:
        emit_json(document)
    else:
        for line in status_lines(document):
            say(line)


def status_document(
    stack: str, settings: StackSettings, journal: Journal, names: Sequence[str]
) -> dict[str, Any]:
    """Everything `status` shows, as JSON-ready data (no markup, ISO times)."""
    holder = journal.lock_holder(stack)
    engine_alive = holder is not None and holder_alive(holder) is not False
    now = time.time()
    facts = {name: _facts(journal, stack, name) for name in names}
    running = [n for n, f in facts.items() if f is not None and not f.record.finished]
    live = live_weights(stack, running or [n for n, f in facts.items() if f is not None])
    rows = [service_row(name, facts[name], settings, live, engine_alive, now) for name in names]
    return {"stack": stack, "at": iso(now), "lock": _lock(holder), "services": rows}


RECENT = 50


def _facts(journal: Journal, stack: str, service: str) -> ReleaseFacts | None:
    """The service's release in progress, else its latest (alone or with other services)."""
    recent = [r for r in journal.history(stack, None, RECENT) if involves(r, service)]
    record = next((r for r in recent if not r.finished), None) or next(iter(recent), None)
    if record is None:
        return None
    return read_facts(record, journal.events(record.id), service)


def involves(record: ReleaseRecord, service: str) -> bool:
    """Whether `service` is (one of) the release's service(s): a release of several is
    recorded as `a+b`, with its members also in its plan."""
    members = record.plan.get("members") or ()
    named = {m if isinstance(m, str) else m.get("service") for m in members}
    return service == record.service or service in record.service.split("+") or service in named


def _lock(holder: LockHolder | None) -> dict[str, Any] | None:
    if holder is None:
        return None
    return {
        "holder": holder.holder,
        "host": holder.host,
        "pid": holder.pid,
        "since": iso(holder.since),
    }


def live_weights(stack: str, services: Sequence[str]) -> LiveWeights:
    """Each service's split as its router reports it, read once; never raises.

    The router is built here (its backend imported only when there is a release to show);
    reading it waits at most LIVE_READ_SECONDS, as a router retries an unreachable API for
    many seconds and status must answer (the read runs in a daemon thread left behind).
    """
    if not services:
        return LiveWeights({})
    try:
        from runbooks.session import Session

        router = Session.open(stack).backends(()).router
    except Exception as err:  # any failure only makes the live weights unknown
        return LiveWeights({}, _why(err))
    found: list[LiveWeights] = []
    reader = threading.Thread(target=lambda: found.append(_read(router, services)), daemon=True)
    with _quiet_routers():
        reader.start()
        reader.join(LIVE_READ_SECONDS)
    if found:
        return found[0]
    return LiveWeights({}, f"the router did not answer within {LIVE_READ_SECONDS:g} s")


def _read(router: TrafficRouter, services: Sequence[str]) -> LiveWeights:
    found: dict[str, dict[str, int]] = {}
    errors: list[str] = []
    for service in services:
        try:
            w = router.get_weights(service)
        except Exception as err:  # a failure only makes this service's live weights unknown
            errors.append(_why(err))
            continue
        found[service] = {"blue": w.blue, "green": w.green}
    return LiveWeights(found, errors[0] if errors else None)


def _why(err: Exception) -> str:
    message = str(err) if isinstance(err, RunbookError) else one_line(err)
    return message.splitlines()[0] if message else type(err).__name__


@contextmanager
def _quiet_routers() -> Iterator[None]:
    """The routers' retry warnings are not status output: status says the outcome once."""
    routers = logging.getLogger("runbooks.routers")
    before = routers.disabled
    routers.disabled = True
    try:
        yield
    finally:
        routers.disabled = before


def service_row(
    service: str,
    facts: ReleaseFacts | None,
    settings: StackSettings,
    live: LiveWeights,
    engine_alive: bool,
    now: float,
) -> dict[str, Any]:
    """One service's part of the status document."""
    if facts is None:
        return {"service": service, "release": None}
    journal_weights = facts.last_weights
    journaled = (
        None
        if journal_weights is None
        else {"blue": journal_weights.blue, "green": journal_weights.green}
    )
    shown = live.weights.get(service)
    row: dict[str, Any] = {
        "service": service,
        "release": release_dict(facts, now),
        "state": _state(facts, now),
        "engine_alive": engine_alive,
        "weights": shown if shown is not None else journaled,
        "weights_source": "router" if shown is not None else "journal",
        "journal_weights": journaled,
        "live_weights_error": None if shown is not None else live.error,
        "weights_mismatch": _mismatch(facts, shown, journaled),
        "steps": [
            {"name": s.name, "weight": s.weight, "bake_seconds": s.bake_seconds, "mark": s.mark}
            for s in facts.steps
        ],
        "windows": [window_dict(w) for w in facts.current_windows],
        "revisions": _revisions(facts, settings, service, shown or journaled),
        "interrupted": list(facts.interrupted),
    }
    return row


def release_dict(facts: ReleaseFacts, now: float | None = None) -> dict[str, Any]:
    """A release's identity and outcome, for status and history (ISO times)."""
    record = facts.record
    old, new = facts.versions
    end = record.finished_at if record.finished_at is not None else now
    return {
        "id": record.id,
        "service": record.service,
        "services": list(facts.members),
        "members": [
            {"service": svc, "from_version": old, "to_version": new}
            for svc, old, new in facts.member_versions
        ],
        "version": record.version,
        "from_version": old,
        "to_version": new,
        "strategy": facts.plan.get("strategy"),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "duration_seconds": None if end is None else round(end - record.started_at, 1),
        "outcome": record.outcome,
        "running": not record.finished,
        "started_by": facts.started_by,
        "reverts": facts.reverts,
        "reason": facts.reason or None,
    }


def _state(facts: ReleaseFacts, now: float) -> dict[str, Any]:
    state = facts.state or {}
    plan = facts.plan
    steps = plan.get("steps") or [{}]
    index = int(state.get("step_index", 0))
    step = steps[min(index, len(steps) - 1)]
    started = state.get("step_started_at")
    bake_end = None if started is None else started + float(step.get("bake_seconds", 0))
    running = not facts.record.finished
    return {
        "phase": facts.phase,
        "step": {
            "index": index,
            "number": index + 1,
            "of": len(steps),
            "name": step.get("name"),
            "weight": step.get("weight"),
            "started_at": iso(started),
            "seconds_to_bake_end": (
                max(0.0, round(bake_end - now, 1)) if running and bake_end is not None else None
            ),
        },
        "old_color": plan.get("old_color"),
        "new_color": plan.get("new_color"),
        "reason": facts.reason or None,
    }


def window_dict(window: Window) -> dict[str, Any]:
    """One analysis window for JSON."""
    return {
        "at": iso(window.at),
        "step": window.step + 1,
        "verdict": verdict_name(window.verdict),
        "checks": [
            {
                "name": c.name,
                "verdict": verdict_name(c.verdict),
                "value": c.value,
                "baseline": c.baseline,
                "threshold": c.threshold,
                "message": c.message,
            }
            for c in window.checks
        ],
    }


def _mismatch(
    facts: ReleaseFacts, live: Mapping[str, int] | None, journaled: Mapping[str, int] | None
) -> str | None:
    """Why the live split is not the one the journal last verified, or None when it is."""
    if live is None or live == journaled:
        return None
    said = "none verified yet" if journaled is None else _split(journaled)
    if facts.record.finished:
        return f"the router sends {_split(live)} but the release ended with {said}"
    halfway = facts.halfway
    cause = (
        f": the engine stopped inside a change to {_split(halfway)}" if halfway is not None else ""
    )
    return f"the router sends {_split(live)} but the journal's last verified split is {said}{cause}"


def _split(weights: Mapping[str, int]) -> str:
    return f"blue {weights['blue']}% / green {weights['green']}%"


def _revisions(
    facts: ReleaseFacts,
    settings: StackSettings,
    service: str,
    weights: Mapping[str, int] | None,
) -> list[dict[str, Any]]:
    """Each color's version, role in the release and weight; `active` per the stack state."""
    plan = facts.plan
    svc = settings.service(service) if service in {s.name for s in settings.services} else None
    versions = {
        plan.get("old_color"): plan.get("old_version"),
        plan.get("new_color"): plan.get("version"),
    }
    if facts.record.finished and svc is not None:
        versions = {"blue": svc.versions.blue, "green": svc.versions.green}
    active = svc.active_color.value if svc is not None else plan.get("old_color")
    roles = {plan.get("old_color"): "stable", plan.get("new_color"): "canary"}
    return [
        {
            "color": color,
            "version": versions.get(color),
            "role": roles.get(color),
            "active": color == active,
            "weight": None if weights is None else weights.get(color),
        }
        for color in ("blue", "green")
    ]


# -- status as text ----------------------------------------------------------------------


def status_lines(document: Mapping[str, Any]) -> list[str]:
    """The status tree for people (rich markup)."""
    lock = document["lock"]
    where = (
        "unlocked"
        if lock is None
        else f"locked by {lock['holder']}@{lock['host']} pid {lock['pid']} since {lock['since']}"
    )
    lines = [f"stack {document['stack']}: {where}"]
    for row in document["services"]:
        lines.extend(service_lines(row, document["stack"]))
    return lines


def service_lines(row: Mapping[str, Any], stack: str = "STACK") -> list[str]:
    """One service's tree; the commands it names carry `-s stack --service NAME`."""
    release = row["release"]
    if release is None:
        return [f"{row['service']}: no release yet"]
    state = row["state"]
    phase = state["phase"]
    style = PHASE_STYLE.get(phase, "cyan")
    step = state["step"]
    took = duration_text(release["duration_seconds"])
    lines = [
        f"{row['service']}  release {release['id']}" + _together(row["service"], release),
        f"  strategy   {release['strategy']}",
        f"  status     [{style}]{phase}[/{style}]"
        + ("" if release["running"] else f" (finished {release['outcome']})"),
        f"  step       {step_text(state)}",
        f"  versions   {release['from_version']} → {release['to_version']}"
        + (f" (rollback of promoted release {release['reverts']})" if release["reverts"] else ""),
        f"  started    {release['started_at']} by {release['started_by'] or 'unknown'}"
        f" ({'age' if release['running'] else 'took'} {took})",
    ]
    lines.extend(_weight_lines(row))
    if release["running"] and step["seconds_to_bake_end"] is not None and row["engine_alive"]:
        lines.append(f"  bake       {step['seconds_to_bake_end']:.0f}s left in this step")
    if state["reason"]:
        lines.append(f"  reason     {escape(state['reason'])}")
    lines.append("  steps")
    lines.extend(_step_lines(row))
    lines.append("  revisions")
    revisions = row["revisions"]
    for i, rev in enumerate(revisions):
        branch = "└──" if i == len(revisions) - 1 else "├──"
        tags = ", ".join(t for t in (rev["role"], "active" if rev["active"] else "") if t)
        weight = "" if rev["weight"] is None else f"  weight {rev['weight']}%"
        lines.append(f"  {branch} {rev['color']:<5} {rev['version'] or '?':<12} {tags}{weight}")
    if release["running"] and not row["engine_alive"]:
        pending = escape("; ".join(row["interrupted"]) or "its next decision")
        target = f"-s {stack} --service {row['service']}"
        lines.append(
            f"  [red]no engine is running this release[/red]; interrupted before: {pending}. "
            f"Run `runbook resume {target}` or `runbook rollback {target}` (with --force if "
            "the lock is stale)."
        )
    return lines


def _weight_lines(row: Mapping[str, Any]) -> list[str]:
    weights = row["weights"]
    if weights is None:
        told = escape(row["live_weights_error"] or "no weights set yet")
        return [f"  weights    unknown ({told})"]
    source = "live, from the router" if row["weights_source"] == "router" else "from the journal"
    lines = [f"  weights    {_split(weights)} ({source})"]
    if row["weights_source"] == "journal" and row["live_weights_error"]:
        lines.append(
            f"             the router could not be read: {escape(row['live_weights_error'])}"
        )
    if row["weights_mismatch"]:
        lines.append(f"  [red]mismatch[/red]   {escape(row['weights_mismatch'])}")
    return lines


def step_text(state: Mapping[str, Any]) -> str:
    """`2/3 canary-50 (50% to green)`; once rolling back, where the release came from and
    where all traffic is (never a step's weights beside a rollback's). The wording of
    runbooks.cli.view.step_summary, from the status document's plain fields."""
    step, phase = state["step"], state["phase"]
    where = f"{step['number']}/{step['of']} {step['name']}"
    if phase in ROLLED_BACK_PHASES:
        return f"{phase} from {where}; all traffic to {state['old_color']}"
    if phase in ("promoting", "promoted"):
        return f"{phase}: all traffic to {state['new_color']}"
    return f"{where} ({step['weight']}% to {state['new_color']})"


def _step_lines(row: Mapping[str, Any]) -> list[str]:
    lines = []
    steps = row["steps"]
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        branch, stem = ("└──", "   ") if last else ("├──", "│  ")
        mark = STEP_MARKS.get(step["mark"], " ")
        lines.append(
            f"  {branch}{mark} {step['name']:<16} {step['weight']:>3}%"
            f"  bake {step['bake_seconds']:g}s  {step['mark']}"
        )
        if step["mark"] in ("current", "failed"):
            lines.extend(f"  {stem}   {w}" for w in _window_lines(row["windows"]))
    return lines


def _window_lines(windows: Sequence[Mapping[str, Any]]) -> list[str]:
    shown = windows[-WINDOWS_SHOWN:]
    lines = [f"({len(windows) - len(shown)} earlier windows)"] if len(windows) > len(shown) else []
    for window in shown:
        style = VERDICT_STYLE.get(window["verdict"], "white")
        lines.append(f"window {window['at']}  [{style}]{window['verdict']}[/{style}]")
        for check in window["checks"]:
            mark = VERDICT_MARKS.get(check["verdict"], " ")
            lines.append(
                f"  {mark} {check['name']:<13} {check['verdict']:<12} {escape(check['message'])}"
            )
    return lines


def duration_text(seconds: float | None) -> str:
    """`0.4s`, `12s`, `4m 05s`, `2h 03m`; `-` without a duration."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# -- status --watch ----------------------------------------------------------------------


def watch_status(read: Callable[[], dict[str, Any]], mode: Output) -> None:
    """Redraw the status until no shown release is running: a rich Live view on a TTY, else
    (piped, or JSON) a line or a document each time something changed."""
    if mode is Output.TEXT and sys.stdout.isatty():
        _watch_live(read)
        return
    last: tuple[Any, ...] | None = None
    while True:
        document = read()
        key = change_key(document)
        if key != last:
            last = key
            if mode is Output.JSON:
                emit_json(document)
            else:
                for line in change_lines(document):
                    say(line)
        if not any_running(document):
            return
        time.sleep(WATCH_SECONDS)  # polling the journal: nothing to wait on


def _watch_live(read: Callable[[], dict[str, Any]]) -> None:
    from rich.live import Live
    from rich.text import Text

    from runbooks.cli.common import console

    def draw(document: Mapping[str, Any]) -> Text:
        return Text.from_markup("\n".join(status_lines(document)))

    document = read()
    with Live(draw(document), console=console, auto_refresh=False) as live:
        while any_running(document):
            time.sleep(WATCH_SECONDS)  # polling the journal: nothing to wait on
            document = read()
            live.update(draw(document), refresh=True)


def any_running(document: Mapping[str, Any]) -> bool:
    """Whether a shown release is still running with an engine driving it: one whose
    engine died changes no more until someone resumes it, so a watch ends there."""
    return any(
        (r["release"] or {}).get("running") and r.get("engine_alive") for r in document["services"]
    )


def change_key(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a change line reports; a line is printed only when this changes."""
    return tuple(
        (
            r["service"],
            (r["release"] or {}).get("id"),
            (r.get("state") or {}).get("phase"),
            ((r.get("state") or {}).get("step") or {}).get("index"),
            str(r.get("weights")),
            len(r.get("windows") or ()),
            r.get("weights_mismatch"),
            (r["release"] or {}).get("outcome"),
            r.get("engine_alive"),
        )
        for r in document["services"]
    )


def change_lines(document: Mapping[str, Any]) -> list[str]:
    """One line per service: time, phase, step, weights and the latest window's verdict."""
    lines = []
    for row in document["services"]:
        release = row["release"]
        if release is None:
            lines.append(f"{document['at']} {row['service']}: no release yet")
            continue
        state, step = row["state"], row["state"]["step"]
        weights = "weights unknown" if row["weights"] is None else _split(row["weights"])
        windows = row["windows"]
        verdict = f", last window {windows[-1]['verdict']}" if windows else ""
        ended = "" if release["running"] else f", finished {release['outcome']}"
        if release["running"] and not row.get("engine_alive"):
            target = f"-s {document['stack']} --service {row['service']}"
            ended = f", interrupted (no engine): `runbook resume {target}`"
        lines.append(
            f"{document['at']} {row['service']} {release['id']}: {state['phase']}, "
            f"step {step['number']}/{step['of']} {step['name']}, {weights}{verdict}{ended}"
        )
        if row["weights_mismatch"]:
            lines.append(f"    mismatch: {row['weights_mismatch']}")
    return lines


# -- history -----------------------------------------------------------------------------

REASON_SHOWN = 60


@app.command("history")
def history(
    stack: StackOption,
    service: OptionalService = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    output: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the stack's releases, newest first: versions, duration, outcome, reason, who."""
    with exits_cleanly():
        mode = chosen(output, as_json)
        refuse_missing_stack(stack)
        from runbooks.session import current_settings, open_journal, require_service

        settings = current_settings(stack)
        if service:
            require_service(settings, service)
        journal = open_journal(stack)
        wide = journal.history(stack, None, limit if service is None else 1000)
        records = [r for r in wide if service is None or involves(r, service)][:limit]
        rows = history_rows(journal, records)
    if mode is Output.JSON:
        emit_json({"stack": stack, "releases": rows})
        return
    for line in history_lines(rows):
        say(line)


def history_rows(journal: Journal, records: Sequence[ReleaseRecord]) -> list[dict[str, Any]]:
    """Each release as a history row; a promoted release later rolled back says by which."""
    now = time.time()
    rows = [release_dict(read_facts(r, journal.events(r.id)), now) for r in records]
    reverted_by = {row["reverts"]: row["id"] for row in rows if row["reverts"]}
    for row in rows:
        row["reverted_by"] = reverted_by.get(row["id"])
    return rows


def history_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The history table for people: one line per release, columns padded, never wrapped."""
    table = [HISTORY_COLUMNS, *(_history_cells(row) for row in rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(HISTORY_COLUMNS))]
    return [
        escape(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        ).rstrip()
        for cells in table
    ]


HISTORY_COLUMNS = ("id", "service", "versions", "started", "duration", "outcome", "reason", "by")


def _history_cells(row: Mapping[str, Any]) -> tuple[str, ...]:
    outcome = row["outcome"] or "running"
    if row["reverted_by"]:
        outcome += f", rolled back by {row['reverted_by']}"
    reason = row["reason"] or ""
    if row["reverts"] and not reason:
        reason = f"rollback of promoted release {row['reverts']}"
    reason = " ".join(reason.split())
    if len(reason) > REASON_SHOWN:
        reason = reason[: REASON_SHOWN - 1] + "…"
    return (
        row["id"],
        row["service"],
        _versions_text(row),
        row["started_at"],
        duration_text(row["duration_seconds"]),
        outcome,
        reason or "-",
        row["started_by"] or "-",
    )


def _versions_text(row: Mapping[str, Any]) -> str:
    """`1.0.0 → 1.1.0`, or each member's for a release of several services."""
    members = row.get("members") or []
    if len(members) < 2:
        return f"{row['from_version']} → {row['to_version']}"
    return "; ".join(f"{m['service']} {m['from_version']} → {m['to_version']}" for m in members)


def _together(service: str, release: Mapping[str, Any]) -> str:
    others = [s for s in release.get("services") or () if s != service]
    return f" (one release with {', '.join(others)})" if others else ""
