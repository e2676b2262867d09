"""The stack lock's takeover rules, as a table, and the lease's release semantics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from runbooks.journal.base import LockHolder
from runbooks.journal.lock import Lease, check_takeover, describe, pid_alive
from stackspec.errors import LockedError


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HERE = socket.gethostname()
ALIVE = LockHolder("alice", HERE, os.getpid(), 1_700_000_000.0)
DEAD = LockHolder("alice", HERE, _dead_pid(), 1_700_000_000.0)
ELSEWHERE = LockHolder("alice", "build-7", 4242, 1_700_000_000.0)


def test_pid_alive_tells_live_from_dead() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(DEAD.pid)


@pytest.mark.parametrize(
    ("owner", "force", "alive", "hint"),
    [
        (ALIVE, False, None, "still running"),
        (ALIVE, True, None, "--force never takes a live lock"),
        (DEAD, False, None, "its process is gone: re-run with --force"),
        (ELSEWHERE, False, None, "check on host build-7 that pid 4242 is no longer running"),
        (ELSEWHERE, True, True, "--force never takes a live lock"),
        (DEAD, True, True, "--force never takes a live lock"),
    ],
)
def test_locks_that_are_not_taken_over(
    owner: LockHolder, force: bool, alive: bool | None, hint: str
) -> None:
    with pytest.raises(LockedError) as err:
        check_takeover("staging", owner, force, alive)
    assert hint in err.value.hint
    assert err.value.message == describe("staging", owner)
    assert err.value.exit_code == 4


@pytest.mark.parametrize(
    ("owner", "alive"), [(DEAD, None), (ELSEWHERE, None), (ALIVE, False), (ELSEWHERE, False)]
)
def test_force_takes_over_dead_or_unverifiable_holders(
    owner: LockHolder, alive: bool | None
) -> None:
    check_takeover("staging", owner, force=True, alive=alive)  # fails the test if it raises


def test_the_message_names_holder_host_pid_and_since_in_utc() -> None:
    assert describe("staging", ELSEWHERE) == (
        "stack 'staging' is locked by alice on host build-7 (pid 4242) "
        "since 2023-11-14 22:13:20 UTC"
    )


def test_a_lease_releases_once_however_it_is_left() -> None:
    calls: list[str] = []
    with Lease("staging", ALIVE, lambda: calls.append("released")) as lease:
        assert lease.held
    lease.release()
    assert calls == ["released"]
    assert not lease.held
