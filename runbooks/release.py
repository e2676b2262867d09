"""The use cases of the release engine: roll out, resume, roll back a promoted release.

Each works on a `Session` (the stack's settings, driver and outputs; every backend built
from them) and runs the engine, the loop around the pure `decide()`. Deploying the new
version is one of the engine's actions, so a release killed mid-deploy resumes like any
other: its pending `Deploy` runs again. A rollback never deploys.

A multi-service release (`rollout` given several requests) is one journal record (service
`trading-api+market-data`, one lock) whose plan lists its members; the first request's
release steps are stack-wide and belong to the first member (applied before any traffic
moves, undone last). See `runbooks.core.group` for how the members move and fail together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from runbooks import failpoints
from runbooks.core.budget import StepBudget, detection_budget
from runbooks.core.group import GroupState
from runbooks.core.plan import ReleasePlan, build_plan
from runbooks.core.state import Action, Deploy, Outcome, ReleaseState
from runbooks.engine import Clock, Engine, applied_outcome, snapshot
from runbooks.journal.base import Journal, LockLease, ReleaseRecord
from runbooks.performer import Backends, Performer
from runbooks.preflight import (
    check_migration,
    nothing_unfinished,
    preflight,
    release_config_version,
    revertible,
)
from runbooks.session import Request, Session, holder, runbook_state_dir
from runbooks.steps.base import StepContext
from stackspec.errors import BadInput
from stackspec.model import Substrate

OnTurn = Callable[[ReleaseState, Sequence[Action]], None]


def rollout(
    request: Request | Sequence[Request],
    session: Session,
    journal: Journal,
    clock: Clock | None = None,
    on_turn: OnTurn | None = None,
    force: bool = False,
    on_budget: Callable[[tuple[StepBudget, ...]], None] | None = None,
) -> tuple[str, Outcome]:
    """Release `request.version` of the service (or of each service of several requests,
    together, as one release); returns the release id and its outcome.

    Checked before anything is recorded: the plans (BadInput for an unknown service or one
    named twice), the lock, then the backends, no unfinished release of any of the services, that
    the router answers, and that the metrics measure each old color (whose request rate
    gives the detection budget, handed to `on_budget`).
    """
    requests = [request] if isinstance(request, Request) else list(request)
    lead = replace(requests[0], config_version=release_config_version(requests[0]))
    requests = [lead, *(replace(r, steps=()) for r in requests[1:])]
    settings = session.settings
    plans = [
        build_plan(settings, r.service, r.version, r.steps, r.config_version) for r in requests
    ]
    group = GroupState.of(plans)
    check_migration(settings, lead)
    # Drills only: a malformed one, or one on another stack than local, is refused here.
    holds = failpoints.from_environment(local=settings.substrate is Substrate.LOCAL)
    # The lock first: a rollout refused for it (exit 4) builds no client and reads nothing.
    with journal.acquire(lead.stack, holder(), force=force):
        backends = session.backends(lead.steps)
        for one in requests:
            nothing_unfinished(journal, one)
            backends.router.get_weights(one.service)  # reachable, before anything is recorded
        budget: list[StepBudget] = []
        for plan in plans:
            budget.extend(detection_budget(plan, preflight(backends, settings, plan)))
        if on_budget is not None:
            on_budget(tuple(budget))
        release_id = journal.start_release(
            lead.stack, group.name, group.version, _recorded(group, requests)
        )
        engine = _engine(
            backends, journal, release_id, requests, plans, clock, on_turn, holds=holds
        )
        return release_id, engine.run(group)


def _recorded(group: GroupState, requests: Sequence[Request]) -> dict[str, Any]:
    """The release's journal record: as it always was for one service; with its members
    (service, version, faults, first state) for several."""
    lead = requests[0]
    recorded: dict[str, Any] = {
        "state": group.members[0].to_dict(),
        "faults": lead.faults or {},
        "migration": lead.migration,
        "config_version": lead.config_version,
        "by": holder(),
    }
    if len(requests) > 1:
        recorded["members"] = [
            {"service": r.service, "version": r.version, "faults": r.faults or {}} for r in requests
        ]
    return recorded


def member_requests(stack: str, record: ReleaseRecord, steps: tuple[str, ...]) -> list[Request]:
    """The requests a journaled release was started with, one per member (the first with
    the release steps, migration and configuration)."""
    lead = Request.of_record(stack, record, steps)
    members = record.plan.get("members") or ()
    if not members:
        return [lead]
    found = [
        Request(stack, str(m["service"]), str(m["version"]), (), dict(m.get("faults") or {}))
        for m in members
    ]
    return [
        replace(
            found[0], steps=steps, migration=lead.migration, config_version=lead.config_version
        ),
        *found[1:],
    ]


def resume(
    record: ReleaseRecord,
    session: Session,
    journal: Journal,
    lease: LockLease,
    clock: Clock | None = None,
    on_turn: OnTurn | None = None,
    rolling_back: bool = False,
) -> Outcome:
    """Continue an interrupted release from its last journaled decision.

    `lease` is the stack's lock, which the caller holds for the whole run (taking it, with
    or without --force, is the caller's decision). `rolling_back`: the operator asked for a
    rollback, so a pending deploy of the new version is dropped, not performed. Each member
    of a multi-service release resumes its own pending actions.
    """
    shot = snapshot(journal, record.id)
    group = shot.group if shot else _first_group(record)
    pendings: list[tuple[Action, ...]] = list(shot.pendings) if shot else []
    if rolling_back:
        pendings = [tuple(a for a in p if not isinstance(a, Deploy)) for p in pendings]
    lead = group.members[0].plan
    requests = member_requests(session.stack, record, lead.release_steps)
    backends = session.backends(requests[0].steps)
    plans = [m.plan for m in group.members]
    engine = _engine(backends, journal, record.id, requests, plans, clock, on_turn)
    return engine.run(group, pendings)


def _first_group(record: ReleaseRecord) -> GroupState:
    """The members as recorded when the release started (it never decided)."""
    lead = ReleaseState.from_dict(dict(record.plan["state"]))
    members = record.plan.get("members") or ()
    if len(members) < 2:
        return GroupState((lead,))
    raise BadInput(
        f"release {record.id} of {record.service} stopped before its first decision",
        hint="nothing was done: close it with `runbook rollback` on its first service",
    )


def revert_promoted(
    service: str,
    session: Session,
    journal: Journal,
    force: bool,
    on_turn: OnTurn | None = None,
    clock: Clock | None = None,
) -> tuple[Outcome, str]:
    """Roll back the service's latest release, promoted and finished, as a new release.

    The old color was kept running, so this is a weight change first; then the stack
    state names the old color active again and the release steps are undone, newest first,
    from the outcomes journaled by the original release.
    """
    stack = session.stack
    newest = journal.latest(stack, service)
    if newest is not None and newest.plan.get("members"):
        raise BadInput(
            f"the latest release of {service} ({newest.id}) released {newest.service} "
            "together; a promoted multi-service release is not rolled back by one service",
            hint="release the old versions forward together: `runbook rollout --service "
            "NAME=VERSION --service NAME=VERSION`",
        )
    latest, plan = revertible(journal, stack, service)
    reason = f"rollback of promoted release {latest.id} requested by {holder()}"
    state = ReleaseState.reverting(plan, reason)
    request = Request.of_record(stack, journal.release(latest.id), plan.release_steps)
    with journal.acquire(stack, holder(), force=force):
        backends = session.backends(request.steps)
        recorded = {
            "state": state.to_dict(),
            "reverts": latest.id,
            "migration": request.migration,
            "by": holder(),
        }
        release_id = journal.start_release(stack, service, plan.old_version, recorded)
        engine = _engine(
            backends, journal, release_id, [request], [plan], clock, on_turn, latest.id
        )
        return engine.run(state), release_id


def _engine(
    backends: Backends,
    journal: Journal,
    release_id: str,
    requests: Sequence[Request],
    plans: Sequence[ReleasePlan],
    clock: Clock | None,
    on_turn: OnTurn | None,
    applied_from: str | None = None,
    holds: Mapping[str, float] | None = None,
) -> Engine:
    """The engine of a release, with one performer per member (each with its own service,
    colors, versions and faults; the release steps' options from the first request)."""
    applied = applied_outcome(journal, applied_from or release_id)
    lead = requests[0]
    options = {"migration": lead.migration, "config_version": lead.config_version}
    performers = []
    for request, plan in zip(requests, plans, strict=True):
        context = StepContext(
            stack=request.stack,
            service=request.service,
            version=request.version,
            old_color=plan.old_color,
            new_color=plan.new_color,
            options=options,
            release=release_id,
        )
        versions = {plan.old_color: plan.old_version, plan.new_color: plan.version}
        performers.append(Performer(backends, context, applied, versions, request.faults))
    from runbooks.engine_metrics import with_textfile  # prometheus_client: once locked

    started = journal.release(release_id).started_at
    on_turn = with_textfile(on_turn, runbook_state_dir(lead.stack), lead.stack, release_id, started)
    return Engine(journal, release_id, performers, clock, on_turn, holds)
