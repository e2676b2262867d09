"""The release steps by name; an unknown name is rejected with the list of valid ones.
`STEPS.from_stack(name, settings, outputs)` gives the step with its stack's options
(runbooks.steps.stack_options)."""

from __future__ import annotations

from collections.abc import Callable

from runbooks.registry import Factory, Registry
from runbooks.steps.base import ReleaseStep

# Import paths: a step's library is imported only when that step is built.
_CLASSES: dict[str, str] = {
    "db-migration": "runbooks.steps.db_migration:DbMigration",
    "cache-bump": "runbooks.steps.cache_bump:CacheBump",
    "config": "runbooks.steps.config_step:ConfigStep",
    "edge-purge": "runbooks.steps.edge_purge:EdgePurge",
    "nop": "runbooks.steps.nop:NopStep",
}


def _factory(name: str, cls: Callable[..., ReleaseStep]) -> Factory[ReleaseStep]:
    """Step class `cls` as a Factory: built from options, or from the stack's options."""
    from runbooks.steps.stack_options import configured

    return Factory(cls, configured(name, cls()))


STEPS: Registry[ReleaseStep] = Registry[ReleaseStep]("release step", _CLASSES, adapt=_factory)
