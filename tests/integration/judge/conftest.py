"""One private local stack for the judge's tests: the local stack's latency floor, steady
load, and a way to put any version with any faults on the old color."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from runbooks.core.model import Target
from runbooks.drivers.registry import open_driver
from runbooks.local.load import Load, steady_load
from runbooks.local.services import serve_on_idle_color
from runbooks.metrics.registry import METRICS
from samples.options import Faults
from stackspec.model import Color
from tests.integration.engine.harness import SERVICE, Stack, poll, private_stack, settle

POLICY = {
    "steps": [
        {"weight": 50, "bakeSeconds": 6},
        {"weight": 100, "bakeSeconds": 6},
    ],
    "analysisIntervalSeconds": 2,
    "scaleDownDelaySeconds": 1,
    "failureLimit": 0,
    "consecutiveErrorLimit": 2,
    "inconclusiveLimit": 5,
    "metrics": {"provider": "prometheus", "minWindowSeconds": 5},
    # The floor this machine's noise justifies (stacks/Pulumi.local.yaml, benchmarks/README):
    # at 1 ms, two healthy ~1.3 ms processes read 12% apart at p95 on a CI box and the noise
    # test rolled back. The +40% test at ~30 ms is far above it.
    "thresholds": {"minRequests": 20, "p95LatencyFloorMs": 10},
}
LOAD_RATE = 150.0  # at 40 ms, 16 workers still keep up (16 / 0.04 s = 400 req/s)
_versions = itertools.count(1)


def fresh_version(tag: str) -> str:
    """A version never released before in this module."""
    return f"4.{next(_versions)}.0-{tag}"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The isolated local stack, up; always torn down and removed afterwards."""
    with private_stack("judge-it-", POLICY) as up:
        yield up


@pytest.fixture
def load(stack: Stack) -> Iterator[Load]:
    """Steady user traffic through HAProxy for the test, recording every response."""
    with steady_load(stack.load_url, LOAD_RATE) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_slate(stack: Stack) -> Iterator[None]:
    """Each test starts and ends with no release in progress and no lock held."""
    settle(stack)
    yield
    settle(stack)


def serve_old(stack: Stack, version: str, faults: Faults) -> Color:
    """Put `version` with `faults` on the idle color and make it the active one (traffic and
    the stack's record), so the next release is judged against it; waits until Prometheus
    has its series (the engine's preflight refuses a release without). Returns its color."""
    settings = stack.settings()
    color = serve_on_idle_color(settings, SERVICE, version, faults)
    outputs = open_driver("local", settings).read_outputs("local")
    provider = METRICS.from_stack(settings.rollout.metrics.provider, settings, outputs)

    def measured() -> bool:
        sample = provider.sample(Target(SERVICE, color, version), 5.0)
        return sample.error is None and sample.has_series and sample.requests > 0

    poll(measured, timeout=20, what=f"series for {version} on {color}", every=0.5)
    return color
