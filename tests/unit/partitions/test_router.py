"""PartitionRouter against an in-memory store: what it writes, what it waits for, and the
RouterError naming the color that did not acknowledge (the real Redis store is exercised by
tests/integration/consumers)."""

from __future__ import annotations

import pytest

from runbooks.core.model import Weights
from runbooks.partition_store import Ack
from runbooks.partitions import Assignment
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

    def read(self) -> Assignment | None:
        return self.record

    def initialise(self, record: Assignment) -> Assignment:
        self.record = self.record or record
        self._ack_all()
        return self.record

    def write(self, record: Assignment, read_epoch: int | None) -> None:
        assert self.record is not None and self.record.epoch == read_epoch
        self.record = record
        self.written.append(record)
        self._ack_all()

    def acks(self) -> list[Ack]:
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
    store = MemoryStore({"b1": Color.BLUE})
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
    store = MemoryStore({"b1": Color.BLUE})
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
