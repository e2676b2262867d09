"""The stack drivers by name. `DRIVERS.create(name, stack=..., settings=...)` with optional
backend options (`state_dir`, `work_dir`, `stack_factory`, `deployer`); `open_driver(stack,
settings)` builds the stack's own driver (`driver_for`). Unknown names raise UnknownName.

The driver is what reads a stack's outputs, so it is built from the settings alone; every
other backend is built from the settings and the outputs the driver read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runbooks.drivers.base import StackDriver
from runbooks.registry import Registry
from stackspec.model import StackSettings
from stackspec.stackfile import PROJECT_ROOT

if TYPE_CHECKING:  # the drivers import pulumi: only when one is built
    from runbooks.drivers.pulumi_automation import Deployer, StackFactory


def _local(stack: str, settings: StackSettings, state_dir: Path | None = None) -> StackDriver:
    """The local driver; `state_dir` defaults to the stack's `local.stateDir`."""
    from runbooks.drivers.local import LocalDriver
    from runbooks.local.endpoints import state_dir_of

    return LocalDriver(settings, state_dir or state_dir_of(settings))


def _pulumi(
    stack: str,
    settings: StackSettings,
    work_dir: Path = PROJECT_ROOT,
    stack_factory: StackFactory | None = None,
    deployer: Callable[[], Deployer] | None = None,
) -> StackDriver:
    """The Automation API driver of `stack` (its stack from `stack_factory`, by default
    `select_stack`), deploying on the stack's cluster."""
    from runbooks.drivers.pulumi_automation import PulumiDriver, select_stack

    images = {s.name: s.image for s in settings.services}
    return PulumiDriver(
        stack,
        work_dir,
        stack_factory or select_stack,
        deployer or (lambda: _kubernetes(settings)),
        images,
    )


def _kubernetes(settings: StackSettings) -> Deployer:
    """Deploys by setting the idle color's image on the stack's cluster."""
    from runbooks.deploy.kubernetes import KubernetesDeployer, default_apps_api

    cluster = settings.kubernetes
    namespace, context = (cluster.namespace, cluster.context) if cluster else ("trading", None)
    return KubernetesDeployer(namespace, default_apps_api(context))


def _nop(stack: str, settings: StackSettings | None = None) -> StackDriver:
    """The in-memory driver."""
    from runbooks.drivers.nop import NopDriver

    return NopDriver(settings)


def driver_for(settings: StackSettings) -> str:
    """The driver a stack uses by default: `local` for the local substrate, else `pulumi`."""
    return "local" if settings.substrate.value == "local" else "pulumi"


DRIVERS: Registry[StackDriver] = Registry(
    "stack driver", {"local": _local, "pulumi": _pulumi, "nop": _nop}
)


def open_driver(stack: str, settings: StackSettings) -> StackDriver:
    """The stack's own driver, as `driver_for` names it."""
    return DRIVERS.create(driver_for(settings), stack=stack, settings=settings)
