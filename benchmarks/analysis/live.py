"""Running the matrix on the benchmark stack: one release per run, every window recorded.

Each run (1) puts the scenario's old version, with its faults, on the idle color and moves
all traffic and the stack's record to it, so the old color carries the scenario's
baseline faults; (2) releases the new version with the engine (`runbooks.release.rollout`,
the product's own path, preflight and budget included) while a recorder wrapped around
the stack's metric provider keeps every SamplePair the engine judged; (3) for the
provider-outage scenario, stops Prometheus (by its recorded pid) at a random moment of a
random step and starts it again afterwards through `runbooks.local.stack.up`.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from benchmarks.analysis.scenarios import NO_SERIES_SUFFIX, Scenario
from benchmarks.figures import flat_events
from benchmarks.judges import Window
from benchmarks.stack import SERVICE, STACK, BenchStack
from runbooks.core.model import Sample, Target
from runbooks.core.plan import ReleasePlan
from runbooks.core.state import Action, ReleasePhase, ReleaseState, SamplePair
from runbooks.drivers.registry import open_driver
from runbooks.local import record
from runbooks.local import stack as local_stack
from runbooks.local.endpoints import state_dir_of
from runbooks.local.services import serve_on_idle_color
from runbooks.metrics.base import MetricProvider
from runbooks.metrics.registry import METRICS
from runbooks.rehearsal.timeline import rollback_times
from runbooks.release import rollout
from runbooks.session import Request, Session, current_settings, open_journal
from samples.options import Faults
from stackspec.model import Color, StackSettings

SERIES_TIMEOUT_SECONDS = 20.0
# A freshly started old process is slow for its first seconds (measured: p95 29 ms against
# 16 ms for the new color in the first window); an old color in a real release is warm.
OLD_WARM_SECONDS = 5.0


@dataclass
class Recorder:
    """Keeps the engine's state as it turns and every window its provider measured."""

    state: ReleaseState | None = None
    windows: list[Window] = field(default_factory=list)
    _baseline: Sample | None = None

    def on_turn(self, state: ReleaseState, actions: Sequence[Action]) -> None:
        """The engine's hook: the state of each decision, before its actions run."""
        self.state = state

    def take(self, target: Target, sample: Sample) -> None:
        """A sample the engine's provider took; the old color's first, then the new one's.

        Samples before the first decision (the preflight) belong to no window.
        """
        state = self.state
        if state is None or state.step_started_at is None:
            return
        if target.color is state.plan.old_color:
            self._baseline = sample
            return
        if self._baseline is not None:
            pair = SamplePair(self._baseline, sample)
            self.windows.append(Window(state.step_index, state.step.weight, sample.at, pair))
            self._baseline = None


class RecordingProvider:
    """A MetricProvider that hands every sample to `sink` as well as to its caller."""

    def __init__(self, inner: MetricProvider, sink: Callable[[Target, Sample], None]) -> None:
        self.inner = inner
        self.sink = sink

    def sample(self, target: Target, window_seconds: float) -> Sample:
        """The inner provider's sample, recorded."""
        sample = self.inner.sample(target, window_seconds)
        self.sink(target, sample)
        return sample


@contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Every release started in the block measures through a RecordingProvider.

    The engine builds its backends itself (`Session.backends`, from the stack's settings
    and outputs); wrapping that one method records what the real provider answered without
    changing how the release runs.
    """
    original = Session.backends

    def build(session: Session, steps: tuple[str, ...]) -> Any:
        backends = original(session, steps)
        backends.metrics = RecordingProvider(backends.metrics, recorder.take)
        return backends

    with mock.patch.object(Session, "backends", build):
        yield


@contextmanager
def policy_applied(bench: BenchStack, policy: Mapping[str, Any]) -> Iterator[None]:
    """The stack file's rollout policy updated with `policy` for the block, then restored.

    Every release reads the stack file anew, so the bench stack (brought up with the other
    sections' short policy) runs this section's releases under its own policy.
    """
    path = bench.base_dir / "stacks" / "Pulumi.local.yaml"
    original = path.read_text(encoding="utf-8")
    document = yaml.safe_load(original)
    key = "trading-platform:rollout"
    document["config"][key] = {**document["config"][key], **policy}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    try:
        current_settings(STACK)  # a policy the schema refuses fails here, before any run
        yield
    finally:
        path.write_text(original, encoding="utf-8")


def put_old_version(bench: BenchStack, version: str, faults: Faults) -> Color:
    """Deploy `version` with `faults` on the idle color and make it the active one (traffic
    and the stack's record), so the next release is judged against it. Returns its color."""
    return serve_on_idle_color(current_settings(STACK), SERVICE, version, faults)


def warm_old(color: Color, version: str, since: float) -> None:
    """Until the old version is measured and has served for OLD_WARM_SECONDS since `since`."""
    wait_for_series(color, version)
    time.sleep(max(0.0, since + OLD_WARM_SECONDS - time.time()))


def wait_for_series(color: Color, version: str) -> None:
    """Until the provider has a series with requests for `version` on `color` (the
    engine's preflight refuses a release without one)."""
    provider = provider_of(current_settings(STACK))
    deadline = time.monotonic() + SERIES_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        sample = provider.sample(Target(SERVICE, color, version), 5.0)
        if sample.error is None and sample.has_series and sample.requests > 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"no series for {SERVICE} {version} on {color} after 20 s")


def provider_of(settings: StackSettings) -> MetricProvider:
    """The stack's metric provider, as the engine builds it."""
    outputs = open_driver(STACK, settings).read_outputs(STACK)
    return METRICS.from_stack(settings.rollout.metrics.provider, settings, outputs)


def stop_prometheus(bench: BenchStack) -> float:
    """Stop the stack's Prometheus by its recorded pid; when it had exited (epoch)."""
    parts = record.load(bench.ends.state_dir)
    parts["prometheus"].server.stop()
    return time.time()


def start_prometheus() -> None:
    """Start whatever part of the stack is down (Prometheus), as `stack up` does."""
    settings = current_settings(STACK)
    status = local_stack.up(settings, state_dir_of(settings))
    if not status.healthy:
        raise RuntimeError(f"the stack did not come back after the outage: {status.as_dict()}")


@dataclass
class Outage:
    """A provider outage planned at `offset` seconds into step `step`; `at` once done."""

    step: int
    offset: float
    at: float | None = None


def plan_outage(plan: ReleasePlan, rng: random.Random) -> Outage:
    """A random analysed step and a random moment of its bake."""
    steps = [i for i, s in enumerate(plan.steps) if s.analysed]
    step = rng.choice(steps)
    return Outage(step, rng.uniform(0, plan.steps[step].bake_seconds))


def _outage_thread(
    bench: BenchStack, recorder: Recorder, outage: Outage, done: threading.Event
) -> threading.Thread:
    def watch() -> None:
        while not done.is_set():
            state = recorder.state
            started = state.step_started_at if state is not None else None
            if (
                state is not None
                and state.phase is ReleasePhase.PROGRESSING
                and state.step_index == outage.step
                and started is not None
                and time.time() >= started + outage.offset
            ):
                outage.at = stop_prometheus(bench)
                return
            time.sleep(0.02)

    return threading.Thread(target=watch, daemon=True)


@dataclass(frozen=True)
class RunResult:
    """What one run of one scenario gave."""

    scenario: str
    index: int
    release_id: str
    outcome: str
    plan: ReleasePlan
    started: float  # the release started (epoch)
    ended: float
    onset: float | None  # the new color first got traffic
    decided: float | None  # the rollback was decided
    restored: float | None  # all traffic verified back
    windows: tuple[Window, ...]
    outage: Outage | None = None
    old_version: str = ""
    new_version: str = ""


def run_once(
    bench: BenchStack, scenario: Scenario, index: int, rng: random.Random, tag: str
) -> RunResult:
    """One release of the scenario's new version against its old one, recorded."""
    old_version = f"1.{index}.0-{tag}-old"
    new_version = f"1.{index}.1-{tag}" + (NO_SERIES_SUFFIX if scenario.no_series else "")
    switched = time.time()
    old_color = put_old_version(bench, old_version, scenario.old)
    warm_old(old_color, old_version, switched)
    recorder = Recorder()
    settings = current_settings(STACK)
    outage = None
    if scenario.stop_provider:
        from runbooks.core.plan import build_plan

        outage = plan_outage(build_plan(settings, SERVICE, new_version, (), None), rng)
    request = Request(STACK, SERVICE, new_version, faults=dataclasses.asdict(scenario.new))
    journal = open_journal(STACK)
    done = threading.Event()
    watcher = _outage_thread(bench, recorder, outage, done) if outage else None
    started = time.time()
    try:
        if watcher is not None:
            watcher.start()
        with recording(recorder):
            session = Session.open(STACK)
            release_id, outcome = rollout(request, session, journal, on_turn=recorder.on_turn)
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        if outage is not None and outage.at is not None:
            start_prometheus()
    ended = time.time()
    events = flat_events(journal.events(release_id))
    decided, restored = rollback_times(events)
    assert recorder.state is not None
    return RunResult(
        scenario.name,
        index,
        release_id,
        outcome.value,
        recorder.state.plan,
        started,
        ended,
        onset_of(events, recorder.state.plan.new_color),
        decided,
        restored,
        tuple(recorder.windows),
        outage,
        old_version,
        new_version,
    )


def onset_of(events: Sequence[Mapping[str, Any]], new: Color) -> float | None:
    """When a verified weight change first gave the new color traffic (epoch)."""
    for event in events:
        action = event.get("action") or {}
        done = event.get("kind") == "action.done" and action.get("type") == "SetWeights"
        if done and int(action["weights"][new.value]) > 0:
            return float(event["at"])
    return None


def record_dir(base: Path | None) -> Path:
    """Where the recorded windows go (never inside the repository)."""
    import tempfile

    path = base or Path(tempfile.mkdtemp(prefix="bench-analysis-", dir="/tmp"))
    path.mkdir(parents=True, exist_ok=True)
    return path
