"""Drill 1: kill -9 of the engine at 20 points of a release, then resume or roll back.

Each point releases a fresh version carrying a migration (`db-migration` 1.2.0) and a
cache-key bump (`cache-bump`) under steady load, and kills the engine (SIGKILL to the
`runbook rollout` process) when its trigger fires:
- a journal trigger: the release's journal gets the nth `decision`, or the nth
  `action.started` / `action.done` of an action type (and release step), polled every
  20 ms, so the kill lands inside that action or just after it; an action quicker than
  that (the cache bump, the stack-state write, the contract) is held by a failpoint after
  its effect and before its `action.done` (`runbooks.failpoints`), and the kill lands there;
- a router trigger: the admin-socket proxy holds the nth matching HAProxy command (one of
  the four of a weight change), so the kill lands inside the weight change, with part of
  it applied to HAProxy and part not.
Right after the kill, `runbook status --json` must report the router's real weights (read
past the proxy). Then `resume --force` (even points) or `rollback --force` (odd) runs to
its end, and the ending must be consistent (`consistency.ending_problems`). Between points
the migration is reverted out of band when a point promoted it, so each starts unmigrated.
Figure: consistent endings / points (a point counts only if the engine was killed there);
also statuses matching the router / points. Points meant to land inside a journalled action
say where the kill landed ("inside", or "after" when the action was done first).
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Any

import psycopg

from benchmarks.drills.consistency import Ending, ending_problems, status_problems
from benchmarks.drills.harness import (
    DrillStack,
    finish,
    kinds,
    poll,
    rollout_args,
    say,
    tail,
    verb_args,
    versions,
)
from benchmarks.drills.result import Measure, all_of
from benchmarks.stack import SERVICE, STACK
from runbooks import failpoints
from runbooks.journal.base import Event
from runbooks.local.load import steady_load
from stackspec.model import Color

MIGRATION = "1.2.0"
STEPS = ("--step", "db-migration", "--step", "cache-bump", "--migration", MIGRATION)
LOAD_RATE = 150.0  # enough requests for the judge's minimum sample in a short bake
TRIGGER_TIMEOUT = 90.0
HOLD_SECONDS = 5.0  # a failpoint's hold: the kill (polled every 20 ms) lands well inside it
RECOVERY_TIMEOUT = 600.0  # a resume runs the rest of the release: minutes on a loaded box
REVERT = (
    "DROP INDEX CONCURRENTLY IF EXISTS public.orders_client_ref_idx",
    "ALTER TABLE public.orders DROP COLUMN IF EXISTS client_ref",
    "DO $$ BEGIN IF to_regclass('public.schema_migrations') IS NOT NULL THEN "
    f"DELETE FROM public.schema_migrations WHERE version = '{MIGRATION}'; END IF; END $$",
)


@dataclass(frozen=True)
class OnJournal:
    """Kill when the release's journal has the nth event matching (kind, action, step)."""

    kind: str  # "decision", "action.started" or "action.done"
    nth: int = 1
    action: str | None = None
    step: str | None = None
    step_index: int | None = None  # decisions: taken while on this step (0-based)
    # An action too quick to kill inside from outside is held after its effect, before its
    # `action.done` (runbooks.failpoints): the kill then lands between the two.
    failpoint: str | None = None

    def fired(self, events: list[Event]) -> bool:
        """Whether the nth matching event is in `events`."""
        return sum(1 for e in events if self._matches(e)) >= self.nth

    def landed(self, events: list[Event]) -> str | None:
        """For an `action.started` trigger, where the kill landed, from the journal read
        after it: "inside" (that action has no `action.done`) or "after" (it finished before
        the kill); None for other triggers or when the trigger never fired."""
        if self.kind != "action.started":
            return None
        started = [i for i, e in enumerate(events) if self._matches(e)]
        if len(started) < self.nth:
            return None
        action = events[started[self.nth - 1]].data.get("action")
        done = any(
            e.kind == "action.done" and e.data.get("action") == action
            for e in events[started[self.nth - 1] + 1 :]
        )
        return "after" if done else "inside"

    def _matches(self, event: Event) -> bool:
        if event.kind != self.kind:
            return False
        if self.step_index is not None:
            return bool(event.data.get("state", {}).get("step_index") == self.step_index)
        action = event.data.get("action") or {}
        return (self.action is None or action.get("type") == self.action) and (
            self.step is None or action.get("name") == self.step
        )


