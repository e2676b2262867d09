"""One private local stack per test module, on free ports, with short bake times."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbooks.local import stack as local_stack
from runbooks.local.endpoints import state_dir_of
from runbooks.local.isolated import isolated_stack
from runbooks.local.load import Load, steady_load
from tests.integration.engine.harness import SERVICE, Stack, stack_of, verb_args

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
    # PostgreSQL runs as user postgres: the base dir must be under /tmp and enterable.
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="engine-it-"))
    base.chmod(0o755)
    settings = isolated_stack(base, SHORT_POLICY)
    try:
        status = local_stack.up(settings, state_dir_of(settings))
        assert status.healthy, status.as_dict()
        yield stack_of(base)
    finally:
        local_stack.down(state_dir_of(settings))
        shutil.rmtree(base, ignore_errors=True)


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
    _settle(stack)
    yield
    _settle(stack)


def _settle(stack: Stack) -> None:
    journal = stack.journal()
    if journal.current("local", SERVICE) is not None or journal.lock_holder("local"):
        stack.run(*verb_args("rollback", "--force"))
