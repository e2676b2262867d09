"""PartitionRouter against an in-memory store: what it writes, what it waits for, the
RouterError naming the color that did not acknowledge or that receives partitions with no
live member, Redis errors retried until the phase deadline, and get_weights on a hand-over
left half done (the real Redis store is exercised by tests/integration/consumers)."""

from __future__ import annotations

import pytest
import redis

from runbooks.core.model import Weights
from runbooks.partition_store import Ack, StaleRecord
from runbooks.partitions import Assignment, handover, initial
from runbooks.routers.by_kind import ByKindRouter
from runbooks.routers.kafka_partitions import PartitionRouter
from runbooks.routers.nop import NopRouter
from stackspec.errors import RouterError
from stackspec.model import Color

SERVICE = "market-data"


class MemoryStore:
    """The PartitionStore interface in memory; members ack each record as it is written
    unless listed in `silent`."""

    service = SERVICE

    def __init__(self, members: dict[str, Color], silent: frozenset[str] = frozenset()) -> None:
        self.record: Assignment | None = None
        self.written: list[Assignment] = []
        self.members = members
        self.silent = silent
        self.epochs = dict.fromkeys(members, -1)
        self.failures: dict[str, int] = {}  # call -> how many more times it raises
        self.reply_lost = False  # the next write is stored, then its reply lost

    def _fail(self, call: str) -> None:
        if self.failures.get(call, 0) > 0:
            self.failures[call] -= 1
            raise redis.ConnectionError(f"{call}: Connection reset by peer")

    def read(self) -> Assignment | None:
        self._fail("read")
        return self.record

    def initialise(self, record: Assignment) -> Assignment:
        self.record = self.record or record
        self._ack_all()
        return self.record

    def write(self, record: Assignment, read_epoch: int | None) -> None:
        self._fail("write")
        assert self.record is not None
        if self.record.epoch != read_epoch:
            raise StaleRecord(f"moved past epoch {read_epoch}")
        self.record = record
        self.written.append(record)
        self._ack_all()
        if self.reply_lost:
            self.reply_lost = False
            raise redis.TimeoutError("Timeout reading from socket")

    def acks(self) -> list[Ack]:
        self._fail("acks")
        return [Ack(c, m, self.epochs[m], ()) for m, c in self.members.items()]

    def close(self) -> None:
        pass

    def _ack_all(self) -> None:
        assert self.record is not None
        for member in self.members:
            if member not in self.silent:
                self.epochs[member] = self.record.epoch


def router(store: MemoryStore, timeout: float = 0.3) -> PartitionRouter:
    return PartitionRouter(
        {SERVICE: {"order-events": 6}}, {SERVICE: Color.BLUE}, lambda _: store, timeout
    )


def test_given_a_share_when_set_then_release_then_take_each_acknowledged() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights(blue=50, green=50))
    release, take = store.written
    assert release.owned_by(Color.GREEN) == () and len(release.owned_by(Color.BLUE)) == 3
    assert len(take.owned_by(Color.GREEN)) == 3
    assert router(store).get_weights(SERVICE) == Weights(blue=50, green=50)


def test_given_the_same_weights_again_then_nothing_is_written() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights(blue=90, green=10))
    written = len(store.written)
    router(store).set_weights(SERVICE, Weights(blue=90, green=10))
    assert len(store.written) == written


def test_given_a_member_that_does_not_ack_then_router_error_names_its_color() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN}, silent=frozenset({"g1"}))
    with pytest.raises(RouterError, match=r"green did not acknowledge partition epoch 1") as err:
        router(store).set_weights(SERVICE, Weights(blue=50, green=50))
    assert "green/g1" in str(err.value) and "rollback" in err.value.hint
    assert len(store.written) == 1  # the take was never written: nothing has two owners


def test_given_no_record_then_get_weights_starts_all_on_the_active_color() -> None:
    store = MemoryStore({})
    assert router(store).get_weights(SERVICE) == Weights.all_on(Color.BLUE)


def test_a_service_that_is_not_a_consumer_is_refused() -> None:
    with pytest.raises(RouterError, match="not a consumer service"):
        router(MemoryStore({})).get_weights("trading-api")


