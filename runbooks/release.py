"""The use cases of the release engine: roll out, resume, roll back a promoted release.

Each works on a `Session` (the stack's settings, driver and outputs; every backend built
from them) and runs the engine, the loop around the pure `decide()`. Deploying the new
version is one of the engine's actions, so a release killed mid-deploy resumes like any
other: its pending `Deploy` runs again. A rollback never deploys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from runbooks.core.budget import StepBudget, detection_budget
from runbooks.core.plan import ReleasePlan, build_plan
from runbooks.core.state import Action, Deploy, Outcome, ReleaseState
from runbooks.engine import Clock, Engine, applied_outcome, snapshot
from runbooks.engine_metrics import with_textfile
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

OnTurn = Callable[[ReleaseState, Sequence[Action]], None]


def rollout(
    request: Request,
    session: Session,
    journal: Journal,
    clock: Clock | None = None,
    on_turn: OnTurn | None = None,
    force: bool = False,
    on_budget: Callable[[tuple[StepBudget, ...]], None] | None = None,
) -> tuple[str, Outcome]:
    """Release `request.version` of the service; returns the release id and its outcome.

    Checked before anything is recorded: the plan, the backends, the lock, no unfinished
    release, that the router answers, and that the metrics measure the old color (whose
    request rate gives the detection budget, handed to `on_budget`).
    """
    request = replace(request, config_version=release_config_version(request))
    settings = session.settings
    plan = build_plan(
        settings, request.service, request.version, request.steps, request.config_version
    )
    check_migration(settings, request)
    backends = session.backends(request.steps)
    with journal.acquire(request.stack, holder(), force=force):
        nothing_unfinished(journal, request)
        backends.router.get_weights(request.service)  # reachable, before anything is recorded
        rate = preflight(backends, settings, plan)
        if on_budget is not None:
            on_budget(detection_budget(plan, rate))
        state = ReleaseState(plan)
        recorded = {
            "state": state.to_dict(),
            "faults": request.faults or {},
            "migration": request.migration,
            "config_version": request.config_version,
            "by": holder(),
        }
        release_id = journal.start_release(
            request.stack, request.service, request.version, recorded
        )
        engine = _engine(backends, journal, release_id, request, plan, clock, on_turn)
        return release_id, engine.run(state)


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
    rollback, so a pending deploy of the new version is dropped, not performed.
    """
    shot = snapshot(journal, record.id)
    state = shot.state if shot else ReleaseState.from_dict(dict(record.plan["state"]))
    pending = shot.pending if shot else ()
    if rolling_back:
        pending = tuple(a for a in pending if not isinstance(a, Deploy))
    request = Request.of_record(session.stack, record, state.plan.release_steps)
    backends = session.backends(request.steps)
    engine = _engine(backends, journal, record.id, request, state.plan, clock, on_turn)
    return engine.run(state, pending)


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
    latest, plan = revertible(journal, stack, service)
    reason = f"rollback of promoted release {latest.id} requested by {holder()}"
    state = ReleaseState.reverting(plan, reason)
    request = Request.of_record(stack, journal.release(latest.id), plan.release_steps)
    backends = session.backends(request.steps)
    with journal.acquire(stack, holder(), force=force):
        recorded = {
            "state": state.to_dict(),
            "reverts": latest.id,
            "migration": request.migration,
            "by": holder(),
        }
        release_id = journal.start_release(stack, service, plan.old_version, recorded)
        engine = _engine(backends, journal, release_id, request, plan, clock, on_turn, latest.id)
        return engine.run(state), release_id


def _engine(
    backends: Backends,
    journal: Journal,
    release_id: str,
    request: Request,
    plan: ReleasePlan,
    clock: Clock | None,
    on_turn: OnTurn | None,
    applied_from: str | None = None,
) -> Engine:
    context = StepContext(
        stack=request.stack,
        service=request.service,
        version=request.version,
        old_color=plan.old_color,
        new_color=plan.new_color,
        options={"migration": request.migration, "config_version": request.config_version},
    )
    applied = applied_outcome(journal, applied_from or release_id)
    versions = {plan.old_color: plan.old_version, plan.new_color: plan.version}
    performer = Performer(backends, context, applied, versions, request.faults)
    started = journal.release(release_id).started_at
    on_turn = with_textfile(
        on_turn, runbook_state_dir(request.stack), request.stack, release_id, started
    )
    return Engine(journal, release_id, performer, clock, on_turn)
