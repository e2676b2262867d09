"""What a rollout shows while it runs: JSON lines for CI, and the plain log when piped.

Given the module's private local stack (short bakes) under steady load, each test runs a
real `runbook rollout` and reads its output as a CI job or a pipe would: jsonl line by line
while it runs, the piped log whole. (The live view on a terminal is driven through a
pseudo-terminal in tests/unit/cli/test_live_view.py.)
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime

import pytest

from runbooks.local.load import Load
from tests.integration.engine.harness import Stack, finish, rollout_args

pytestmark = pytest.mark.integration

INTERNAL_NAMES = ("SetWeights", "Analyse", "['Wait']", '["Wait"]', "NotifyEvent", "Finish(")
MARKUP = re.compile(r"\[/?(red|green|yellow|cyan|bold|white)\]")
_versions = itertools.count(1)


def fresh_version(tag: str) -> str:
    """A version never released before in this module."""
    return f"2.{next(_versions)}.0-{tag}"


def test_jsonl_prints_each_event_as_it_happens_ending_with_the_outcome(
    stack: Stack, load: Load
) -> None:
    proc = stack.start(*rollout_args(fresh_version("jsonl"), "--output", "jsonl"))
    assert proc.stdout is not None
    first = proc.stdout.readline()
    running_when_first_came = proc.poll() is None
    code, rest, err = finish(proc)

    assert code == 0, err[-3000:] + rest[-3000:]
    assert running_when_first_came, "the first event came only after the rollout ended"
    events = [json.loads(line) for line in [first, *rest.splitlines()]]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "release-started" and kinds[-1] == "outcome"
    assert {"step-started", "weights-set", "window-judged", "decision", "deployed"} <= set(kinds)
    assert events[-1]["outcome"] == "promoted"
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert times == sorted(times) and all(t.utcoffset() is not None for t in times)
    assert all(e["at"].endswith("Z") for e in events)
    steps = [e["name"] for e in events if e["event"] == "step-started"]
    assert steps == ["canary-10", "canary-50", "canary-100"]
    checks = [c for e in events if e["event"] == "window-judged" for c in e["checks"]]
    assert {c["name"] for c in checks} == {"error-rate", "p95-latency", "availability"}
    assert all({"value", "baseline", "threshold", "verdict"} <= set(c) for c in checks)
    text = first + rest
    assert not any(name in text for name in INTERNAL_NAMES) and not MARKUP.search(text)


def test_piped_log_says_each_thing_once_and_the_rollback_reason_once(
    stack: Stack, load: Load
) -> None:
    version = fresh_version("faulty")

    done = stack.run(*rollout_args(version, "--fault", "error-rate=0.3"))

    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line[:2].isdigit()]
    assert lines, done.stdout
    repeated = [a for a, b in itertools.pairwise(lines) if a == b]
    assert not repeated, repeated
    rollback = [line for line in lines if line.startswith("rolling-back: ")]
    assert len(rollback) == 1, done.stdout
    reason = rollback[0].removeprefix("rolling-back: ")
    assert done.stdout.count(reason) == 1
    # The last weights are the old color's, and no line after them names a step's split.
    old = re.search(r" on (blue|green) -> ", lines[0])
    assert old is not None, lines[0]
    weights = [i for i, line in enumerate(lines) if line.startswith("weights ")]
    everything = {"blue": "weights blue 100% / green 0%", "green": "weights blue 0% / green 100%"}
    assert lines[weights[-1]] == everything[old.group(1)]
    assert not any("% to " in line for line in lines[weights[-1] :])
    assert lines[-1].startswith("release ") and " rolled-back after " in lines[-1]
    text = done.stdout + done.stderr
    assert not any(name in text for name in INTERNAL_NAMES) and not MARKUP.search(text)