def test_by_kind_sends_consumers_to_the_partition_router_only() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    http = NopRouter()
    built: list[PartitionRouter] = []

    def consumer() -> PartitionRouter:
        built.append(router(store))
        return built[-1]

    by_kind = ByKindRouter(http, consumer, {"trading-api": "http", SERVICE: "consumer"})
    by_kind.set_weights("trading-api", Weights(blue=0, green=100))
    assert built == [] and http.get_weights("trading-api") == Weights(blue=0, green=100)
    by_kind.set_weights(SERVICE, Weights(blue=90, green=10))
    assert len(built) == 1 and store.record is not None
    assert by_kind.get_weights(SERVICE) == Weights(blue=90, green=10)


@pytest.mark.parametrize(
    "members",
    [
        {"b1": Color.BLUE},  # green never started, or every green member's heartbeat expired
        {},
    ],
)
def test_given_a_receiving_color_with_no_live_member_then_the_phase_fails(
    members: dict[str, Color],
) -> None:
    store = MemoryStore(members)
    with pytest.raises(
        RouterError, match=r"green receives 3 partition\(s\) at epoch 2 but no live"
    ):
        router(store).set_weights(SERVICE, Weights(blue=50, green=50))


def test_given_the_live_record_asked_again_then_a_color_owning_partitions_needs_a_member() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights(blue=50, green=50))
    del store.members["g1"]  # green hung: its heartbeat expired
    with pytest.raises(RouterError, match="green receives"):
        router(store).set_weights(SERVICE, Weights(blue=50, green=50))


def test_given_a_rollback_then_only_the_old_color_needs_live_members() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights(blue=50, green=50))
    del store.members["g1"]  # green died: rolling back must not wait for it
    router(store).set_weights(SERVICE, Weights.all_on(Color.BLUE))
    assert store.record is not None and len(store.record.owned_by(Color.BLUE)) == 6


@pytest.mark.parametrize("call", ["read", "write", "acks"])
def test_given_brief_redis_errors_then_the_hand_over_retries_and_completes(call: str) -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights.all_on(Color.BLUE))
    store.failures[call] = 2
    router(store, timeout=5).set_weights(SERVICE, Weights(blue=50, green=50))
    assert store.failures[call] == 0
    assert router(store).get_weights(SERVICE) == Weights(blue=50, green=50)


def test_given_redis_down_past_the_phase_deadline_then_router_error() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights.all_on(Color.BLUE))
    store.failures["acks"] = 10_000
    with pytest.raises(RouterError, match=r"cannot read the acks in the partition store"):
        router(store, timeout=0.5).set_weights(SERVICE, Weights(blue=50, green=50))


def test_given_a_write_whose_reply_was_lost_then_the_retry_finds_it_written() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights.all_on(Color.BLUE))
    store.reply_lost = True
    router(store, timeout=5).set_weights(SERVICE, Weights(blue=50, green=50))
    assert [r.epoch for r in store.written[-2:]] == [1, 2]


def test_given_another_writer_moved_the_record_then_router_error() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights.all_on(Color.BLUE))
    assert store.record is not None
    other = initial(Color.BLUE, {"order-events": 6})
    store.record = Assignment(5, other.base, other.weights, other.topics, other.owners)
    wrong = PartitionRouter(
        {SERVICE: {"order-events": 6}}, {SERVICE: Color.BLUE}, lambda _: _Lagging(store), 0.3
    )
    with pytest.raises(RouterError, match="another engine"):
        wrong.set_weights(SERVICE, Weights(blue=50, green=50))


class _Lagging(MemoryStore):
    """Reads an old record (epoch 0) while the stored one moved on."""

    def __init__(self, inner: MemoryStore) -> None:
        self.__dict__ = inner.__dict__
        self._first = True

    def read(self) -> Assignment | None:
        if self._first:
            self._first = False
            return initial(Color.BLUE, {"order-events": 6})
        return self.record


def test_given_an_engine_stopped_mid_hand_over_then_get_weights_names_resume_and_rollback() -> None:
    store = MemoryStore({"b1": Color.BLUE, "g1": Color.GREEN})
    router(store).set_weights(SERVICE, Weights.all_on(Color.BLUE))
    assert store.record is not None
    release, _take = handover(store.record, Weights(blue=50, green=50), {"order-events": 6})
    store.record = release  # written; the take never was (kill -9)
    with pytest.raises(RouterError, match="hand-over in progress at epoch 1") as err:
        router(store).get_weights(SERVICE)
    assert "order-events:0" in str(err.value)
    assert "runbook resume" in str(err.value) and "runbook rollback" in str(err.value)


def test_given_no_record_then_get_weights_writes_nothing() -> None:
    store = MemoryStore({})
    assert router(store).get_weights(SERVICE) == Weights.all_on(Color.BLUE)
    assert store.record is None and store.written == []
