"""One private local stack for the write-load tests, on free ports, with short bake times."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbooks.local import stack as local_stack
from runbooks.local.endpoints import state_dir_of
from runbooks.local.isolated import isolated_stack
from tests.integration.engine.harness import Stack, stack_of

SHORT_POLICY = {
    "steps": [
        {"weight": 10, "bakeSeconds": 4},
        {"weight": 50, "bakeSeconds": 4},
        {"weight": 100, "bakeSeconds": 2},
    ],
    "analysisIntervalSeconds": 2,
    "scaleDownDelaySeconds": 1,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The isolated local stack, up; always torn down and removed afterwards."""
    # PostgreSQL runs as user postgres: the base dir must be under /tmp and enterable.
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="writes-it-"))
    base.chmod(0o755)
    try:
        settings = isolated_stack(base, SHORT_POLICY)
        try:
            status = local_stack.up(settings, state_dir_of(settings))
            assert status.healthy, status.as_dict()
            yield stack_of(base)
        finally:
            local_stack.down(state_dir_of(settings))
    finally:
        shutil.rmtree(base, ignore_errors=True)  # also when the stack file was refused
