"""The rules of the per-stack lock, shared by every journal backend.

A lock names its holder (user), host, pid and start time. Taking it over:
- without `force`: never; LockedError names the holder and says what to check.
- with `force`, holder on THIS host: only if its pid is dead (`os.kill(pid, 0)` fails with
  ProcessLookupError). A live process keeps its lock whatever the flag says.
- with `force`, holder on ANOTHER host: taken over. Its pid cannot be checked from here, so
  the operator's `--force` is the word that it is dead; the hint tells them to check first.
- a backend that knows liveness itself (PostgreSQL: the holder's session holds an advisory
  lock, released by the server when the holder dies) passes `alive` and it wins over the
  host/pid check, on any host.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from runbooks.journal.base import LockHolder
from stackspec.errors import LockedError


def this_process(holder: str) -> LockHolder:
    """The lock owner describing this process, held by `holder`, from now."""
    return LockHolder(holder=holder, host=socket.gethostname(), pid=os.getpid(), since=time.time())


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def holder_alive(owner: LockHolder) -> bool | None:
    """True/False when it can be checked (same host), None for another host."""
    if owner.host != socket.gethostname():
        return None
    return pid_alive(owner.pid)


def check_takeover(stack: str, owner: LockHolder, force: bool, alive: bool | None = None) -> None:
    """Return if `owner`'s lock on `stack` may be taken over, else raise LockedError."""
    if alive is None:
        alive = holder_alive(owner)
    if force and alive is not True:
        return
    raise LockedError(describe(stack, owner), hint=_hint(owner, alive, force))


def describe(stack: str, owner: LockHolder) -> str:
    """The sentence naming who holds the lock."""
    since = datetime.fromtimestamp(owner.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"stack '{stack}' is locked by {owner.holder} on host {owner.host} "
        f"(pid {owner.pid}) since {since}"
    )


def _hint(owner: LockHolder, alive: bool | None, force: bool) -> str:
    if alive is True:
        stop = "the process is still running: wait for it to finish or stop it"
        return stop + ("; --force never takes a live lock" if force else "")
    if alive is False:
        return "its process is gone: re-run with --force to take the lock over"
    return (
        f"check on host {owner.host} that pid {owner.pid} is no longer running, "
        "then re-run with --force (only if that process is dead)"
    )


class Lease:
    """A held lock; `release()` runs the backend's release once, however often called."""

    def __init__(self, stack: str, owner: LockHolder, release: Callable[[], None]) -> None:
        self.stack = stack
        self.owner = owner
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        release, self._release = self._release, None
        if release is not None:
            release()

    @property
    def held(self) -> bool:
        """Whether this lease has not been released yet."""
        return self._release is not None

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
