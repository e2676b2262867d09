"""Traffic router for consumer services: moves partitions, not requests.

`set_weights(service, weights)` turns the weights into partition shares and hands the
moving partitions over in two phases (`runbooks.partitions.handover`): it writes each
record to the store (`runbooks.partition_store`, Redis) and waits until every live member
of both colors has acknowledged its epoch, `phase_timeout` seconds at most per phase
(RouterError naming the color and members that did not ack). A member whose heartbeat
expired is dead: it owns nothing and is not waited for; but a color that RECEIVES
partitions in a phase (`runbooks.partitions.receivers`) must have at least one live member
acknowledging it, else the phase fails too (RouterError): a hung or dead color is never
given partitions nobody reads. Asking again for what is live writes nothing and only waits
for the acks of the live record (every color owning partitions then needs a live member),
so a run killed between or inside the phases is completed (or undone) by asking again.

Redis errors while `set_weights` reads, writes or polls are retried with backoff
(tenacity) until the phase's deadline: a brief Redis blip does not fail (and roll back) a
release. A write retried after an error whose reply was lost finds its own record stored,
which counts as written. Reads for `get_weights`/`assignment` (status, the preflight's
reachability check) are not retried: a stack that is down is reported at once.

With no record yet, `set_weights` first stores epoch 0: every partition on the service's
active color as the stack's settings know it (the local stack's `up` stores the same);
`get_weights` writes nothing and reports those weights. Consumers with no record consume
nothing, so no two colors ever start on the same partition. `get_weights` raises
RouterError while a record leaves partitions owned by no color (a hand-over in progress,
or an engine stopped between the phases), naming resume and rollback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import redis
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from runbooks.core.model import Weights
from runbooks.partition_store import Ack, PartitionStore, StaleRecord
from runbooks.partitions import Assignment, handover, initial, receivers, unowned
from stackspec.errors import BadInput, RouterError
from stackspec.model import Color

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings

PHASE_TIMEOUT = 30.0  # > the heartbeat TTL: a member dying mid-phase expires before it
POLL_INTERVAL = 0.1
RETRY_WAIT_MAX = 2.0  # seconds: the longest wait between two tries of a Redis call

T = TypeVar("T")
log = logging.getLogger(__name__)


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
            deadline = time.monotonic() + self._phase_timeout
            current = self._retried(store, deadline, "read", lambda: self._stored(store))
            phases = handover(current, weights, self._topics[service])
            for record in phases:
                self._write(store, record, current.epoch, deadline)
                self._await_acks(store, record, receivers(current, record), deadline)
                current = record
                deadline = time.monotonic() + self._phase_timeout
            if not phases:
                self._await_acks(store, current, receivers(None, current), deadline)
        finally:
            store.close()

    def get_weights(self, service: str) -> Weights:
        """The weights of the last completed hand-over, from the store (written nothing);
        RouterError while some partition is owned by no color (a hand-over in progress)."""
        record = self.assignment(service)
        stranded = unowned(record)
        if stranded:
            raise RouterError(
                f"{service}: partition hand-over in progress at epoch {record.epoch}: "
                f"{', '.join(stranded)} owned by no color; if no release is running, finish "
                "it with runbook resume or undo it with runbook rollback",
                hint="runbook status shows whether a release is running",
            )
        return record.weights

    def assignment(self, service: str) -> Assignment:
        """The live record of `service` (for status views and tests); without one, what
        `set_weights` would store first (nothing is written)."""
        store = self._store(service)
        try:
            found = store.read()
        except (ValueError, redis.RedisError) as err:
            raise RouterError(
                f"cannot read the partition assignment of {service}: {err}",
                hint="check that the stack's Redis answers (runbook status)",
            ) from None
        finally:
            store.close()
        return found or initial(self._active[service], self._topics[service])

    def _store(self, service: str) -> PartitionStore:
        if service not in self._topics:
            raise RouterError(
                f"{service} is not a consumer service of this stack",
                hint=f"consumer services: {', '.join(sorted(self._topics)) or 'none'}",
            )
        return self._store_of(service)

    def _stored(self, store: PartitionStore) -> Assignment:
        """The record, stored first when there is none (RouterError when it is malformed)."""
        try:
            found = store.read()
            if found is None:
                service = store.service
                found = store.initialise(initial(self._active[service], self._topics[service]))
        except ValueError as err:
            raise RouterError(
                f"cannot read the partition assignment of {store.service}: {err}",
                hint="delete the malformed record, or set it right, then retry",
            ) from None
        return found

    def _retried(
        self, store: PartitionStore, deadline: float, what: str, call: Callable[[], T]
    ) -> T:
        """`call()`, tried again on Redis errors (exponential backoff) until `deadline`;
        RouterError with the last error once it has passed."""

        def warn(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: %s the partition store failed, retrying: %s", store.service, what, error
            )

        retrying = Retrying(
            retry=retry_if_exception_type(redis.RedisError),
            stop=stop_after_delay(max(deadline - time.monotonic(), 0.0)),
            wait=wait_exponential(multiplier=POLL_INTERVAL, max=RETRY_WAIT_MAX),
            before_sleep=warn,
            reraise=True,
        )
        try:
            return retrying(call)
        except redis.RedisError as err:
            raise RouterError(
                f"cannot {what} the partition store of {store.service} "
                f"within {self._phase_timeout:g}s: {err}",
                hint="check that the stack's Redis answers; set the weights again "
                "(runbook rollback) to finish the hand-over",
            ) from None

    def _write(
        self, store: PartitionStore, record: Assignment, read_epoch: int, deadline: float
    ) -> None:
        try:
            self._retried(store, deadline, "write", lambda: store.write(record, read_epoch))
        except StaleRecord as err:
            # A retry after a write whose reply was lost finds its own record: written.
            stored = self._retried(store, deadline, "read", store.read)
            if stored is None or stored.as_json() != record.as_json():
                raise RouterError(
                    f"{store.service}: {err}", hint="another engine moves its partitions; retry"
                ) from None

    def _await_acks(
        self,
        store: PartitionStore,
        record: Assignment,
        needed: tuple[Color, ...],
        deadline: float,
    ) -> None:
        """Until every live member acked `record`, and each color in `needed` (receiving
        partitions) has a live member that did; RouterError at `deadline`."""
        while True:
            acks = self._retried(store, deadline, "read the acks in", store.acks)
            behind = [a for a in acks if a.epoch < record.epoch]
            acked = {a.color for a in acks if a.epoch >= record.epoch}
            unread = [c for c in needed if c not in acked]
            if not behind and not unread:
                return
            if time.monotonic() >= deadline:
                raise self._unacknowledged(store, record, behind, unread)
            time.sleep(POLL_INTERVAL)

    def _unacknowledged(
        self,
        store: PartitionStore,
        record: Assignment,
        behind: list[Ack],
        unread: list[Color],
    ) -> RouterError:
        problems = []
        if behind:
            colors = sorted({a.color.value for a in behind})
            members = ", ".join(f"{a.color}/{a.member} at {a.epoch}" for a in behind)
            problems.append(
                f"{' and '.join(colors)} did not acknowledge partition epoch {record.epoch} "
                f"within {self._phase_timeout:g}s ({members})"
            )
        for color in unread:
            problems.append(
                f"{color} receives {len(record.owned_by(color))} partition(s) at epoch "
                f"{record.epoch} but no live {color} member acknowledged it within "
                f"{self._phase_timeout:g}s (hung, dead or not started)"
            )
        return RouterError(
            f"{store.service}: {'; '.join(problems)}",
            hint="check those consumers' logs and /health; "
            "set the weights again (runbook rollback) to finish the hand-over",
        )
