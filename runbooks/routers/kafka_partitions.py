"""Traffic router for consumer services: moves partitions, not requests.

`set_weights(service, weights)` turns the weights into partition shares and hands the
moving partitions over in two phases (`runbooks.partitions.handover`): it writes each
record to the store (`runbooks.partition_store`, Redis) and waits until every live member
of both colors has acknowledged its epoch, `phase_timeout` seconds at most per phase
(RouterError naming the color and members that did not ack). A member whose heartbeat
expired is dead: it owns nothing and is not waited for. Asking again for what is live writes
nothing and only waits for the acks of the live record, so a run killed between or inside
the phases is completed (or undone) by asking again.

With no record yet, the first call stores epoch 0: every partition on the service's active
color as the stack's settings know it (the local stack's `up` stores the same). Consumers
with no record consume nothing, so no two colors ever start on the same partition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import redis

from runbooks.core.model import Weights
from runbooks.partition_store import PartitionStore, StaleRecord
from runbooks.partitions import Assignment, handover, initial
from stackspec.errors import BadInput, RouterError
from stackspec.model import Color

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings

PHASE_TIMEOUT = 30.0  # > the heartbeat TTL: a member dying mid-phase expires before it
POLL_INTERVAL = 0.1


class PartitionRouter:
    """Sets and reads the partition shares of consumer services (see the module docstring).

    `topics`: service -> {topic: partitions} it consumes; `active`: service -> the color
    that holds everything before any record exists; `store_of(service)` opens the store.
    """

    def __init__(
        self,
        topics: Mapping[str, Mapping[str, int]],
        active: Mapping[str, Color],
        store_of: Callable[[str], PartitionStore],
        phase_timeout: float = PHASE_TIMEOUT,
    ) -> None:
        self._topics = {s: dict(t) for s, t in topics.items()}
        self._active = dict(active)
        self._store_of = store_of
        self._phase_timeout = phase_timeout

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> PartitionRouter:
        """The router of the stack's consumer services, on the Redis the cache-bump step uses
        (output `local.redisUrl`, else RUNBOOK_REDIS_URL)."""
        from runbooks.steps.stack_options import cache_options

        url = cache_options(settings, outputs)["redis_url"]
        if not url:
            raise BadInput(
                f"the kafka-partitions router needs Redis, which stack '{outputs.stack}' "
                "does not give",
                hint="export RUNBOOK_REDIS_URL=rediss://... (a secret)",
            )
        declared = {t.name: t.partitions for t in settings.streaming.topics}
        consumers = [s for s in settings.services if s.kind == "consumer"]
        return cls(
            {s.name: {t: declared[t] for t in s.consumes} for s in consumers},
            {s.name: s.active_color for s in consumers},
            lambda service: PartitionStore.from_url(url, service),
        )

    def set_weights(self, service: str, weights: Weights) -> None:
        """Hand partitions over until `weights` is live and acknowledged by every member."""
        store = self._store(service)
        try:
            current = self._current(store, service)
            phases = handover(current, weights, self._topics[service])
            for record in phases:
                self._write(store, record, current.epoch)
                self._await_acks(store, record)
                current = record
            if not phases:
                self._await_acks(store, current)
        finally:
            store.close()

    def get_weights(self, service: str) -> Weights:
        """The weights of the last completed hand-over, from the store."""
        store = self._store(service)
        try:
            return self._current(store, service).weights
        finally:
            store.close()

    def assignment(self, service: str) -> Assignment:
        """The live record of `service` (for status views and tests)."""
        store = self._store(service)
        try:
            return self._current(store, service)
        finally:
            store.close()

    def _store(self, service: str) -> PartitionStore:
        if service not in self._topics:
            raise RouterError(
                f"{service} is not a consumer service of this stack",
                hint=f"consumer services: {', '.join(sorted(self._topics)) or 'none'}",
            )
        return self._store_of(service)

    def _current(self, store: PartitionStore, service: str) -> Assignment:
        try:
            found = store.read()
            if found is None:
                found = store.initialise(initial(self._active[service], self._topics[service]))
        except (ValueError, redis.RedisError) as err:
            raise RouterError(
                f"cannot read the partition assignment of {service}: {err}",
                hint="check that the stack's Redis answers (runbook status)",
            ) from None
        return found

    def _write(self, store: PartitionStore, record: Assignment, read_epoch: int) -> None:
        try:
            store.write(record, read_epoch)
        except StaleRecord as err:
            raise RouterError(
                f"{store.service}: {err}", hint="another engine moves its partitions; retry"
            ) from None
        except redis.RedisError as err:
            raise RouterError(f"cannot write the assignment of {store.service}: {err}") from None

    def _await_acks(self, store: PartitionStore, record: Assignment) -> None:
        deadline = time.monotonic() + self._phase_timeout
        while True:
            try:
                behind = [a for a in store.acks() if a.epoch < record.epoch]
            except redis.RedisError as err:
                raise RouterError(f"cannot read the acks of {store.service}: {err}") from None
            if not behind:
                return
            if time.monotonic() >= deadline:
                colors = sorted({a.color.value for a in behind})
                members = ", ".join(f"{a.color}/{a.member} at {a.epoch}" for a in behind)
                raise RouterError(
                    f"{store.service}: {' and '.join(colors)} did not acknowledge partition "
                    f"epoch {record.epoch} within {self._phase_timeout:g}s ({members})",
                    hint="check those consumers' logs and /health; "
                    "set the weights again (runbook rollback) to finish the hand-over",
                )
            time.sleep(POLL_INTERVAL)
