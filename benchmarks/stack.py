"""A private local stack for one benchmark run: free ports, a temp dir, always torn down."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbooks.local import stack as local_stack
from runbooks.local.endpoints import LocalEndpoints, endpoints, state_dir_of
from runbooks.local.isolated import isolated_stack
from stackspec.model import StackSettings

STACK = "local"
SERVICE = "trading-api"
LOAD_PATH = "/orders"
# Short bakes so a whole release takes seconds; the analysis runs as in the local stack.
SHORT_POLICY: dict[str, Any] = {
    "steps": [
        {"weight": 10, "bakeSeconds": 3},
        {"weight": 50, "bakeSeconds": 3},
        {"weight": 100, "bakeSeconds": 3},
    ],
    "analysisIntervalSeconds": 2,
    "scaleDownDelaySeconds": 1,
    "metrics": {"provider": "prometheus", "minWindowSeconds": 5},
}


@dataclass(frozen=True)
class BenchStack:
    """The running stack: its settings as written, its endpoints, and its base dir."""

    settings: StackSettings
    ends: LocalEndpoints
    base_dir: Path

    @property
    def load_url(self) -> str:
        """Where the load goes: HAProxy's frontend, path /orders."""
        return self.ends.haproxy_url + LOAD_PATH


@contextmanager
def bench_stack(policy: Mapping[str, Any] = SHORT_POLICY) -> Iterator[BenchStack]:
    """Bring an isolated local stack up for the `with` block; down and removed on exit.

    The runbooks in this process are pointed at it through RUNBOOK_STACKS_DIR and
    RUNBOOK_STATE_DIR (restored on exit), so `current_settings` and `open_journal` find it.
    """
    # PostgreSQL runs as user postgres: the base dir must be under /tmp and world-searchable.
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="bench-"))
    base.chmod(0o755)
    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    try:
        settings = isolated_stack(base, policy)
        os.environ.update(
            RUNBOOK_STACKS_DIR=str(base / "stacks"), RUNBOOK_STATE_DIR=str(base / "runbook")
        )
        os.environ.pop("RUNBOOK_JOURNAL_DSN", None)  # the journal stays private to this run
        try:
            status = local_stack.up(settings)
            if not status.healthy:
                raise RuntimeError(f"the benchmark stack is not healthy: {status.as_dict()}")
            yield BenchStack(settings, endpoints(settings), base)
        finally:
            local_stack.down(state_dir_of(settings))
    finally:
        _restore(saved)
        shutil.rmtree(base, ignore_errors=True)


_ENV_KEYS = ("RUNBOOK_STACKS_DIR", "RUNBOOK_STATE_DIR", "RUNBOOK_JOURNAL_DSN")


def _restore(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
