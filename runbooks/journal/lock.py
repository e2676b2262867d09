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

A local stack's runtime (its servers and HAProxy admin socket under `local.stateDir`) has a
lock of its own besides: `RuntimeLock`, shared by every stack file naming that runtime.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from runbooks.journal.base import Journal, LockHolder
from stackspec.errors import LockedError


def holder() -> str:
    """Who runs this engine, for the lock and the journal."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


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


RUNTIME_LOCK_FILE = "release.lock"

# Runtime locks a verb took before its heavy imports (`RuntimeLock.held_for_verb`), by lock
# file, with the thread that took each: that thread's engine adopts the lease instead of
# taking the lock a second time (a second flock on a new descriptor would refuse itself).
_VERB_LEASES: dict[Path, tuple[int, Lease]] = {}


class RuntimeLock:
    """The lock of one local runtime, whichever stack file (name, path) drives it.

    An exclusive flock(2) on `<local.stateDir>/release.lock`, the file recording who holds
    it (stack, holder, host, pid, since) for the message. The kernel drops the flock when its
    process dies, so a lock found held always has a live holder: `--force` never takes it
    over, and a dead holder's needs no `--force`. The descriptor is not inherited by child
    processes (Python opens files non-inheritable), so servers a release starts do not keep it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / RUNTIME_LOCK_FILE

    def acquire(self, stack: str, holder: str) -> Lease:
        """Take the runtime's lock for `stack`, or raise LockedError naming who has it.

        Inside `held_for_verb` on the same thread, the verb's lease is adopted: the lease
        returned gives nothing back (the verb does, when it ends)."""
        taken = self._verb_lease()
        if taken is not None:
            return Lease(stack, taken.owner, lambda: None)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._locked(stack) from None
        owner = this_process(holder)
        record = {"stack": stack, **asdict(owner)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        return Lease(stack, owner, lambda: os.close(fd))

    def _verb_lease(self) -> Lease | None:
        """The lease a verb on this thread holds on this runtime, if any."""
        taken = _VERB_LEASES.get(self.path)
        if taken is not None and taken[0] == threading.get_ident() and taken[1].held:
            return taken[1]
        return None

    @contextmanager
    def held_for_verb(self, stack: str, holder: str) -> Iterator[Lease]:
        """The runtime's lock, taken at a verb's start and held until it ends (LockedError at
        once if another process has it): ten rollouts started together are refused before
        nine of them import the engine. The engine's own `acquire` on this thread adopts it."""
        nested = self._verb_lease() is not None
        lease = self.acquire(stack, holder)
        if nested:
            yield lease  # adopted: the outer verb gives it back
            return
        _VERB_LEASES[self.path] = (threading.get_ident(), lease)
        try:
            yield lease
        finally:
            try:
                _VERB_LEASES.pop(self.path, None)
            finally:
                lease.release()

    def holder(self) -> tuple[str, LockHolder] | None:
        """The stack and holder of the runtime's lock if a process holds it now, else None."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._recorded()
        finally:
            os.close(fd)
        return None

    def _recorded(self, wait: float = 1.0) -> tuple[str, LockHolder]:
        """Who the lock file names; a holder that has just taken the lock may not have
        written itself yet, so this polls for up to `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                owner = LockHolder(
                    str(data["holder"]), str(data["host"]), int(data["pid"]), float(data["since"])
                )
                return str(data["stack"]), owner
            except (OSError, ValueError, KeyError, TypeError):
                if time.monotonic() > deadline:
                    return "?", LockHolder("unknown", socket.gethostname(), 0, time.time())
                time.sleep(0.02)

    def _locked(self, stack: str) -> LockedError:
        other, owner = self._recorded()
        shared = f", which drives the same local runtime ({self.state_dir})"
        return LockedError(
            describe(other, owner) + ("" if other == stack else f"{shared} as stack '{stack}'"),
            hint=_hint(owner, True, False),
        )


class _RuntimeLocked:
    """A journal whose `acquire` also takes a local runtime's lock (taken first, given back
    last); everything else is the journal's own."""

    def __init__(self, journal: Journal, runtime: RuntimeLock) -> None:
        self._journal, self._runtime = journal, runtime

    def acquire(self, stack: str, holder: str, force: bool = False) -> Lease:
        outer = self._runtime.acquire(stack, holder)
        try:
            inner = self._journal.acquire(stack, holder, force)
        except BaseException:
            outer.release()
            raise

        def release() -> None:
            try:
                inner.release()
            finally:
                outer.release()

        return Lease(stack, inner.owner, release)

    def lock_holder(self, stack: str) -> LockHolder | None:
        own = self._journal.lock_holder(stack)
        if own is not None:
            return own
        held = self._runtime.holder()
        return held[1] if held is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def with_runtime_lock(journal: Journal, runtime: RuntimeLock) -> Journal:
    """`journal`, its lock taken together with `runtime`'s; `lock_holder` names the runtime's
    holder when another stack file holds it. (A delegating wrapper: mypy cannot see
    `__getattr__` satisfy the Journal protocol, hence the cast.)"""
    return cast(Journal, _RuntimeLocked(journal, runtime))
