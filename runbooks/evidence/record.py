"""The evidence of one promoted release, read from its stack's journal.

The body (what the digest and the signature cover) holds: the stack's identity, the
service and version, the release (id, times, outcome, when it was promoted), its plan,
every analysis window with its values and verdict, the bake and soak times, the release
steps applied (a migration's backup id among their data), who started the release and who
exported the evidence. `body_facts` names the parts a re-verification compares with the
journal again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.journal.base import Event, Journal, ReleaseRecord
from stackspec.errors import BadInput

SCHEMA = "runbook.evidence/1"
ORIGIN = "release.origin"  # journaled by `runbook rollout`: who or what started the release
PROMOTED = "promoted"
PROMOTED_PHASES = ("promoting", "promoted")
STEP_ACTIONS = {"ApplyReleaseStep": "apply", "ContractReleaseStep": "contract"}
HISTORY_LIMIT = 10_000
# The parts of a body that come from the journal and must still match it.
FACTS = ("service", "version", "release", "plan", "windows", "steps", "bake", "releaseSteps")


def promoted_release(journal: Journal, stack: str, service: str, version: str) -> ReleaseRecord:
    """The newest release of `service` at `version` that was promoted; BadInput if none."""
    releases = journal.history(stack, service, limit=HISTORY_LIMIT)
    together = None
    for record in releases:
        if record.version == version and record.outcome == PROMOTED:
            if not record.plan.get("members"):
                return record
            together = together or record
    if together is not None:
        raise BadInput(
            f"{service} {version} was promoted together with other services in release "
            f"{together.id} ({together.service}); evidence is exported for releases of one "
            "service",
            hint="promote a multi-service release by releasing each service on its own",
        )
    seen = sorted({f"{r.version} ({r.outcome or 'running'})" for r in releases})
    raise BadInput(
        f"no promoted release of {service} {version} in the journal of stack '{stack}'",
        hint="evidence is exported after a release is promoted; releases there: "
        + (", ".join(seen) if seen else "none"),
    )


def release_facts(record: ReleaseRecord, events: Sequence[Event]) -> dict[str, Any]:
    """What the journal says about a finished release, in the body's terms."""
    decisions = [e for e in events if e.kind == "decision"]
    states = [dict(e.data["state"]) for e in decisions]
    plan = states[0]["plan"] if states else dict(record.plan.get("state", {})).get("plan")
    promoted_at = next(
        (e.at for e, s in zip(decisions, states, strict=True) if s["phase"] in PROMOTED_PHASES),
        record.finished_at,
    )
    first_step = next((s["step_started_at"] for s in states if s.get("step_started_at")), None)
    return {
        "service": record.service,
        "version": record.version,
        "release": {
            "id": record.id,
            "startedAt": record.started_at,
            "finishedAt": record.finished_at,
            "outcome": record.outcome,
            "promotedAt": promoted_at,
            "reason": states[-1].get("reason", "") if states else "",
        },
        "plan": plan,
        "windows": windows(states),
        "steps": traffic_steps(plan, states),
        "bake": {
            "plannedSeconds": sum(float(s["bake_seconds"]) for s in (plan or {}).get("steps", [])),
            "observedSeconds": _elapsed(first_step, promoted_at),
        },
        "releaseSteps": release_steps(events),
    }


def build_body(
    stack: Mapping[str, Any],
    facts: Mapping[str, Any],
    started_by: Mapping[str, Any] | None,
    exported_by: Mapping[str, Any],
    now: float | None = None,
) -> dict[str, Any]:
    """The evidence body: the stack's identity, the release's facts, soak and who acted."""
    at = time.time() if now is None else now
    promoted_at = facts["release"]["promotedAt"]
    return {
        "schema": SCHEMA,
        "stack": dict(stack),
        **facts,
        "soak": {"since": promoted_at, "secondsAtExport": _elapsed(promoted_at, at)},
        "startedBy": dict(started_by) if started_by else None,
        "exported": {"at": at, **exported_by},
    }


def windows(states: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every analysis window of the release, once each, in order: step, weight, metric,
    value, baseline, threshold, verdict (phase), message, time."""
    seen: set[tuple[int, str, float]] = set()
    found: list[dict[str, Any]] = []
    for state in states:
        step = int(state["step_index"])
        weight = state["plan"]["steps"][step]["weight"]
        for m in state.get("history") or ():
            key = (step, m["metric"], float(m["at"]))
            if key in seen:
                continue
            seen.add(key)
            found.append(
                {
                    "step": step,
                    "weight": weight,
                    "metric": m["metric"],
                    "verdict": m["phase"],
                    "value": m["value"],
                    "baseline": m.get("baseline"),
                    "threshold": m["threshold"],
                    "at": m["at"],
                    "message": m["message"],
                }
            )
    return found


def traffic_steps(
    plan: Mapping[str, Any] | None, states: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each traffic step of the plan with when it started (None if it never did)."""
    started: dict[int, float] = {}
    for state in states:
        at = state.get("step_started_at")
        if at is not None:
            started.setdefault(int(state["step_index"]), float(at))
    return [
        {
            "step": i,
            "weight": s["weight"],
            "bakeSeconds": s["bake_seconds"],
            "startedAt": started.get(i),
        }
        for i, s in enumerate((plan or {}).get("steps", []))
    ]


def release_steps(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The release steps applied and contracted, with the outcome each journaled (a
    migration's `backup_id` and `backup_backend` are in its data)."""
    found = []
    for event in events:
        action = event.data.get("action") or {}
        verb = STEP_ACTIONS.get(str(action.get("type", "")))
        if verb is None or event.kind not in ("action.done", "action.failed"):
            continue
        step = dict(event.data.get("step") or {})
        found.append(
            {
                "step": action.get("name"),
                "verb": verb,
                "ok": event.kind == "action.done",
                "at": event.at,
                "message": step.get("message", event.data.get("message", "")),
                "data": dict(step.get("data") or {}),
            }
        )
    return found


def started_by(events: Sequence[Event]) -> dict[str, Any] | None:
    """Who or what started the release, if `runbook rollout` journaled it."""
    origin = next((e for e in events if e.kind == ORIGIN), None)
    return dict(origin.data) if origin else None


def _elapsed(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, end - start), 3)
