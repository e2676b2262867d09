"""The release engine: the I/O loop around the pure `decide_group()` (`decide()` per member).

Each turn: read the operator's intents from the journal, call `decide_group()`, journal the
decision (each member's state and actions) BEFORE acting, perform the actions member by
member (in the decision's order: newest change first while rolling back), journal each one
before and after (`action.started` / `action.done` / `action.failed`), then decide again with
what happened. A member stops at its first failed action; the others go on, so no member's
state ever claims an action that did not run. A run killed at any point leaves the journal
telling the truth: the last decision says where each member was and which of its actions
completed, so `resume` re-performs the rest (every action is safe to repeat) and `rollback`
restores the old colors and undoes the applied release steps, newest first.

Journal event kinds: `decision` {state, actions[, others]}, `action.started` {index, action
[, member]}, `action.done` / `action.failed` {index, action, message, step?[, member]}, then
`release.finished`. A release of one service is a group of one and its events are exactly
what they always were; a multi-service release puts its first member under "state" and
"actions" (so every reader of a single release reads it) and the others, in declared order,
under "others" as [{state, actions}], and numbers each member's actions under "member"
(absent: 0). `member_decisions()` reads both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runbooks.core.group import GroupDecision, GroupState, decide_group
from runbooks.core.state import (
    TERMINAL,
    Action,
    ActionResult,
    Finish,
    Intent,
    Observation,
    Outcome,
    ReleasePhase,
    ReleaseState,
    SamplePair,
    Verb,
    Wait,
    action_from_dict,
    action_to_dict,
)
from runbooks.failpoints import hold
from runbooks.journal.base import Event, Journal
from runbooks.performer import Performer, outcome_from_dict
from runbooks.steps.base import StepOutcome

DECISION = "decision"
ACTION_STARTED = "action.started"
ACTION_DONE = "action.done"
ACTION_FAILED = "action.failed"
INTENT_POLL_SECONDS = 0.2


@dataclass
class Clock:
    """Time for the engine; tests and benchmarks may pass their own."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Turn:
    """What one member's part of a turn left for the next call to decide()."""

    results: list[ActionResult] = field(default_factory=list)
    samples: SamplePair | None = None
    wait_until: float | None = None
    finish: Finish | None = None


OnTurn = Callable[[ReleaseState, Sequence[Action]], None]


class Engine:
    """Drives one release, of one service or several together, to its end (promoted,
    rolled back or aborted). `performer` is one per member, in declared order."""

    def __init__(
        self,
        journal: Journal,
        release_id: str,
        performer: Performer | Sequence[Performer],
        clock: Clock | None = None,
        on_turn: OnTurn | None = None,
        holds: Mapping[str, float] | None = None,
    ) -> None:
        self.journal = journal
        self.holds = holds or {}  # failpoints (runbooks.failpoints): drills only
        self.release_id = release_id
        self.performers = [performer] if isinstance(performer, Performer) else list(performer)
        self.clock = clock or Clock()
        self.on_turn = on_turn

    def run(
        self,
        state: ReleaseState | GroupState,
        pending: Sequence[Action] | Sequence[Sequence[Action]] = (),
    ) -> Outcome:
        """Run until the release finishes; `pending` are actions of an interrupted turn
        (for a group, one sequence per member)."""
        group = state if isinstance(state, GroupState) else GroupState((state,))
        if len(group.members) != len(self.performers):
            raise ValueError(f"{len(group.members)} members, {len(self.performers)} performers")
        left = _per_member(pending, len(group.members))
        # Resuming a rollback: newest change first, as the interrupted turn ran them.
        rolling_back = any(m.phase is ReleasePhase.ROLLING_BACK for m in group.members)
        order = tuple(range(len(group.members)))
        turns = self._perform(left, order[::-1] if rolling_back else order)
        finish: Finish | None = None
        while finish is None:
            self._wait(group, turns)
            now = self.clock.now()
            observations = [Observation(now, t.samples, tuple(t.results)) for t in turns]
            decision = decide_group(group, observations, self.intents())
            self._journal_decision(decision)
            group, finish = decision.group, decision.finish
            if self.on_turn is not None:
                for member, actions in zip(group.members, decision.actions, strict=True):
                    self.on_turn(member, actions)
            turns = self._perform(decision.actions, decision.order)
        self.journal.finish(self.release_id, finish.outcome.value)
        return finish.outcome

    def intents(self) -> list[Intent]:
        """Every operator intent recorded against this release, as the core sees them."""
        return [
            Intent(seq=i.id, verb=Verb(i.intent), reason=f"by {i.by}")
            for i in self.journal.pending_intents(self.release_id)
        ]

    def _journal_decision(self, decision: GroupDecision) -> None:
        parts = [
            {"state": m.to_dict(), "actions": [action_to_dict(a) for a in actions]}
            for m, actions in zip(decision.group.members, decision.actions, strict=True)
        ]
        data: dict[str, Any] = dict(parts[0])
        if len(parts) > 1:
            data["others"] = parts[1:]
        self.journal.append(self.release_id, DECISION, data)

    def _perform(self, actions: Sequence[Sequence[Action]], order: Sequence[int]) -> list[Turn]:
        turns = [Turn() for _ in actions]
        for member in order:
            turns[member] = self._perform_member(member, actions[member], len(actions) > 1)
        return turns

    def _perform_member(self, member: int, actions: Sequence[Action], tagged: bool) -> Turn:
        turn = Turn()
        for index, action in enumerate(actions):
            if isinstance(action, Wait):
                turn.wait_until = action.until
                continue
            if isinstance(action, Finish):
                turn.finish = action
                continue
            record: dict[str, Any] = {"index": index, "action": action_to_dict(action)}
            if tagged:
                record["member"] = member
            self.journal.append(self.release_id, ACTION_STARTED, record)
            performed = self.performers[member].perform(action)
            hold(self.holds, record["action"]["type"], record["action"].get("name"))
            result = performed.result
            record |= {"message": result.message, "step": performed.step_data}
            self.journal.append(
                self.release_id, ACTION_DONE if result.ok else ACTION_FAILED, record
            )
            turn.results.append(result)
            turn.samples = performed.samples or turn.samples
            if not result.ok:
                break
        return turn

    def _wait(self, group: GroupState, turns: Sequence[Turn]) -> None:
        # A member that did not end its turn on a Wait (it has more to do) is decided at once.
        going = [t for m, t in zip(group.members, turns, strict=True) if m.phase not in TERMINAL]
        if not going or any(t.wait_until is None and t.finish is None for t in going):
            return
        until = min(t.wait_until for t in going if t.wait_until is not None)
        # Sleep in short slices so an operator's pause, abort or rollback acts at once.
        while (left := until - self.clock.now()) > 0:
            if any(i.seq > group.intents_seen for i in self.intents()):
                return
            self.clock.sleep(min(left, INTENT_POLL_SECONDS))


