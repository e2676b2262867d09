"""Drill 4 (issue item 4): 10 simultaneous rollouts on one stack; one proceeds, the others
exit 4 (locked), each within 1 s.

Ten `runbook rollout` processes of different versions are started at once (5 in the short
form). Once all but one have ended, the one left running must hold the release (the
journal's lock names its pid) and is then aborted (`runbook abort`); every other must
have exited 4. Each refused process's answer time runs from its spawn to its exit.
Figures: rollouts that proceeded (target exactly 1), refused with exit 4 (target all the
others), the slowest refusal in seconds (target <= 1).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any

from benchmarks.drills.harness import DrillStack, finish, poll, rollout_args, verb_args, versions
from benchmarks.drills.result import Measure, all_of, at_most
from benchmarks.stack import SERVICE, STACK
from runbooks.local.load import steady_load

ROLLOUTS, SHORT_ROLLOUTS = 10, 5
LOCKED = 4
MAX_ANSWER_SECONDS = 1.0
LOAD_RATE = 150.0


def run(stack: DrillStack, short: bool) -> tuple[dict[str, Measure], dict[str, Any]]:
    """Start the rollouts together; one proceeds, the others are refused."""
    stack.settle()
    fresh = versions()
    count = SHORT_ROLLOUTS if short else ROLLOUTS
    with steady_load(stack.load_url, LOAD_RATE):  # the one proceeding has traffic to judge
        started = [(time.time(), stack.start(*rollout_args(next(fresh)))) for _ in range(count)]
        ended: dict[int, float] = {}
        with contextlib.suppress(TimeoutError):  # then more than one still runs: reported below
            poll(lambda: _ended(started, ended) >= count - 1, 120, "all rollouts but one to end")
        proceeding = [p for _, p in started if p.poll() is None]
        holds = bool(proceeding) and _holds(stack, proceeding[0])
        if proceeding:
            stack.run(*verb_args("abort"))
        results = [(at, p, finish(p)) for at, p in started]
    refused = [(at, p, r) for at, p, r in results if r[0] == LOCKED]
    answers = [ended[p.pid] - at for at, p, _ in refused if p.pid in ended]
    slowest = round(max(answers, default=0.0), 2)
    figures = {
        "proceeded": Measure(len(proceeding), "rollouts", "1", len(proceeding) == 1 and holds),
        "refused_exit_4": all_of(len(refused), count - 1, "rollouts"),
        "slowest_refusal_seconds": at_most(slowest, MAX_ANSWER_SECONDS, "s"),
    }
    details = {
        "rollouts": count,
        "lock_holder_pid_is_the_proceeding_rollout": holds,
        "exit_codes": sorted(r[0] for _, _, r in results),
        "refusal_seconds": sorted(round(a, 2) for a in answers),
        "refusal_message": refused[0][2][2].strip()[-300:] if refused else "",
    }
    return figures, details


def _holds(stack: DrillStack, proc: subprocess.Popen[str]) -> bool:
    """Whether `proc` holds the stack's lock and has recorded its release (waits for it)."""

    def recorded() -> bool:
        holder = stack.journal().lock_holder(STACK)
        running = stack.journal().current(STACK, SERVICE) is not None
        return holder is not None and holder.pid == proc.pid and running

    try:
        return poll(recorded, 60, "the proceeding rollout's release")
    except TimeoutError:
        return False


def _ended(started: list[tuple[float, subprocess.Popen[str]]], ended: dict[int, float]) -> int:
    now = time.time()
    for _, proc in started:
        if proc.pid not in ended and proc.poll() is not None:
            ended[proc.pid] = now
    return len(ended)
