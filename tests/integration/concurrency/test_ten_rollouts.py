"""Concurrency: ten `runbook rollout` processes started at once on one stack. Exactly one
takes the stack's lock and proceeds; the nine others exit 4 (locked) naming the holder's
pid, each in a few seconds even on a loaded machine (the time from spawn to exit is printed:
the drills report the figure).

One private local stack that is up serves the module (a rollout reads the router before it
takes the lock); the rollout that proceeds is stopped (SIGTERM, its own pid) once the nine
have exited, and its release rolled back.

The processes keep their bytecode (in a cache under the temp dir, not the tree), as an
installed `runbook` does: with PYTHONDONTWRITEBYTECODE each would compile every module it
imports, several seconds of CPU each on two cores, and that is what the figure would show.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbooks.session import open_journal
from stackspec.errors import ExitCode
from tests.integration.engine.conftest import SHORT_POLICY
from tests.integration.engine.harness import Stack, private_stack, settle

RUNBOOK = Path(sys.executable).with_name("runbook")
RUNS = 10
PYCACHE = Path(tempfile.gettempdir()) / "runbook-test-pycache"
BOUND_SECONDS = 120.0  # CPU-bound: ~3 s alone, 20-90 s at load 20-30 on 2 cores (printed)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_stack("ten-rollouts-it-", SHORT_POLICY) as up:
        yield up


def _environment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The stack's environment for the runbook processes and this one, bytecode kept."""
    env = stack.env | {"PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for key in ("RUNBOOK_STACKS_DIR", "RUNBOOK_STATE_DIR"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("RUNBOOK_JOURNAL_DSN", raising=False)
    subprocess.run([str(RUNBOOK), "--version"], env=env, capture_output=True, check=True)
    return env


def _rollout(env: dict[str, str]) -> subprocess.Popen[str]:
    args = ["rollout", "-s", "local", "--service", "trading-api", "--version", "9.0.0"]
    return subprocess.Popen(
        [str(RUNBOOK), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_ten_simultaneous_rollouts_one_proceeds_nine_are_locked(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _environment(stack, monkeypatch)
    started = time.monotonic()
    procs = [(time.monotonic(), _rollout(env)) for _ in range(RUNS)]
    ended: dict[int, float] = {}
    deadline = started + 2 * BOUND_SECONDS
    while len(ended) < RUNS - 1 and time.monotonic() < deadline:
        for at, proc in procs:
            if proc.pid not in ended and proc.poll() is not None:
                ended[proc.pid] = time.monotonic() - at
        time.sleep(0.02)
    running = [proc for _, proc in procs if proc.poll() is None]
    holder = open_journal("local").lock_holder("local")
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    outputs = {proc.pid: proc.communicate(timeout=60) for _, proc in procs}

    locked = [proc for _, proc in procs if proc.returncode == ExitCode.LOCKED]
    proceeded = [proc for _, proc in procs if proc.returncode != ExitCode.LOCKED]
    assert len(proceeded) == 1, {p.pid: (p.returncode, outputs[p.pid][1][-300:]) for _, p in procs}
    assert len(locked) == RUNS - 1
    assert [p.pid for p in running] == [proceeded[0].pid]  # it held the lock to the end
    assert holder is not None and holder.pid == proceeded[0].pid
    for proc in locked:
        err = outputs[proc.pid][1]
        assert f"(pid {proceeded[0].pid})" in err and "Traceback" not in err
    seconds = sorted(ended[p.pid] for p in locked)
    print(
        f"\nten rollouts: 1 proceeded, {len(locked)} exit 4; seconds to exit 4: "
        f"median {statistics.median(seconds):.2f}, max {seconds[-1]:.2f} "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    assert seconds[-1] < BOUND_SECONDS
    settle(stack)


def test_one_rollout_on_a_locked_stack_alone_exits_4_fast(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _environment(stack, monkeypatch)
    seconds = []
    # force: the first test's stopped rollout may have left its lock (a SIGTERM before it
    # recorded a release leaves nothing for settle's rollback to finish); its pid is gone.
    with open_journal("local").acquire("local", "holder", force=True):
        for _ in range(3):
            at = time.monotonic()
            proc = _rollout(env)
            proc.communicate(timeout=60)
            seconds.append(time.monotonic() - at)
            assert proc.returncode == ExitCode.LOCKED
    print(
        f"\nlocked rollout alone: median {statistics.median(seconds):.2f} s "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    assert statistics.median(seconds) < BOUND_SECONDS
