"""Consumer releases under a steady event stream (issue 12): a private consumer rig
(runbooks.local.consumers: broker, Redis, PostgreSQL, both colors of market-data), a
producer at `rate` events/s through the broker, and the partition router.

Figures, each against a baseline of the same run:
- events lost and events applied twice across a release rolled back (10 % -> 50 % -> all
  back on blue) and across one whose new color is killed -9 at 50 % and rolled back:
  produced vs fills written (one per order id), target 0 and 0; the redeliveries the
  order-id key absorbed are in the details;
- consumer lag (sum of `consumer_lag` over both colors, sampled) during each step against
  the same stream with no release;
- time from the consumer fault (kill -9 of the new color) to every partition back on the
  old color (the dead member's heartbeat must expire first: HEARTBEAT_TTL).

`python -m benchmarks consumers` runs it alone; the short form (`short=True`: fewer
seconds per step, a lower rate) is exercised by tests/unit/benchmarks/test_consumer_release.py
for its arithmetic only.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.figures import Figure, ratio
from runbooks.core.model import Weights
from runbooks.local.consumers import SERVICE, ConsumerRig, SteadyProducer, consumer_rig
from runbooks.partition_store import HEARTBEAT_TTL
from stackspec.model import Color

RATE = 500.0  # events per second through the broker, the floor
STEP_SECONDS = 5.0
PRODUCERS = 2  # threads: one flush per record caps a single producer near the floor
SAMPLE_EVERY = 0.5
LAG_TOLERANCE = 3.0  # a step's mean lag may be this many times the no-release lag (+1 event)
BLUE, GREEN = Color.BLUE, Color.GREEN


@dataclass(frozen=True)
class Counted:
    """What a run produced and what was written of it."""

    produced: int
    written: int
    doubled: int  # order ids with more than one fill
    redeliveries: float  # writes that found their fill already there

    @property
    def lost(self) -> int:
        """Events produced and never written."""
        return self.produced - self.written


def measure_consumer_release(
    rate: float = RATE, step_seconds: float = STEP_SECONDS
) -> list[Figure]:
    """Run the rig, measure, tear down; the figures in order."""
    with consumer_rig(Path(tempfile.mkdtemp(prefix="bench-consumers-"))) as rig:
        router = rig.router(phase_timeout=HEARTBEAT_TTL + 20)
        with SteadyProducer(rig.ends.bootstrap_servers, rate, PRODUCERS) as producer:
            baseline = sample_lag(rig, step_seconds)
            steps = {}
            for percent in (10, 50):
                router.set_weights(SERVICE, Weights.to_new(GREEN, percent))
                steps[percent] = sample_lag(rig, step_seconds)
            router.set_weights(SERVICE, Weights.all_on(BLUE))
            steps[0] = sample_lag(rig, step_seconds)
            achieved = producer.achieved_rate
            first = list(producer.produced)
            rolled_back = count(rig, first, redeliveries(rig))
            router.set_weights(SERVICE, Weights.to_new(GREEN, 50))
            time.sleep(step_seconds / 2)  # green consumes its share before it dies
            blue_before = rig.metric(BLUE, "consumer_redeliveries_total")
            restore = _fault_to_restore(
                rig, lambda: router.set_weights(SERVICE, Weights.all_on(BLUE))
            )
            time.sleep(step_seconds / 2)  # the stream keeps flowing on the old color
        absorbed = rig.metric(BLUE, "consumer_redeliveries_total") - blue_before
        faulted = count(rig, producer.produced[len(first) :], absorbed)
    return figures(rate, achieved, baseline, steps, rolled_back, faulted, restore)


def sample_lag(rig: ConsumerRig, seconds: float) -> list[float]:
    """The summed consumer lag of both colors every SAMPLE_EVERY s for `seconds`."""
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(sum(rig.metric(c, "consumer_lag") for c in rig.colors))
        time.sleep(SAMPLE_EVERY)  # a sampling period, not a synchronisation
    return samples


def redeliveries(rig: ConsumerRig) -> float:
    """Writes that found their fill already there, over the running colors."""
    return sum(rig.metric(c, "consumer_redeliveries_total") for c in rig.colors)


def _fault_to_restore(rig: ConsumerRig, rollback: Callable[[], None]) -> float:
    """Seconds from kill -9 of the new color to every partition on the old one."""
    rig.kill(GREEN)
    killed = time.monotonic()
    rollback()
    return time.monotonic() - killed


def count(rig: ConsumerRig, ids: Sequence[int], absorbed: float) -> Counted:
    """Produced vs written for `ids` (waits for the stragglers, 120 s at most)."""
    try:
        written = rig.wait_written(list(ids), timeout=120)
    except TimeoutError:
        written = rig.fills(list(ids))
    return Counted(len(ids), len(written), rig.doubled(list(ids)), absorbed)


def figures(
    rate: float,
    achieved: float,
    baseline: Sequence[float],
    steps: Mapping[int, Sequence[float]],
    rolled_back: Counted,
    faulted: Counted,
    restore_seconds: float,
) -> list[Figure]:
    """The JSON lines' figures from what was measured (pure)."""
    stream = {"rate_asked": rate, "rate_achieved": round(achieved, 1)}
    found = [
        # A hand-over between live colors processes nothing twice: not even a redelivery.
        _loss("consumer_release_rolled_back", rolled_back, stream, rolled_back.redeliveries == 0),
        _loss("consumer_release_new_color_killed", faulted, stream),
    ]
    no_release = _mean(baseline)
    for percent, samples in steps.items():
        lag = _mean(samples)
        found.append(
            Figure(
                name=f"consumer_lag_at_{percent}_percent_vs_no_release",
                value=lag,
                unit="events",
                baseline=no_release,
                comparison="mean summed consumer_lag during the step / with no release",
                target=f"<= {LAG_TOLERANCE:g}x no release + 1 event",
                passed=lag <= LAG_TOLERANCE * no_release + 1,
                details={**stream, "samples": len(samples), "max": max(samples, default=0)},
            )
        )
    found.append(
        Figure(
            name="consumer_fault_to_all_partitions_on_old_color_seconds",
            value=round(restore_seconds, 2),
            unit="s",
            baseline=HEARTBEAT_TTL,
            comparison="kill -9 of the new color to the rollback's last ack / heartbeat TTL",
            target=f"<= heartbeat TTL ({HEARTBEAT_TTL:g} s) + 5 s",
            passed=restore_seconds <= HEARTBEAT_TTL + 5,
            details={"ratio_to_ttl": ratio(restore_seconds, HEARTBEAT_TTL)},
        )
    )
    return found


def _loss(name: str, counted: Counted, stream: dict[str, float], clean: bool = True) -> Figure:
    return Figure(
        name=f"{name}_events_lost_and_applied_twice",
        value=float(counted.lost + counted.doubled),
        unit="events",
        baseline=float(counted.produced),
        comparison="events lost + applied twice / events produced",
        target="0 lost and 0 applied twice",
        passed=counted.lost == 0 and counted.doubled == 0 and clean,
        details={
            **stream,
            "produced": counted.produced,
            "lost": counted.lost,
            "applied_twice": counted.doubled,
            "redeliveries_absorbed_by_the_key": counted.redeliveries,
        },
    )


def _mean(samples: Sequence[float]) -> float:
    return round(statistics.fmean(samples), 2) if samples else 0.0
