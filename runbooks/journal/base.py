"""The journal plug-in area: the write-ahead record of every release, and the stack lock.

The engine writes to the journal BEFORE it acts (an intent such as `action.started`) and
AFTER (`action.done` / `action.failed`), so a run killed at any point leaves a record of
what it was doing: the next run reads `events()` and resumes or rolls back.

Contract shared by every backend (tested against SQLite and PostgreSQL alike):
- `start_release` records the release and its first event, `release.started` (seq 1; data:
  {"version": ...}, and {"reverts": id} when the plan says the release reverts another);
  `finish` records `release.finished` (data: {"outcome": ...}) and closes the release.
- `append` is its own committed transaction: once it returns, the event survives a kill -9;
  an event is never half-written. `seq` counts 1, 2, 3, ... per release.
- Operator verbs (pause, resume, abort, promote, rollback) only record an intent against
  the release in progress; the engine reads `pending_intents`, acts, then `consume_intent`.
- `acquire` takes the stack's lock (see `runbooks.journal.lock` for the rules); the
  returned lease is released by `release()` or by leaving its `with` block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

INTENTS = ("pause", "resume", "abort", "promote", "promote-full", "rollback")
"""The operator intents the CLI may record."""

STARTED = "release.started"
FINISHED = "release.finished"


@dataclass(frozen=True)
class Event:
    """One journaled fact about a release, in order (`seq` starts at 1)."""

    seq: int
    release_id: str
    at: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseRecord:
    """One release of one service of one stack; `outcome` is None while it runs."""

    id: str
    stack: str
    service: str
    version: str
    plan: Mapping[str, Any]
    started_at: float
    finished_at: float | None = None
    outcome: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the release has ended (promoted, rolled back, aborted, failed...)."""
        return self.finished_at is not None


@dataclass(frozen=True)
class Intent:
    """An operator's request (pause, abort, ...) waiting for the engine to act on it."""

    id: int
    release_id: str
    intent: str
    by: str
    at: float


@dataclass(frozen=True)
class LockHolder:
    """Who holds a stack's lock: user, host, pid and since when (epoch seconds)."""

    holder: str
    host: str
    pid: int
    since: float


class LockLease(Protocol):
    """A held stack lock. `release()` is idempotent; a `with` block releases on exit."""

    stack: str
    owner: LockHolder

    def release(self) -> None: ...

    def __enter__(self) -> LockLease: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class StackLock(Protocol):
    """One lock per stack, so two runs never release into the same stack at once."""

    def acquire(self, stack: str, holder: str, force: bool = False) -> LockLease:
        """Take the lock of `stack` for `holder`, or raise `LockedError` naming who has it.

        `force` takes over a stale lock only (see `runbooks.journal.lock`).
        """
        ...

    def lock_holder(self, stack: str) -> LockHolder | None:
        """Who holds the lock of `stack` now, or None."""
        ...


class Journal(StackLock, Protocol):
    """The durable record of releases, events and operator intents, plus the stack lock."""

    def start_release(self, stack: str, service: str, version: str, plan: Mapping[str, Any]) -> str:
        """Record a new release (and its `release.started` event); returns its id."""
        ...

    def append(self, release_id: str, kind: str, data: Mapping[str, Any] | None = None) -> int:
        """Durably record one event of a running release; returns its seq.

        Raises JournalError for an unknown or finished release, or data that is not JSON.
        """
        ...

    def events(self, release_id: str) -> list[Event]:
        """Every event of the release, by seq."""
        ...

    def release(self, release_id: str) -> ReleaseRecord:
        """The release with this id; JournalError if there is none."""
        ...

    def current(self, stack: str, service: str) -> ReleaseRecord | None:
        """The latest release of the service that has not finished, or None."""
        ...

    def latest(self, stack: str, service: str | None = None) -> ReleaseRecord | None:
        """The newest release of the stack (or of one service), finished or not."""
        ...

    def history(
        self, stack: str, service: str | None = None, limit: int = 20
    ) -> list[ReleaseRecord]:
        """Releases of the stack (or one service), newest first."""
        ...

    def finish(self, release_id: str, outcome: str) -> None:
        """Close a running release with its outcome (promoted, rolled_back, aborted...)."""
        ...

    def record_intent(self, stack: str, service: str, intent: str, by: str) -> Intent:
        """Record an operator intent against the release in progress.

        Raises BadInput for an intent not in INTENTS or when no release is in progress.
        """
        ...

    def pending_intents(self, release_id: str) -> list[Intent]:
        """Intents recorded for the release and not yet consumed, oldest first."""
        ...

    def consume_intent(self, intent_id: int) -> None:
        """Mark an intent as acted upon, so it is not returned again."""
        ...
