"""What the outage drills share: a release under load with a fault injected while it runs."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.drills.harness import DrillStack, finish, kinds, poll, rollout_args, tail
from runbooks.journal.base import Event

TRIGGER_TIMEOUT = 90.0


@dataclass(frozen=True)
class Released:
    """One release the drill disturbed: its id, exit code, journal and CLI error output."""

    release_id: str | None
    exit_code: int
    events: list[Event]
    stderr: str

    @property
    def outcome(self) -> str | None:
        """promoted / rolled-back / aborted, from the last `decision` in the journal."""
        phases = [e.data["state"]["phase"] for e in self.events if e.kind == "decision"]
        return phases[-1] if phases else None

    def detail(self) -> dict[str, Any]:
        """For the drill's details: id, exit, outcome, the end of the journal, errors."""
        return {
            "release": self.release_id,
            "exit": self.exit_code,
            "outcome": self.outcome,
            "trace": kinds(self.events)[-5:],
            "error": "" if self.exit_code in (0, 3) else tail(self.stderr, 300),
        }


def release_with(
    stack: DrillStack,
    version: str,
    ready: Callable[[list[Event]], bool],
    inject: Callable[[Callable[[], bool]], None],
) -> Released:
    """Roll `version` out; call `inject(running)` once the release's journal satisfies
    `ready` (or at once if it never does before the rollout ends), `running()` saying
    whether the rollout still runs; wait for the rollout's end."""
    stack.settle()
    before = stack.newest_release()
    proc = stack.start(*rollout_args(version))
    try:
        _await(stack, proc, before, ready)
        inject(lambda: proc.poll() is None)
    finally:
        code, _, err = finish(proc)
    release_id = stack.newest_release()
    release_id = release_id if release_id != before else None
    events = stack.events(release_id) if release_id else []
    return Released(release_id, code, events, err)


def _await(
    stack: DrillStack,
    proc: subprocess.Popen[str],
    before: str | None,
    ready: Callable[[list[Event]], bool],
) -> None:
    def reached() -> bool:
        if proc.poll() is not None:
            return True
        release = stack.newest_release()
        return release not in (None, before) and ready(stack.events(str(release)))

    # Past the timeout the fault is injected late: the release's record says where it stood.
    with contextlib.suppress(TimeoutError):
        poll(reached, TRIGGER_TIMEOUT, "the moment to inject the fault", every=0.05)


def weights_set(events: list[Event]) -> int:
    """How many weight changes the release completed."""
    return sum(
        1
        for e in events
        if e.kind == "action.done" and (e.data.get("action") or {}).get("type") == "SetWeights"
    )


def analysis_ended_at(events: list[Event]) -> float | None:
    """When the release first decided to promote or roll back (epoch), or None."""
    ends = [first_decision_at(events, phase) for phase in ("promoting", "rolling-back")]
    return min((at for at in ends if at is not None), default=None)


def first_decision_at(events: list[Event], phase: str) -> float | None:
    """When the release first decided `phase` (epoch), or None."""
    return next(
        (e.at for e in events if e.kind == "decision" and e.data["state"]["phase"] == phase),
        None,
    )