@dataclass(frozen=True)
class OnRouter:
    """Kill while the proxy holds the HAProxy command `set server be_<svc>/<color> <rest>`
    (`color` "old" or "new": relative to the release)."""

    color: str
    rest: str

    def command(self, old: Color) -> str:
        """The exact command to hold for a release away from `old`."""
        color = old if self.color == "old" else old.other
        return f"set server be_{SERVICE}/{color.value} {self.rest}"


Trigger = OnJournal | OnRouter
POINTS: tuple[tuple[str, Trigger], ...] = (
    ("after the first decision", OnJournal("decision")),
    ("inside the deploy", OnJournal("action.started", action="Deploy")),
    ("after the deploy", OnJournal("action.done", action="Deploy")),
    ("inside the migration", OnJournal("action.started", step="db-migration")),
    ("after the migration", OnJournal("action.done", step="db-migration")),
    (
        "inside the cache bump",
        OnJournal("action.started", step="cache-bump", failpoint="ApplyReleaseStep:cache-bump"),
    ),
    ("inside weights 10%, nothing applied", OnRouter("new", "weight 10")),
    ("inside weights 10%, new color up, old not", OnRouter("old", "weight 90")),
    ("after weights 10%", OnJournal("action.done", action="SetWeights")),
    ("inside step 1's first analysis", OnJournal("action.started", action="Analyse")),
    ("step 1 baking, between analyses", OnJournal("action.done", 2, action="Analyse")),
    ("inside weights 50%, new color up, old not", OnRouter("old", "weight 50")),
    ("after weights 50%", OnJournal("action.done", 2, action="SetWeights")),
    ("step 2 baking, between analyses", OnJournal("decision", 3, step_index=1)),
    ("inside weights 100%, old color draining", OnRouter("old", "state drain")),
    ("inside weights 100%, old drained, weight left", OnRouter("old", "weight 0")),
    ("after weights 100%", OnJournal("action.done", 3, action="SetWeights")),
    (
        "inside the promotion's stack-state write",
        OnJournal("action.started", 2, "WriteStackState", failpoint="WriteStackState"),
    ),
    ("after the promotion's stack-state write", OnJournal("action.done", 2, "WriteStackState")),
    (
        "inside the migration's contract",
        OnJournal("action.started", action="ContractReleaseStep", failpoint="ContractReleaseStep"),
    ),
)
SHORT_POINTS = (3, 11, 14)  # inside the migration, inside weights 50% and 100%


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """Every point (3 in the short form) under load: the figures and each point's record."""
    chosen = [POINTS[i] for i in SHORT_POINTS] if short else list(POINTS)
    fresh = versions()
    records = []
    with steady_load(stack.load_url, LOAD_RATE):
        for index, (name, trigger) in enumerate(chosen):
            verb = "resume" if index % 2 == 0 else "rollback"
            records.append(_point(stack, name, trigger, verb, next(fresh)))
            say(f"  crash {index + 1}/{len(chosen)} {name}: {_summary(records[-1])}")
            _reset_migration(stack)
    # A point counts only if the engine was killed there: a rollout that ended first, or a
    # trigger that never fired, proved nothing about recovering from a crash.
    consistent = sum(1 for r in records if r["killed"] and not r["problems"])
    truthful = sum(1 for r in records if r["killed"] and not r["status_problems"])
    aimed_inside = [r for r in records if r.get("landed") is not None]
    figures = {
        "consistent_endings": all_of(consistent, len(records), "points"),
        "status_matches_router_after_kill": all_of(truthful, len(records), "points"),
    }
    details = {
        "points": records,
        # kills meant to land inside a journalled action (polled every 20 ms): how many did
        "inside_actions_landed_inside": f"{sum(r['landed'] == 'inside' for r in aimed_inside)}"
        f"/{len(aimed_inside)}",
    }
    return figures, details


def _point(
    stack: DrillStack, name: str, trigger: Trigger, verb: str, version: str
) -> dict[str, Any]:
    stack.settle()
    old = stack.active_color()
    cache_before = stack.cache_version()
    record: dict[str, Any] = {"point": name, "version": version, "recovery": verb}
    killed, release_id = _kill_at(stack, trigger, old, version)
    record |= killed
    if release_id is None:
        return record | {"problems": ["the rollout recorded no release"], "status_problems": []}
    live = stack.live_weights()
    record["live_after_kill"] = _split(live)
    record["status_problems"] = status_problems(stack.status(), record["live_after_kill"])
    try:
        done = stack.run(*verb_args(verb, "--force"), timeout=RECOVERY_TIMEOUT)
        record |= {"recovery_exit": done.returncode, "recovery_output": tail(done.stderr, 300)}
    except subprocess.TimeoutExpired:
        record["recovery_exit"] = f"no end within {RECOVERY_TIMEOUT:g} s"
    end = _ending(stack, release_id, old, cache_before)
    record |= {"outcome": end.outcome, "problems": ending_problems(end)}
    record["trace"] = kinds(stack.events(release_id))[-6:]
    return record


