"""One private local stack, admin-socket proxy installed, for every short drill."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.drills.harness import DrillStack, drill_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[DrillStack]:
    """The drills' isolated local stack, up; always torn down and removed afterwards."""
    with drill_stack() as up:
        yield up
