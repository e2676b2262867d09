"""Concurrency: ten `runbook rollout` processes started at once on one stack. Exactly one
takes the stack's lock and proceeds; the nine others exit 4 (locked) naming the holder's
pid, each in a few seconds even on a loaded machine (the time from spawn to exit is printed:
the drills report the figure).

The stack's servers are not started: the one that proceeds holds the lock while it retries
the router, which is all this needs, and it is stopped (SIGTERM, its own pid) at the end.

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
from pathlib import Path

import pytest

from runbooks.local.isolated import isolated_stack
from runbooks.session import open_journal
from stackspec.errors import ExitCode

RUNBOOK = Path(sys.executable).with_name("runbook")
RUNS = 10
PYCACHE = Path(tempfile.gettempdir()) / "runbook-test-pycache"
BOUND_SECONDS = 120.0  # CPU-bound: ~3 s alone, 20-90 s at load 20-30 on 2 cores (printed)


def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An isolated local stack (servers not started) for the runbook processes and this one."""
    isolated_stack(tmp_path)
    env = os.environ | {
        "RUNBOOK_STACKS_DIR": str(tmp_path / "stacks"),
        "RUNBOOK_STATE_DIR": str(tmp_path / "runbook"),
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
    }
    for key in ("RUNBOOK_JOURNAL_DSN", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _environment(tmp_path, monkeypatch)
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
    assert len(proceeded) == 1, {p.pid: (p.returncode, outputs[p.pid][1][-300:]) for p in procs}
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


def test_one_rollout_on_a_locked_stack_alone_exits_4_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _environment(tmp_path, monkeypatch)
    seconds = []
    with open_journal("local").acquire("local", "holder"):
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
