"""One private local stack for the write-load tests, on free ports, with short bake times."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.engine.harness import Stack, private_stack

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
    with private_stack("writes-it-", SHORT_POLICY) as up:
        yield up
