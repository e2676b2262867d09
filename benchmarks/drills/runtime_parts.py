"""Stopping one recorded process of the drill stack (Prometheus) by its pid."""

from __future__ import annotations

import time

from benchmarks.drills.harness import DrillStack
from runbooks.local import record


def stop_part(stack: DrillStack, name: str) -> float:
    """Stop the stack's `name` process (as recorded by `stack up`); when it had exited."""
    parts = record.load(stack.bench.ends.state_dir)
    parts[name].server.stop()
    return time.time()