def _summary(record: dict[str, Any]) -> str:
    """One line for the progress log: killed or not, the outcome and any problem."""
    killed = "killed" if record.get("killed") else f"NOT killed ({record.get('error', '')!r})"
    if record.get("landed"):
        killed += f" ({record['landed']} the action)"
    problems = "; ".join(record.get("problems", []) + record.get("status_problems", []))
    return f"{killed}, {record.get('recovery')} -> {record.get('outcome')}; {problems or 'ok'}"


def _kill_at(
    stack: DrillStack, trigger: Trigger, old: Color, version: str
) -> tuple[dict[str, Any], str | None]:
    """Start the rollout and SIGKILL it when `trigger` fires: what happened, the release id."""
    before = stack.newest_release()
    held = trigger.failpoint if isinstance(trigger, OnJournal) else None
    env = {failpoints.ENV: f"{held}={HOLD_SECONDS:g}"} if held else {}
    proc = stack.start(*rollout_args(version, *STEPS), env=env)
    sent: list[bool] = []  # set when the drill itself kills the rollout
    if isinstance(trigger, OnRouter):
        command = trigger.command(old)
        stack.proxy.hold(lambda line: line == command, on_hold=lambda: _kill(proc, sent))
    try:
        fired = _await(stack, trigger, proc, before)
        if fired:
            _kill(proc, sent)
    finally:
        stack.proxy.release()
        code, _, err = finish(proc, timeout=60)
    release_id = stack.newest_release()
    release_id = release_id if release_id != before else None
    events = stack.events(release_id) if release_id else []
    landed = trigger.landed(events) if isinstance(trigger, OnJournal) else None
    return {
        # killed by the drill at the point: `finish` also SIGKILLs a rollout that overran
        "killed": bool(sent) and code == -signal.SIGKILL,
        "exit": code,
        "error": "" if code == -signal.SIGKILL else tail(err, 400),
        "killed_after": kinds(events)[-2:],
        "landed": landed,
    }, release_id


def _kill(proc: subprocess.Popen[str], sent: list[bool]) -> None:
    """SIGKILL `proc` if it still runs, noting in `sent` that the drill did it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        sent.append(True)


def _await(
    stack: DrillStack, trigger: Trigger, proc: subprocess.Popen[str], before: str | None
) -> bool:
    """Wait for the trigger while the rollout runs; False if it ended first or timed out."""

    def fired() -> bool | None:
        if proc.poll() is not None:
            return True  # ended before the trigger: reported by the caller, not killed
        if isinstance(trigger, OnRouter):
            return stack.proxy.holding.is_set()
        release = stack.newest_release()
        return release != before and release is not None and trigger.fired(stack.events(release))

    try:
        poll(fired, TRIGGER_TIMEOUT, "the kill point")
    except TimeoutError:
        return False
    return proc.poll() is None


def _ending(stack: DrillStack, release_id: str, old: Color, cache_before: int | None) -> Ending:
    journal = stack.journal()
    decisions = [e for e in journal.events(release_id) if e.kind == "decision"]
    last = decisions[-1].data.get("state", {}) if decisions else {}
    return Ending(
        past_contract=bool(last.get("contracted_steps")),
        outcome=journal.release(release_id).outcome,
        running=journal.current(STACK, SERVICE) is not None,
        locked=journal.lock_holder(STACK) is not None,
        live=_split(stack.live_weights()),
        active=stack.active_color().value,
        old=old.value,
        migrated=stack.migrated(),
        cache_version=stack.cache_version(),
        cache_before=cache_before,
    )


def _split(weights: Any) -> dict[str, int] | None:
    return None if weights is None else {"blue": weights.blue, "green": weights.green}


def _reset_migration(stack: DrillStack) -> None:
    """Revert the migration a promoted point left applied: the next point starts without."""
    stack.settle()
    with psycopg.connect(stack.bench.ends.postgres_dsn, autocommit=True) as conn:
        for statement in REVERT:
            conn.execute(statement)
