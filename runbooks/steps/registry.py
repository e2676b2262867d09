"""The release steps by name; an unknown name is rejected with the list of valid ones.
`STEPS.from_stack(name, settings, outputs)` gives the step with its stack's options
(runbooks.steps.stack_options)."""

from __future__ import annotations

from collections.abc import Callable

from runbooks.registry import Factory, Registry
from runbooks.steps.base import ReleaseStep
from runbooks.steps.cache_bump import CacheBump
from runbooks.steps.config_step import ConfigStep
from runbooks.steps.db_migration import DbMigration
from runbooks.steps.edge_purge import EdgePurge
from runbooks.steps.kafka_consumer import KafkaConsumerCanary
from runbooks.steps.nop import NopStep
from runbooks.steps.stack_options import configured

_CLASSES: dict[str, Callable[..., ReleaseStep]] = {
    "db-migration": DbMigration,
    "cache-bump": CacheBump,
    "config": ConfigStep,
    "edge-purge": EdgePurge,
    "kafka-consumer": KafkaConsumerCanary,
    "nop": NopStep,
}
STEPS: Registry[ReleaseStep] = Registry[ReleaseStep](
    "release step",
    {name: Factory(cls, configured(name, cls())) for name, cls in _CLASSES.items()},
)
