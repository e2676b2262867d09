"""decide_group(): one release of several services, judged and undone together. Pure.

A multi-service release is a `GroupState`: one `ReleaseState` per member, in declared order
(the first member carries the stack-wide release steps: applied before any traffic moves,
undone last). Each member is decided by `decide()` on its own observation (the results of
its own actions, its own samples) and on every operator intent, so pause, resume, promote,
abort and rollback apply to the whole release. Then the group's rules, in order:

1. One fails, all roll back: when a member starts rolling back (a failed window, a failed
   action) or aborts, every member still going rolls back too, its reason naming the member
   that failed. Those are decided again from the state they came in with, so every member
   puts its traffic back on the old color in the same turn. That includes a member still
   promoting (rule 2 holds each there, old color warm, until all are done), but not one
   whose contract already ran: it is aborted, on its new version, saying why.
2. Lockstep: a member's `step_gate` is the highest step index it may enter (len(steps):
   promotion). It starts at -1, so no member takes traffic before every member is deployed
   and its release steps applied. When every member is held ready for step k (`ready_for`),
   the gate opens to k for all. A held member keeps analysing: protection never stops.
   Promoting, each is held at len(steps) + 1 once its old color's warm time and its
   contracts are over, so all become PROMOTED in the same turn.
3. Newest change first: rolling back, a member waits after restoring its traffic
   (`undo_held`) until every member declared after it is rolled back; when one of those
   aborted (its undo failed), the waiting member aborts too, since the later change may
   still depend on it. A `rollback` intent retries every aborted member, in the same order.
4. The release finishes when every member is terminal: promoted if all are, aborted if any
   is, rolled back otherwise.

A group of one is `decide()` itself: no gate, never held, its Finish is the group's. When a
rule changes a member after it was decided, its trailing Wait is dropped, so the engine
decides again at once instead of sleeping until the member's next tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runbooks.core.decide import decide, start_rollback
from runbooks.core.plan import ReleasePlan
from runbooks.core.state import (
    TERMINAL,
    Action,
    Decision,
    EventKind,
    Finish,
    Intent,
    NotifyEvent,
    Observation,
    Outcome,
    ReleasePhase,
    ReleaseState,
    Wait,
)
from stackspec.errors import BadInput

__all__ = ["GroupDecision", "GroupState", "decide_group"]

P = ReleasePhase
# A member in one of these has failed (or been told to roll back): the others follow it.
STOPPING = frozenset({P.ROLLING_BACK, P.ROLLED_BACK, P.ABORTED})
NO_GATE_YET = -1


@dataclass(frozen=True)
class GroupState:
    """The members of one release, in declared order."""

    members: tuple[ReleaseState, ...]

    @classmethod
    def of(cls, plans: Sequence[ReleasePlan]) -> GroupState:
        """A new release of `plans` (one per service); lockstep gates for more than one.

        BadInput when the plans do not step alike (one policy makes them alike) or repeat a
        service.
        """
        services = [p.service for p in plans]
        if not plans or len(set(services)) != len(services):
            raise BadInput(f"a release names each service once; got {services}")
        if len({tuple((s.name, s.weight) for s in p.steps) for p in plans}) != 1:
            raise BadInput(f"the plans of {', '.join(services)} have different traffic steps")
        gate = NO_GATE_YET if len(plans) > 1 else None
        return cls(tuple(ReleaseState(p, step_gate=gate) for p in plans))

    @property
    def name(self) -> str:
        """`trading-api+market-data`: the services, in declared order."""
        return "+".join(m.plan.service for m in self.members)

    @property
    def version(self) -> str:
        """The version released, or `1.2.0+1.3.0` (in declared order) when they differ."""
        versions = [m.plan.version for m in self.members]
        return versions[0] if len(set(versions)) == 1 else "+".join(versions)

    @property
    def intents_seen(self) -> int:
        """The highest intent every member has handled."""
        return min(m.intents_seen for m in self.members)


@dataclass(frozen=True)
class GroupDecision:
    """The members' next states and actions, and in which order to perform them.

    `order` lists member indexes: declared order, reversed while rolling back (newest change
    first). `finish` is set once every member is terminal.
    """

    group: GroupState
    actions: tuple[tuple[Action, ...], ...]
    order: tuple[int, ...]
    finish: Finish | None = None


def decide_group(
    group: GroupState, observations: Sequence[Observation], intents: Sequence[Intent]
) -> GroupDecision:
    """Each member decided on its own observation (`observations[i]` is member i's), then
    the group's rules: fail together, lockstep, undo newest first, finish together."""
    if len(observations) != len(group.members):
        raise ValueError(f"{len(group.members)} members, {len(observations)} observations")
    now = observations[0].now
    members = _held(list(group.members))
    decisions = [decide(m, o, intents) for m, o in zip(members, observations, strict=True)]
    decisions = _fail_together(members, observations, intents, decisions)
    decisions = _past_no_return(members, decisions)
    decisions = _open_gate(decisions)
    decisions = _undo_in_order(decisions, now)
    states = tuple(d.state for d in decisions)
    rolling_back = any(s.phase is P.ROLLING_BACK for s in states)
    order = tuple(reversed(range(len(states)))) if rolling_back else tuple(range(len(states)))
    return GroupDecision(
        GroupState(states), tuple(d.actions for d in decisions), order, _finish(decisions)
    )


def _fail_together(
    members: Sequence[ReleaseState],
    observations: Sequence[Observation],
    intents: Sequence[Intent],
    decisions: list[Decision],
) -> list[Decision]:
    cause = next((d.state for d in decisions if d.state.phase in STOPPING), None)
    if cause is None:
        return decisions
    reason = f"{cause.plan.service} failed: {cause.reason}"
    fresh = list(decisions)
    for i, decision in enumerate(decisions):
        # By the phase it came in with: one that just decided PROMOTED (its scaleDownDelay
        # over) in the turn another failed is still promoting, its old color still up.
        if decision.state.phase in STOPPING or members[i].phase in TERMINAL:
            continue
        # From the state it came in with: what it just decided (a new step) must not run.
        fresh[i] = decide(start_rollback(members[i], reason), observations[i], intents)
    return fresh


def _past_no_return(members: Sequence[ReleaseState], decisions: list[Decision]) -> list[Decision]:
    """A member told to roll back after its contract ran is aborted instead: the contract
    dropped what its old version needs, so sending traffic back would not be a rollback."""
    fresh = list(decisions)
    for i, decision in enumerate(decisions):
        came, state = members[i], decision.state
        if came.phase is not P.PROMOTING or not came.contracted_steps:
            continue
        if state.phase is not P.ROLLING_BACK:
            continue
        steps = ", ".join(came.contracted_steps)
        reason = (
            f"not rolled back ({state.reason}): the contract of {steps} already ran, so "
            f"{came.plan.old_version} may no longer work; {came.plan.version} stays on "
            f"{came.plan.new_color}"
        )
        fresh[i] = Decision(
            came.evolve(phase=P.ABORTED, reason=reason, ready_for=None),
            (NotifyEvent(EventKind.ABORTED, reason), Finish(Outcome.ABORTED, reason)),
        )
    return fresh


def _open_gate(decisions: list[Decision]) -> list[Decision]:
    states = [d.state for d in decisions]
    ready = {s.ready_for for s in states}
    if len(ready) != 1 or any(s.phase in STOPPING for s in states):
        return decisions
    (index,) = ready
    if index is None or any(s.step_gate is None or s.step_gate >= index for s in states):
        return decisions
    return [Decision(d.state.evolve(step_gate=index), _at_once(d.actions)) for d in decisions]


def _undo_in_order(decisions: list[Decision], now: float) -> list[Decision]:
    fresh = list(decisions)
    # From the last member back, so an abort reaches every member before it in one call.
    for i in reversed(range(len(fresh))):
        state, actions = fresh[i].state, fresh[i].actions
        if state.phase is not P.ROLLING_BACK:
            continue
        later = [d.state for d in fresh[i + 1 :]]
        aborted = next((s for s in later if s.phase is P.ABORTED), None)
        if aborted is not None and state.weights_restored and _only_waiting(actions):
            fresh[i] = _abort_behind(state, aborted, actions)
            continue
        held = any(s.phase is not P.ROLLED_BACK for s in later)
        if held != state.undo_held:
            released = actions if held else _at_once(actions)
            fresh[i] = Decision(state.evolve(undo_held=held), released)
    return fresh


def _abort_behind(
    state: ReleaseState, aborted: ReleaseState, actions: Sequence[Action]
) -> Decision:
    reason = (
        f"rollback stopped: {aborted.plan.service} could not be undone and may depend on "
        f"{state.plan.service}"
    )
    return Decision(
        state.evolve(phase=P.ABORTED, reason=reason),
        (
            *_at_once(actions),
            NotifyEvent(EventKind.ABORTED, f"{reason}; fix it, then run `rollback` to retry"),
            Finish(Outcome.ABORTED, reason),
        ),
    )


def _finish(decisions: Sequence[Decision]) -> Finish | None:
    states = [d.state for d in decisions]
    if any(s.phase not in TERMINAL for s in states):
        return None
    if len(decisions) == 1:
        # A single service ends as decide() said, with its own words.
        own = next((a for a in decisions[0].actions if isinstance(a, Finish)), None)
        if own is not None:
            return own
    if any(s.phase is P.ABORTED for s in states):
        outcome = Outcome.ABORTED
    elif all(s.phase is P.PROMOTED for s in states):
        outcome = Outcome.PROMOTED
    else:
        outcome = Outcome.ROLLED_BACK
    parts = [f"{s.plan.service} {s.phase}" + (f" ({s.reason})" if s.reason else "") for s in states]
    return Finish(outcome, "; ".join(parts))


def _held(members: list[ReleaseState]) -> list[ReleaseState]:
    """Each rolling-back member held unless every member after it is rolled back."""
    fresh = list(members)
    for i, state in enumerate(members):
        if state.phase is P.ROLLING_BACK:
            held = any(s.phase is not P.ROLLED_BACK for s in members[i + 1 :])
            fresh[i] = state.evolve(undo_held=held) if held != state.undo_held else state
    return fresh


def _only_waiting(actions: Sequence[Action]) -> bool:
    return all(isinstance(a, Wait | NotifyEvent) for a in actions)


def _at_once(actions: Sequence[Action]) -> tuple[Action, ...]:
    """`actions` without their trailing Wait: the engine decides again at once."""
    if actions and isinstance(actions[-1], Wait):
        return tuple(actions[:-1])
    return tuple(actions)
