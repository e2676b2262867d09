"""The local stack's partition assignments: each consumer service starts with every
partition of its topics on its active color (epoch 0), unless a record exists already
(a release in progress, or one that ended on the other color, is never overwritten).
"""

from __future__ import annotations

from runbooks.partition_store import PartitionStore, topics_of
from runbooks.partitions import Assignment, initial
from stackspec.model import StackSettings


def initialise_assignments(settings: StackSettings, redis_url: str) -> dict[str, Assignment]:
    """Store the initial record of every consumer service that has none; the live records."""
    declared = {t.name: t.partitions for t in settings.streaming.topics}
    live = {}
    for svc in settings.services:
        if svc.kind != "consumer":
            continue
        store = PartitionStore.from_url(redis_url, svc.name)
        try:
            live[svc.name] = store.initialise(
                initial(svc.active_color, topics_of(svc.consumes, declared))
            )
        finally:
            store.close()
    return live
