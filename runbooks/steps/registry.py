"""The release steps by name; an unknown name is rejected with the list of valid ones."""

from __future__ import annotations

from runbooks.registry import Registry
from runbooks.steps.base import ReleaseStep
from runbooks.steps.cache_bump import CacheBump
from runbooks.steps.config_step import ConfigStep
from runbooks.steps.db_migration import DbMigration
from runbooks.steps.edge_purge import EdgePurge
from runbooks.steps.kafka_consumer import KafkaConsumerCanary
from runbooks.steps.nop import NopStep

STEPS: Registry[ReleaseStep] = Registry[ReleaseStep](
    "release step",
    {
        "db-migration": DbMigration,
        "cache-bump": CacheBump,
        "config": ConfigStep,
        "edge-purge": EdgePurge,
        "kafka-consumer": KafkaConsumerCanary,
        "nop": NopStep,
    },
)
