"""Consumer releases by partition shares on the real broker, Redis and PostgreSQL
(runbooks.local.consumers): both colors of market-data in one offset group, the
PartitionRouter moving partitions under a steady producer. Every test starts with every
partition on blue and both colors running, and counts events produced against fills
written (one per order id) and redeliveries (a write that found its fill already there),
also with a faulty new color whose failed records are retried, not committed past."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runbooks.core.model import Weights
from runbooks.local.consumers import SERVICE, ConsumerRig, SteadyProducer, consumer_rig
from runbooks.partition_store import HEARTBEAT_TTL
from runbooks.partitions import Assignment
from samples.options import Faults
from stackspec.model import Color

pytestmark = pytest.mark.integration

BLUE, GREEN = Color.BLUE, Color.GREEN
RATE = 100.0  # events per second
ALL = [f"order-events:{p}" for p in range(6)]


@pytest.fixture(scope="module")
def module_rig() -> Iterator[ConsumerRig]:
    with consumer_rig(Path(tempfile.mkdtemp(prefix="consumers-"))) as started:
        yield started


@pytest.fixture
def rig(module_rig: ConsumerRig) -> ConsumerRig:
    """Both colors running, every partition on blue."""
    for color in Color:
        server = module_rig.colors.get(color)
        if server is None or not server.alive():
            module_rig.start_color(color)
    module_rig.router().set_weights(SERVICE, Weights.all_on(BLUE))
    return module_rig


def redeliveries(rig: ConsumerRig) -> float:
    return sum(rig.metric(c, "consumer_redeliveries_total") for c in rig.colors)


def test_given_phased_shares_then_1_3_6_of_6_partitions_move_and_each_event_is_written_once(
    rig: ConsumerRig,
) -> None:
    router, before = rig.router(), redeliveries(rig)
    with SteadyProducer(rig.ends.bootstrap_servers, RATE) as producer:
        for percent, moved in ((10, 1), (50, 3), (100, 6)):
            router.set_weights(SERVICE, Weights.to_new(GREEN, percent))
            assert rig.owned(GREEN) == ALL[:moved]
            assert rig.owned(BLUE) == ALL[moved:]
            assert router.get_weights(SERVICE) == Weights.to_new(GREEN, percent)
            time.sleep(1)  # let events flow on this share
    written = rig.wait_written(producer.produced)
    assert producer.failed == 0 and len(written) == len(producer.produced) > 0
    assert set(written.values()) == {"blue", "green"}
    assert redeliveries(rig) == before  # nothing processed by both colors


def test_given_a_rollback_under_a_steady_stream_then_all_go_back_nothing_lost_or_doubled(
    rig: ConsumerRig,
) -> None:
    router, before = rig.router(), redeliveries(rig)
    with SteadyProducer(rig.ends.bootstrap_servers, RATE) as producer:
        router.set_weights(SERVICE, Weights.to_new(GREEN, 50))
        time.sleep(1)
        router.set_weights(SERVICE, Weights.all_on(BLUE))
        after_rollback = len(producer.produced)
        time.sleep(1)
    assert rig.owned(BLUE) == ALL and rig.owned(GREEN) == []
    written = rig.wait_written(producer.produced)
    assert len(written) == len(producer.produced)
    assert redeliveries(rig) == before
    # Events produced once the rollback returned are written by the old color only.
    assert {written[i] for i in producer.produced[after_rollback:]} == {"blue"}


def test_given_the_engine_killed_between_the_phases_then_a_rollback_is_consistent(
    rig: ConsumerRig,
) -> None:
    before = redeliveries(rig)
    with SteadyProducer(rig.ends.bootstrap_servers, RATE) as producer:
        # Green cannot ack while stopped: the engine is held in phase 1 until killed.
        green = rig.colors[GREEN]
        os.kill(green.pid, signal.SIGSTOP)
        try:
            engine = subprocess.Popen([sys.executable, "-c", _engine_script(rig, 50)])
            held = _wait_for_release_phase(rig)
            engine.kill()  # kill -9
            engine.wait(10)
        finally:
            os.kill(green.pid, signal.SIGCONT)
        assert len(held.owned_by(BLUE)) == 3 and held.owned_by(GREEN) == ()
        rig.router().set_weights(SERVICE, Weights.all_on(BLUE))
        time.sleep(1)
    assert rig.owned(BLUE) == ALL and rig.owned(GREEN) == []
    written = rig.wait_written(producer.produced)
    assert len(written) == len(producer.produced)
    assert redeliveries(rig) == before


def test_given_a_dead_new_color_then_the_rollback_is_not_blocked(rig: ConsumerRig) -> None:
    router = rig.router(phase_timeout=HEARTBEAT_TTL + 10)
    with SteadyProducer(rig.ends.bootstrap_servers, RATE) as producer:
        router.set_weights(SERVICE, Weights.to_new(GREEN, 50))
        time.sleep(1)
        rig.kill(GREEN)
        killed = time.monotonic()
        router.set_weights(SERVICE, Weights.all_on(BLUE))
        took = time.monotonic() - killed
        time.sleep(1)
    assert took < HEARTBEAT_TTL + 5  # green's heartbeat expired; nobody waited longer
    assert rig.owned(BLUE) == ALL
    # Records green wrote without committing come again to blue: written once, none lost.
    written = rig.wait_written(producer.produced)
    assert len(written) == len(producer.produced)


def test_given_a_faulty_new_color_then_its_failed_records_are_retried_none_lost(
    rig: ConsumerRig,
) -> None:
    """Green fails 20% of its records (--error-rate 0.2, the injected processing fault):
    failed records are not committed but retried, so after the rollback hands green's
    partitions back, blue goes on from the committed offsets and every event is written."""
    rig.start_color(GREEN, "1.1.0", Faults(error_rate=0.2))
    try:
        router = rig.router()
        with SteadyProducer(rig.ends.bootstrap_servers, RATE) as producer:
            router.set_weights(SERVICE, Weights.to_new(GREEN, 50))
            _wait_for(lambda: rig.metric(GREEN, "consumer_errors_total") >= 5, "green to fail")
            router.set_weights(SERVICE, Weights.all_on(BLUE))
            rolled_back = len(producer.produced)
            _wait_for(lambda: len(producer.produced) > rolled_back + RATE / 2, "more events")
        assert rig.owned(BLUE) == ALL and rig.owned(GREEN) == []
        written = rig.wait_written(producer.produced)
        assert producer.failed == 0 and len(written) == len(producer.produced) > 0
        assert rig.doubled(producer.produced) == 0
    finally:
        rig.start_color(GREEN)  # the next test's green is healthy


def _wait_for(done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:g}s for {what}")
        time.sleep(0.1)


def _engine_script(rig: ConsumerRig, percent: int) -> str:
    return (
        "from runbooks.core.model import Weights\n"
        "from runbooks.partition_store import PartitionStore\n"
        "from runbooks.routers.kafka_partitions import PartitionRouter\n"
        "from stackspec.model import Color\n"
        f"router = PartitionRouter({{'{SERVICE}': {{'order-events': 6}}}}, "
        f"{{'{SERVICE}': Color.BLUE}}, "
        f"lambda s: PartitionStore.from_url('{rig.ends.redis_url}', s))\n"
        f"router.set_weights('{SERVICE}', Weights.to_new(Color.GREEN, {percent}))\n"
    )


def _wait_for_release_phase(rig: ConsumerRig, timeout: float = 20.0) -> Assignment:
    """The record once the engine wrote its first phase (some partition owned by nobody)."""
    store = rig.store()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = store.read()
            if record is not None and len(record.owned_by(BLUE)) + len(record.owned_by(GREEN)) < 6:
                return record
            time.sleep(0.01)
    finally:
        store.close()
    raise TimeoutError("the engine never wrote its release phase")