def _per_member(
    pending: Sequence[Action] | Sequence[Sequence[Action]], members: int
) -> list[tuple[Action, ...]]:
    if members == 1 and all(not isinstance(p, Sequence) for p in pending):
        return [tuple(pending)]  # type: ignore[arg-type]
    found = [tuple(p) for p in pending]  # type: ignore[arg-type]
    return found + [()] * (members - len(found))


@dataclass(frozen=True)
class Snapshot:
    """Where an interrupted release stood: each member's last decided state and its
    actions not yet done (one member for a single service)."""

    states: tuple[ReleaseState, ...]
    pendings: tuple[tuple[Action, ...], ...]

    @property
    def state(self) -> ReleaseState:
        """The first member's state: the release's own, for a single service."""
        return self.states[0]

    @property
    def pending(self) -> tuple[Action, ...]:
        """Every member's pending actions, in declared order."""
        return tuple(a for p in self.pendings for a in p)

    @property
    def group(self) -> GroupState:
        """The members as the engine resumes them."""
        return GroupState(self.states)

    def of(self, service: str) -> ReleaseState:
        """The state of the member releasing `service` (KeyError if none does)."""
        for state in self.states:
            if state.plan.service == service:
                return state
        raise KeyError(service)


def member_decisions(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A journaled decision's parts, one {state, actions} per member in declared order."""
    first = {"state": data["state"], "actions": data.get("actions", [])}
    return [first, *(data.get("others") or ())]


def snapshot(journal: Journal, release_id: str) -> Snapshot | None:
    """The release's last journaled decision and, per member, its actions that did not
    complete."""
    events = journal.events(release_id)
    last = next((e for e in reversed(events) if e.kind == DECISION), None)
    if last is None:
        return None
    done = {
        _action_key(e)
        for e in events
        if e.seq > last.seq and e.kind in (ACTION_DONE, ACTION_FAILED)
    }
    states: list[ReleaseState] = []
    pendings: list[tuple[Action, ...]] = []
    for member, part in enumerate(member_decisions(last.data)):
        states.append(ReleaseState.from_dict(dict(part["state"])))
        actions = [action_from_dict(dict(a)) for a in part["actions"]]
        pendings.append(tuple(a for i, a in enumerate(actions) if (member, i) not in done))
    return Snapshot(tuple(states), tuple(pendings))


def _action_key(event: Event) -> tuple[int, int]:
    return int(event.data.get("member", 0)), int(event.data["index"])


def applied_outcome(journal: Journal, release_id: str) -> Callable[[str], StepOutcome | None]:
    """A lookup of the journaled outcome of applying each release step (for its undo)."""

    def lookup(name: str) -> StepOutcome | None:
        for event in reversed(journal.events(release_id)):
            action = event.data.get("action") or {}
            step = event.data.get("step")
            if (
                (event.kind == ACTION_DONE or event.kind == ACTION_FAILED)
                and step
                and action.get("type") == "ApplyReleaseStep"
                and action.get("name") == name
            ):
                return outcome_from_dict(step)
        return None

    return lookup


def last_weights(
    journal: Journal, release_id: str, service: str | None = None
) -> dict[str, int] | None:
    """The split the release last set and verified live (of `service`, in a multi-service
    release), from its journal; None if none."""
    for event in reversed(journal.events(release_id)):
        action = event.data.get("action") or {}
        is_set = event.kind == ACTION_DONE and action.get("type") == "SetWeights"
        if is_set and (service is None or action.get("service") == service):
            return dict(action["weights"])
    return None
