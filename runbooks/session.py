"""One stack as the engine works on it: settings, driver, outputs, journal, backends.

`Session.open(stack)` loads the stack file, builds the stack's driver, applies the release
state it recorded and reads the stack's outputs through it. Every backend is then built by
its registry's `from_stack(settings, outputs)`: nothing here asks which substrate it is on.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbooks.drivers.base import StackDriver
from runbooks.drivers.registry import open_driver
from runbooks.journal.base import Journal, ReleaseRecord
from runbooks.journal.lock import RuntimeLock, with_runtime_lock
from runbooks.journal.lock import holder as holder  # who runs this engine: re-exported
from runbooks.journal.registry import JOURNALS
from runbooks.local.endpoints import state_dir_of
from runbooks.metrics.registry import METRICS
from runbooks.notifiers.registry import NOTIFIERS, notifier_name
from runbooks.outputs import StackOutputs
from runbooks.performer import Backends
from runbooks.routers.by_kind import ByKindRouter
from runbooks.routers.registry import ROUTERS
from runbooks.steps.registry import STEPS
from stackspec.errors import BadInput, JournalError, RunbookError
from stackspec.model import Service, StackSettings, Substrate
from stackspec.names import service_name
from stackspec.stackfile import PROJECT_ROOT, load_stack, stack_path


@dataclass(frozen=True)
class Request:
    """What an operator asked for: one service of one stack to one version."""

    stack: str
    service: str
    version: str
    steps: tuple[str, ...] = ()
    faults: dict[str, Any] | None = None
    migration: str | None = None
    config_version: int | None = None

    @classmethod
    def of_record(cls, stack: str, record: ReleaseRecord, steps: tuple[str, ...]) -> Request:
        """The request a journaled release was started with (its faults, migration, config)."""
        plan = record.plan
        return cls(
            stack,
            record.service,
            record.version,
            steps,
            dict(plan.get("faults") or {}),
            plan.get("migration"),
            plan.get("config_version"),
        )


@dataclass(frozen=True)
class Session:
    """A stack's settings (release state applied), its driver and its outputs."""

    stack: str
    settings: StackSettings
    driver: StackDriver
    outputs: StackOutputs

    @classmethod
    def open(cls, stack: str, stacks_dir: Path | None = None) -> Session:
        """Load `stack`; StackFileError, BadInput or DriverError when it cannot be."""
        declared = load_stack(stack, stacks_dir)
        driver = open_driver(stack, declared)
        return cls(stack, driver.applied(declared), driver, driver.read_outputs(stack))

    def backends(self, steps: tuple[str, ...]) -> Backends:
        """The router, metrics, notifier and release steps the stack's settings name; consumer
        services are routed by their partitions (routers.by_kind)."""
        settings, outputs = self.settings, self.outputs
        rollout = settings.rollout
        return Backends(
            router=ByKindRouter(
                ROUTERS.from_stack(settings.router, settings, outputs),
                lambda: ROUTERS.from_stack("kafka-partitions", settings, outputs),
                {s.name: s.kind for s in settings.services},
            ),
            metrics=METRICS.from_stack(rollout.metrics.provider, settings, outputs),
            driver=self.driver,
            notifier=NOTIFIERS.from_stack(notifier_name(settings), settings, outputs),
            steps={name: STEPS.from_stack(name, settings, outputs) for name in steps},
        )


def current_settings(stack: str, stacks_dir: Path | None = None) -> StackSettings:
    """The stack's settings with the release state its driver recorded applied."""
    declared = load_stack(stack, stacks_dir)
    return open_driver(stack, declared).applied(declared)


IDENTITY_FILE = "stack-file"


def runbook_state_dir(stack: str) -> Path:
    """Where the journal (and lock) of `stack` lives.

    A cloud stack's is `<base>/<stack>`, keyed on the name as the PostgreSQL journal keys its
    lock: the name is the Pulumi stack, the one set of cloud resources every checkout of it
    (whatever its path, on whichever host) changes, so every copy must meet at one lock.

    A local stack's is keyed on its stack file's resolved path plus its name (below); what
    guards its runtime is the runtime lock `open_journal` adds (`local.stateDir`, shared by
    every stack file naming that runtime whatever their names and paths).

    Under the base (`$RUNBOOK_STATE_DIR`, else `.runbook/`) the folder `<stack>` belongs to
    the first stack file that claims it (its path is written in `<stack>/stack-file`); any
    other file of the same name gets `<stack>-<12 hex of sha256(path)>`. So two `local`
    stacks with their own runtimes sharing a state dir never block each other or show each
    other's release, and an existing `<stack>` folder keeps working: it has no claim yet,
    the first run claims it.
    """
    base = Path(os.environ.get("RUNBOOK_STATE_DIR") or str(PROJECT_ROOT / ".runbook"))
    declared = _declared(stack)
    if declared is not None and declared.substrate is not Substrate.LOCAL:
        return base / stack
    identity = str(stack_path(stack).resolve())
    hashed = f"{stack}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    return base / (stack if _claimed_by(base / stack, identity) else hashed)


def _declared(stack: str) -> StackSettings | None:
    """The stack file's settings, or None when it cannot be loaded (the verb reports that)."""
    try:
        return load_stack(stack)
    except RunbookError:
        return None


def _claimed_by(folder: Path, identity: str) -> bool:
    """Whether `folder` is (now) the state dir of the stack file `identity`. The claim is
    linked into place whole, so a concurrent reader never sees a half-written one."""
    marker = folder / IDENTITY_FILE
    try:
        return marker.read_text(encoding="utf-8").strip() == identity
    except FileNotFoundError:
        pass
    except OSError:
        return True  # unreadable: open_journal reports the folder itself
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = folder / f".{IDENTITY_FILE}.{os.getpid()}.{uuid.uuid4().hex}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(identity + "\n")
        try:
            os.link(draft, marker)
        except FileExistsError:
            return marker.read_text(encoding="utf-8").strip() == identity
        finally:
            draft.unlink()
    except OSError:
        return True  # cannot write here: open_journal reports it as a JournalError
    return True


def open_journal(stack: str) -> Journal:
    """The journal of `stack`: PostgreSQL if RUNBOOK_JOURNAL_DSN is set, else SQLite. For a
    local stack its lock also takes the runtime's (`RuntimeLock` on `local.stateDir`): two
    stack files driving one HAProxy never release at once, two runtimes never block."""
    journal = _journal(stack)
    declared = _declared(stack)
    if declared is None or declared.substrate is not Substrate.LOCAL or declared.local is None:
        return journal
    return with_runtime_lock(journal, RuntimeLock(state_dir_of(declared)))


def _journal(stack: str) -> Journal:
    dsn = os.environ.get("RUNBOOK_JOURNAL_DSN")
    if dsn:
        return JOURNALS.create("postgres", dsn=dsn)
    state_dir = runbook_state_dir(stack)
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise JournalError(
            f"cannot create the state dir {state_dir}: {err.strerror or err}",
            hint="point RUNBOOK_STATE_DIR at a writable directory",
        ) from None
    return JOURNALS.create("sqlite", state_dir=state_dir)


def require_service(settings: StackSettings, name: str) -> Service:
    """The service called `name`, or BadInput listing the stack's services."""
    service_name(name)
    try:
        return settings.service(name)
    except KeyError:
        known = ", ".join(s.name for s in settings.services)
        raise BadInput(f"no service '{name}' in this stack", hint=f"services: {known}") from None
