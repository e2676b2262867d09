"""The judge on a real local stack (issue 8, "How it is checked"), under steady load.

- Prometheus stopped during the last step: the release is never promoted;
- p95 +40 % at about 30 ms (old color sleeps 28 ms, new 40 ms): rolled back;
- noise (new 0.05 % 5xx vs old 0.03 %, same latency): promoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from runbooks.core.model import Weights
from runbooks.journal.base import Event
from runbooks.local import record
from runbooks.local import stack as local_stack
from runbooks.local.endpoints import state_dir_of
from runbooks.local.load import Load
from samples.options import Faults
from tests.integration.engine.harness import (
    Stack,
    await_new_release,
    decisions,
    in_progress_on_step,
    newest_release,
    poll,
    rollout_args,
)
from tests.integration.judge.conftest import fresh_version, serve_old

OLD_ERROR_RATE = 0.0003
FINISH_TIMEOUT = 90.0


def phases(events: Sequence[Event]) -> list[str]:
    """Every phase the release's journaled decisions went through, in order."""
    return [str(state["phase"]) for state in decisions(events)]


def outcome_of(stack: Stack, release_id: str) -> str | None:
    """The release's recorded outcome (None while it runs)."""
    return stack.journal().release(release_id).outcome


def test_given_prometheus_stops_in_the_last_step_then_the_release_is_not_promoted(
    stack: Stack, load: Load
) -> None:
    # Given a release of a healthy version that has reached its last step (all traffic)
    old = serve_old(stack, fresh_version("old"), Faults(error_rate=OLD_ERROR_RATE))
    before = newest_release(stack.journal())
    proc = stack.start(*rollout_args(fresh_version("outage")))
    try:
        release_id = await_new_release(stack, before, proc=proc)
        poll(
            lambda: in_progress_on_step(stack, release_id, 1) or proc.poll() is not None,
            timeout=60,
            what="the rollout to reach its last step",
            every=0.05,
        )
        if proc.poll() is not None:  # it ended before its last step: say how
            stdout, stderr = proc.communicate()
            raise AssertionError(f"the rollout ended early: {stdout[-3000:]}{stderr[-3000:]}")
        # When Prometheus is stopped (by its recorded pid) while that step bakes
        record.load(stack.ends.state_dir)["prometheus"].server.stop()
        assert in_progress_on_step(stack, release_id, 1), "the outage began inside the step"
        stdout, stderr = proc.communicate(timeout=FINISH_TIMEOUT)
    finally:
        if proc.poll() is None:  # the test failed before the rollout ended: stop it
            proc.kill()
            proc.communicate()
        settings = stack.settings()
        local_stack.up(settings, state_dir_of(settings))  # Prometheus back for later tests

    # Then it is rolled back (exit 3): no decision ever promoted it, all traffic is on old
    events = stack.journal().events(release_id)
    assert proc.returncode == 3, stdout[-3000:] + stderr[-3000:]
    assert not {"promoting", "promoted"} & set(phases(events)), phases(events)
    assert outcome_of(stack, release_id) == "rolled-back"
    assert stack.weights() == Weights.all_on(old)
    assert stack.active_color() is old


def test_given_p95_40_percent_slower_at_30ms_then_the_release_is_rolled_back(
    stack: Stack, load: Load
) -> None:
    # Given the old color answering in about 30 ms (28 ms of sleep, plus its own work)
    old = serve_old(
        stack, fresh_version("old"), Faults(error_rate=OLD_ERROR_RATE, added_latency_ms=28)
    )
    version = fresh_version("slower")

    # When a version 40 % slower is released
    done = stack.run(*rollout_args(version, "--fault", "added-latency-ms=40"), timeout=90)

    # Then the latency measurement fails it and every request is back on the old color
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    release_id = str(newest_release(stack.journal()))
    reasons = [str(s.get("reason", "")) for s in decisions(stack.journal().events(release_id))]
    assert any("p95-latency" in r for r in reasons), reasons[-3:]
    assert stack.weights() == Weights.all_on(old)
    assert stack.active_color() is old
    slow = [h for h in load.hits() if h.version == version and not h.failed]
    assert slow and min(h.seconds for h in slow) >= 0.040, "the new version was 40 ms slow"


def test_given_error_noise_under_the_effect_then_the_release_is_promoted(
    stack: Stack, load: Load
) -> None:
    # Given the old color failing 0.03 % of requests
    old = serve_old(stack, fresh_version("old"), Faults(error_rate=OLD_ERROR_RATE))
    version = fresh_version("noise")

    # When a version failing 0.05 % (0.02 pp more, under the 0.1 pp effect) is released
    done = stack.run(*rollout_args(version, "--fault", "error-rate=0.0005"), timeout=90)

    # Then it is promoted: all traffic on the new color, recorded as the active one
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert stack.weights() == Weights.all_on(old.other)
    assert stack.active_color() is old.other
    assert outcome_of(stack, str(newest_release(stack.journal()))) == "promoted"
