"""A short real release on nop backends, shown as `runbook rollout` shows one.

    python -m tests.unit.cli.live_driver text|json|jsonl

The engine runs on the wall clock (bakes of 2s and 1s, a check a second) with a healthy
metric provider; its turns go through `follow()`, so a test can put a pseudo-terminal or a
pipe on stdout and see the live view or the plain log.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from runbooks.cli.events import StreamContext
from runbooks.cli.live import Output, follow
from runbooks.core.model import Sample, Target
from runbooks.core.plan import build_plan
from runbooks.core.state import ReleaseState
from runbooks.drivers.nop import NopDriver
from runbooks.engine import Clock, Engine
from runbooks.journal.sqlite import SqliteJournal
from runbooks.notifiers.nop import NopNotifier
from runbooks.performer import Backends, Performer
from runbooks.routers.nop import NopRouter
from runbooks.steps.base import StepContext
from stackspec.model import Color
from tests.unit.core.builders import make_settings


class Healthy:
    """Both colors answer every request, at 10 ms."""

    def sample(self, target: Target, window_seconds: float) -> Sample:
        return Sample(target.color, 1000, 0, 0.01, time.time())


STEPS = [{"weight": 20, "bakeSeconds": 2}, {"weight": 100, "bakeSeconds": 1}]


def main(output: Output) -> None:
    """Release trading-api 2.0.0 to green, shown as `output`."""
    settings = make_settings(steps=STEPS, analysisIntervalSeconds=1, scaleDownDelaySeconds=0)
    plan = build_plan(settings, "trading-api", "2.0.0")
    journal = SqliteJournal(Path(tempfile.mkdtemp()) / "journal.sqlite3")
    state = ReleaseState(plan)
    release_id = journal.start_release("local", "trading-api", "2.0.0", {"state": state.to_dict()})
    backends = Backends(NopRouter(), Healthy(), NopDriver(settings), NopNotifier())
    context = StepContext("local", "trading-api", "2.0.0", Color.BLUE, Color.GREEN)
    performer = Performer(backends, context, lambda name: None)
    with follow(output, journal, StreamContext("local"), lambda: release_id) as follower:
        engine = Engine(journal, release_id, performer, Clock(), follower.on_turn)
        engine.run(state)
        follower.finish(release_id)


if __name__ == "__main__":
    main(Output(sys.argv[1]))
