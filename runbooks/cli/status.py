"""`runbook status` and `runbook history`: where releases of a stack stand, from the journal.

runbook status --stack local [--service trading-api] [--json]
runbook history --stack local [--service trading-api] [--limit 20] [--json]
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from runbooks.cli.app import app
from runbooks.cli.common import JsonOption, StackOption, emit_json, exits_cleanly, say
from runbooks.cli.view import latest_measurements, measurement_line, state_dict, step_summary
from runbooks.engine import last_weights, snapshot
from runbooks.journal.base import Journal, ReleaseRecord
from runbooks.journal.lock import holder_alive
from runbooks.session import current_settings, open_journal, require_service

OptionalService = Annotated[
    str | None, typer.Option("--service", help="One service (default: every service).")
]


@app.command("status")
def status(
    stack: StackOption, service: OptionalService = None, as_json: JsonOption = False
) -> None:
    """Show each service's release in progress (or its latest), with the lock holder."""
    with exits_cleanly():
        settings = current_settings(stack)
        journal = open_journal(stack)
        names = (
            [require_service(settings, service).name]
            if service
            else [s.name for s in settings.services]
        )
        holder = journal.lock_holder(stack)
        engine_alive = holder is not None and holder_alive(holder) is not False
        rows = [_service_status(journal, stack, name, engine_alive) for name in names]
    lock = None if holder is None else vars(holder)
    if as_json:
        emit_json({"stack": stack, "lock": lock, "services": rows})
        return
    say(
        f"stack {stack}: "
        + (
            "unlocked"
            if holder is None
            else f"locked by {holder.holder}@{holder.host} pid {holder.pid}"
        )
    )
    for row in rows:
        _print_row(row)


def _service_status(
    journal: Journal, stack: str, service: str, engine_alive: bool
) -> dict[str, Any]:
    record = journal.current(stack, service) or journal.latest(stack, service)
    if record is None:
        return {"service": service, "release": None}
    shot = snapshot(journal, record.id)
    now = time.time()
    return {
        "service": service,
        "release": record_dict(record),
        "state": state_dict(shot.state, now) if shot else None,
        "engine_alive": engine_alive,
        "weights": last_weights(journal, record.id),
        "pending_actions": [type(a).__name__ for a in shot.pending] if shot else [],
        "summary": step_summary(shot.state) if shot else "",
        "lines": [measurement_line(m) for m in latest_measurements(shot.state)] if shot else [],
    }


def record_dict(record: ReleaseRecord) -> dict[str, Any]:
    """A journal record for `--json`."""
    return {
        "id": record.id,
        "service": record.service,
        "version": record.version,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "outcome": record.outcome,
        "running": not record.finished,
    }


def _print_row(row: dict[str, Any]) -> None:
    release = row["release"]
    if release is None:
        say(f"  {row['service']}: no release yet")
        return
    state = row.get("state") or {}
    where = "running" if release["running"] else f"finished {release['outcome']}"
    say(
        f"  {row['service']} {release['version']} ({release['id']}): {where}, "
        f"phase {state.get('phase', '?')}, {row['summary']}"
    )
    weights = row.get("weights")
    if weights:
        say(f"    weights: blue {weights['blue']}% / green {weights['green']}%")
    bake_left = (state.get("step") or {}).get("seconds_to_bake_end")
    if release["running"] and bake_left is not None:
        say(f"    this step bakes for {bake_left:.0f}s more")
    if state.get("reason"):
        say(f"    reason: {state['reason']}")
    for line in row["lines"]:
        say("    " + line)
    if release["running"] and not row["engine_alive"]:
        pending = ", ".join(row["pending_actions"]) or "its next decision"
        say(
            f"    [red]no engine is running this release[/red]; interrupted before: {pending}. "
            "Run `runbook resume` or `runbook rollback` (with --force if the lock is stale)."
        )


@app.command("history")
def history(
    stack: StackOption,
    service: OptionalService = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """List the stack's releases, newest first."""
    with exits_cleanly():
        current_settings(stack)
        records = open_journal(stack).history(stack, service, limit)
    rows = [record_dict(r) for r in records]
    if as_json:
        emit_json({"stack": stack, "releases": rows})
        return
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started_at"]))
        say(
            f"{when}  {row['id']}  {row['service']:<14} {row['version']:<10} "
            f"{row['outcome'] or 'running'}"
        )
