"""The stack drivers by name. Every factory takes `stack` and `settings`, so the engine
calls `DRIVERS.create(name, stack=..., settings=...)` whatever the driver; backend options
(`state_dir`, `work_dir`, `stack_factory`) are optional. Unknown names raise UnknownName."""

from __future__ import annotations

from pathlib import Path

from infra.settings import StackSettings
from infra.stackfile import PROJECT_ROOT
from runbooks.drivers.base import StackDriver
from runbooks.drivers.local import LocalDriver
from runbooks.drivers.nop import NopDriver
from runbooks.drivers.pulumi_automation import PulumiDriver, StackFactory, select_stack
from runbooks.registry import Registry


def _local(stack: str, settings: StackSettings, state_dir: Path | None = None) -> StackDriver:
    """The local driver; `state_dir` defaults to the stack's `local.stateDir`."""
    from runbooks.local.endpoints import state_dir_of

    return LocalDriver(settings, state_dir or state_dir_of(settings))


def _pulumi(
    stack: str,
    settings: StackSettings,
    work_dir: Path = PROJECT_ROOT,
    stack_factory: StackFactory = select_stack,
) -> StackDriver:
    """The Automation API driver of `stack`."""
    return PulumiDriver(stack, work_dir, stack_factory)


def _nop(stack: str, settings: StackSettings | None = None) -> StackDriver:
    """The in-memory driver."""
    return NopDriver(settings)


def driver_for(settings: StackSettings) -> str:
    """The driver a stack uses by default: `local` for the local substrate, else `pulumi`."""
    return "local" if settings.substrate.value == "local" else "pulumi"


DRIVERS: Registry[StackDriver] = Registry(
    "stack driver", {"local": _local, "pulumi": _pulumi, "nop": _nop}
)
