"""The release engine: the I/O loop around the pure `decide()`.

Each turn: read the operator's intents from the journal, call `decide()`, journal the
decision (state and actions) BEFORE acting, perform the actions in order, journal each one
before and after (`action.started` / `action.done` / `action.failed`), then call `decide()`
again with what happened. A run killed at any point leaves the journal telling the truth:
the last decision says where the release was and which of its actions completed, so
`resume` re-performs the rest (every action is safe to repeat) and `rollback` restores the
old color and undoes the applied release steps, newest first.

Journal event kinds: `decision` {state, actions}, `action.started` {index, action},
`action.done` / `action.failed` {index, action, message, step?}, then `release.finished`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runbooks.core.decide import decide
from runbooks.core.state import (
    Action,
    ActionResult,
    Decision,
    Finish,
    Intent,
    Observation,
    Outcome,
    ReleaseState,
    SamplePair,
    Verb,
    Wait,
    action_from_dict,
    action_to_dict,
)
from runbooks.journal.base import Journal
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
    """What one turn of the loop left for the next call to decide()."""

    results: list[ActionResult] = field(default_factory=list)
    samples: SamplePair | None = None
    wait_until: float | None = None
    finish: Finish | None = None


class Engine:
    """Drives one release of one service to its end (promoted, rolled back or aborted)."""

    def __init__(
        self,
        journal: Journal,
        release_id: str,
        performer: Performer,
        clock: Clock | None = None,
        on_turn: Callable[[ReleaseState, Sequence[Action]], None] | None = None,
    ) -> None:
        self.journal = journal
        self.release_id = release_id
        self.performer = performer
        self.clock = clock or Clock()
        self.on_turn = on_turn

    def run(self, state: ReleaseState, pending: Sequence[Action] = ()) -> Outcome:
        """Run until the release finishes; `pending` are actions of an interrupted turn."""
        turn = self._perform(pending) if pending else Turn()
        while turn.finish is None:
            if turn.wait_until is not None:
                self._wait(turn.wait_until, state.intents_seen)
            observation = Observation(self.clock.now(), turn.samples, tuple(turn.results))
            decision = decide(state, observation, self.intents())
            self._journal_decision(decision)
            state = decision.state
            if self.on_turn is not None:
                self.on_turn(state, decision.actions)
            turn = self._perform(decision.actions)
        self.journal.finish(self.release_id, turn.finish.outcome.value)
        return turn.finish.outcome

    def intents(self) -> list[Intent]:
        """Every operator intent recorded against this release, as the core sees them."""
        return [
            Intent(seq=i.id, verb=Verb(i.intent), reason=f"by {i.by}")
            for i in self.journal.pending_intents(self.release_id)
        ]

    def _journal_decision(self, decision: Decision) -> None:
        actions = [action_to_dict(a) for a in decision.actions]
        self.journal.append(
            self.release_id, DECISION, {"state": decision.state.to_dict(), "actions": actions}
        )

    def _perform(self, actions: Sequence[Action]) -> Turn:
        turn = Turn()
        for index, action in enumerate(actions):
            if isinstance(action, Wait):
                turn.wait_until = action.until
                continue
            if isinstance(action, Finish):
                turn.finish = action
                continue
            record = {"index": index, "action": action_to_dict(action)}
            self.journal.append(self.release_id, ACTION_STARTED, record)
            performed = self.performer.perform(action)
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

    def _wait(self, until: float, intents_seen: int) -> None:
        # Sleep in short slices so an operator's pause, abort or rollback acts at once.
        while (left := until - self.clock.now()) > 0:
            if any(i.seq > intents_seen for i in self.intents()):
                return
            self.clock.sleep(min(left, INTENT_POLL_SECONDS))


@dataclass(frozen=True)
class Snapshot:
    """Where an interrupted release stood: its last decision and the actions not yet done."""

    state: ReleaseState
    pending: tuple[Action, ...]


def snapshot(journal: Journal, release_id: str) -> Snapshot | None:
    """The release's last journaled decision and its actions that did not complete."""
    events = journal.events(release_id)
    last = next((e for e in reversed(events) if e.kind == DECISION), None)
    if last is None:
        return None
    state = ReleaseState.from_dict(dict(last.data["state"]))
    actions = [action_from_dict(dict(a)) for a in last.data["actions"]]
    done = {
        int(e.data["index"])
        for e in events
        if e.seq > last.seq and e.kind in (ACTION_DONE, ACTION_FAILED)
    }
    pending = tuple(a for i, a in enumerate(actions) if i not in done)
    return Snapshot(state, pending)


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


def last_weights(journal: Journal, release_id: str) -> dict[str, int] | None:
    """The split the release last set and verified live, from its journal; None if none."""
    for event in reversed(journal.events(release_id)):
        action = event.data.get("action") or {}
        if event.kind == ACTION_DONE and action.get("type") == "SetWeights":
            return dict(action["weights"])
    return None
