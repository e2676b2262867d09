"""The release-step plug-in area: the parts of a release beyond traffic.

A release step changes one piece of the stack for a new version (a database migration, a
cache key-version bump, an edge purge, a Kafka consumer canary) and can undo that change.
The engine calls, in order, `apply` -> journal `StepOutcome.data` -> `verify`; on rollback it
calls `undo` with the journaled outcome, possibly in another process after a crash, so
everything `undo` needs must be in `data` (JSON-serialisable) or in `StepContext`. After
promotion and bake it calls `contract`: the destructive second half of the change (a
migration's contract), after which `undo` may no longer be possible; most steps have none.

Contract of every step:
- never raise for an expected failure (server down, bad migration, lag too high): return
  `ok=False` with a message that says what happened; bugs may raise `StepError`;
- `undo` is idempotent: running it twice (after a crash mid-undo) is safe;
- messages and data never hold secrets (see `runbooks.steps.redact`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runbooks.core.model import Color

__all__ = ["Color", "NoContract", "ReleaseStep", "StepContext", "StepOutcome"]


@dataclass(frozen=True)
class StepContext:
    """What a step acts on: one service moving from `old_color` to `new_color` at `version`.

    `options` holds endpoints and step options (postgres_dsn, redis_url, edge_url,
    bootstrap_servers, migrations_dir, backup_dir, ...); each step module documents its keys.
    """

    stack: str
    service: str
    version: str
    old_color: Color
    new_color: Color
    options: Mapping[str, Any] = field(default_factory=dict)
    # The release's id: a step whose effect must be found again after a crash (applied, but
    # the engine killed before it journaled the outcome) records it under this id.
    release: str = ""

    def option(self, key: str, default: Any = None) -> Any:
        """`options[key]`, or `default` when it is absent or None."""
        value = self.options.get(key)
        return default if value is None else value


@dataclass(frozen=True)
class StepOutcome:
    """What one apply, undo or verify did; `data` is journaled and must be JSON-serialisable."""

    name: str
    ok: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def success(cls, name: str, message: str, **data: Any) -> StepOutcome:
        """A step that did what it was asked."""
        return cls(name=name, ok=True, message=message, data=dict(data))

    @classmethod
    def failure(cls, name: str, message: str, **data: Any) -> StepOutcome:
        """A step that could not do what it was asked (an expected failure, not a bug)."""
        return cls(name=name, ok=False, message=message, data=dict(data))


class ReleaseStep(Protocol):
    """One undoable piece of a whole-stack release."""

    name: str

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Make the change for `ctx.version`; `data` carries what `undo` will need."""
        ...

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Reverse `applied` (as journaled); idempotent, safe after a crash mid-undo."""
        ...

    def verify(self, ctx: StepContext) -> StepOutcome:
        """Check the step's post-condition as it stands now (e.g. data validation)."""
        ...

    def contract(self, ctx: StepContext) -> StepOutcome:
        """Finish the change once promoted and baked (idempotent); most steps: nothing."""
        ...


class NoContract:
    """For steps whose change has no destructive second half: `contract` does nothing."""

    name: str

    def contract(self, ctx: StepContext) -> StepOutcome:
        """Nothing to finish after promotion."""
        return StepOutcome.success(self.name, "nothing to contract")
