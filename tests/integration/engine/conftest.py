"""One private local stack per test module, on free ports, with short bake times."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runbooks.local.load import Load, steady_load
from tests.integration.engine.harness import Stack, private_stack, settle

FIRST_BAKE_SECONDS = 4
SHORT_POLICY = {
    "steps": [
        {"weight": 10, "bakeSeconds": FIRST_BAKE_SECONDS},
        {"weight": 50, "bakeSeconds": 4},
        {"weight": 100, "bakeSeconds": 2},
    ],
    "analysisIntervalSeconds": 2,
    "scaleDownDelaySeconds": 1,
}
LOAD_RATE = 150.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The isolated local stack, up; always torn down and removed afterwards."""
    with private_stack("engine-it-", SHORT_POLICY) as up:
        yield up


@pytest.fixture
def load(stack: Stack) -> Iterator[Load]:
    """Steady user traffic through HAProxy for the test, recording every response."""
    with steady_load(stack.load_url, LOAD_RATE) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_slate(stack: Stack) -> Iterator[None]:
    """Each test starts and ends with no release in progress and no lock held.

    A test that fails mid-rollout kills its engine: without this, its unfinished release
    and stale lock would fail every later test of the module for the wrong reason.
    """
    settle(stack)
    yield
    settle(stack)
