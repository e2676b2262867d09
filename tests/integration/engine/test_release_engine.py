"""The release engine end to end: the `runbook` CLI against a real local stack under load.

Given a private local stack (HAProxy, Prometheus, PostgreSQL, Redis, Varnish, the sample
services) with short bake times and steady traffic through HAProxy, each test releases a
version with the CLI as an operator would, and judges the result by what is live (HAProxy's
weights, Redis), what users saw (every response's status, color and version) and what the
journal recorded. Each test starts from whatever color is active, so order does not matter.
"""

from __future__ import annotations

import getpass
import itertools
import json
import os
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

import pytest
import redis

from runbooks.core.model import Weights
from runbooks.journal.base import Event
from runbooks.local.load import Load, failed
from stackspec.model import Color
from tests.integration.engine.conftest import SHORT_POLICY
from tests.integration.engine.harness import (
    SERVICE,
    Stack,
    await_new_release,
    color_pids,
    decisions,
    done_actions,
    finish,
    hits_after,
    in_progress_on_step,
    newest_release,
    poll,
    rollout_args,
    verb_args,
)

pytestmark = pytest.mark.integration

IN_FLIGHT_SECONDS = 0.5
CACHE_KEY = f"trading:{SERVICE}:key-version"
_versions = itertools.count(1)


def fresh_version(tag: str) -> str:
    """A version never released before in this module."""
    return f"1.{next(_versions)}.0-{tag}"


def test_healthy_version_is_promoted_with_no_failed_request(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    version = fresh_version("healthy")

    done = stack.run(*rollout_args(version))
    finished_at = time.time()

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert stack.weights() == Weights.all_on(old.other)
    assert stack.active_color() is old.other
    hits = load.hits()
    assert hits and failed(hits) == 0, [h for h in hits if h.failed][:5]
    after = hits_after(load, finished_at + IN_FLIGHT_SECONDS)
    assert {(h.color, h.version) for h in after} == {(old.other.value, version)}
    status = stack.status()
    assert status["release"]["version"] == version
    assert status["release"]["outcome"] == "promoted"
    assert status["state"]["phase"] == "promoted"
    history = json.loads(stack.run("history", "-s", "local", "--json").stdout)["releases"]
    assert (history[0]["version"], history[0]["outcome"]) == (version, "promoted")


def test_faulty_version_is_rolled_back_automatically(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    version = fresh_version("faulty")

    done = stack.run(*rollout_args(version, "--fault", "error-rate=0.2"))

    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert stack.weights() == Weights.all_on(old)
    assert stack.active_color() is old
    events = stack.journal().events(str(newest_release(stack.journal())))
    restored = rollback_set_weights(events, old)
    assert any(h.version == version and h.failed for h in load.hits()), "the fault was live"
    after = hits_after(load, restored.at + IN_FLIGHT_SECONDS)
    assert version not in {h.version for h in after}
    assert failed(after) == 0


def rollback_set_weights(events: Sequence[Event], old: Color) -> Event:
    """The completed SetWeights putting everything back on `old`, after the rollback began."""
    began = next(
        e.seq for e in events if e.kind == "decision" and e.data["state"]["phase"] == "rolling-back"
    )
    return next(
        e
        for e in events
        if e.seq > began
        and e.kind == "action.done"
        and e.data["action"]["type"] == "SetWeights"
        and e.data["action"]["weights"] == asdict(Weights.all_on(old))
    )


def start_and_kill_on_step_two(stack: Stack, version: str) -> tuple[str, float]:
    """Start a rollout, SIGKILL its engine while step 2 bakes; the release id and kill time.

    Baking means decided AND live: the decision is journaled before its weights are set, so
    a kill right after the decision would find step 1's weights still live.
    """
    new = stack.active_color().other
    before = newest_release(stack.journal())
    proc = stack.start(*rollout_args(version))
    try:
        release_id = await_new_release(stack, before, proc=proc)
        poll(
            lambda: in_progress_on_step(stack, release_id, 1) and stack.weights().of(new) == 50,
            timeout=60,
            what="the rollout to bake step 2",
        )
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.time()
    finally:
        proc.kill()
        proc.communicate()  # reaped: a zombie's pid would still look alive to the lock
    assert proc.returncode == -signal.SIGKILL
    return release_id, killed_at


def test_killed_engine_is_rolled_back_from_its_journal(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    release_id, killed_at = start_and_kill_on_step_two(stack, fresh_version("killed"))

    status = stack.status()
    assert status["release"]["id"] == release_id and status["release"]["running"]
    assert status["engine_alive"] is False
    assert status["weights"] == asdict(Weights.to_new(old.other, 50))
    assert stack.weights() == Weights.to_new(old.other, 50)

    told = stack.run("status", "-s", "local", "--service", SERVICE).stdout
    assert "no engine is running this release" in told
    refused = stack.run(*verb_args("rollback"))
    assert refused.returncode == 4, refused.stderr
    assert stack.weights() == Weights.to_new(old.other, 50), "a refused rollback moves nothing"

    done = stack.run(*verb_args("rollback", "--force"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert stack.weights() == Weights.all_on(old)
    assert stack.active_color() is old
    events = stack.journal().events(release_id)
    phases_before = [
        e.data["state"]["phase"] for e in events if e.kind == "decision" and e.at < killed_at
    ]
    assert "progressing" in phases_before and "rolling-back" not in phases_before
    assert any(
        e.kind == "decision" and e.at > killed_at and e.data["state"]["phase"] == "rolling-back"
        for e in events
    )
    step_two = [
        a
        for a in done_actions(events, "SetWeights")
        if a["weights"] == asdict(Weights.to_new(old.other, 50))
    ]
    assert step_two, "the interrupted step's SetWeights is journaled"
    assert rollback_set_weights(events, old).at > killed_at
    assert events[-1].kind == "release.finished" and events[-1].data["outcome"] == "rolled-back"
    assert failed(load.hits()) == 0


def test_killed_engine_with_a_postgres_journal_is_rolled_back(stack: Stack, load: Load) -> None:
    """The same kill -9 with the team journal (PostgreSQL, the stack's own server)."""
    team = replace(stack, journal_dsn=stack.ends.postgres_dsn)
    old = team.active_color()
    release_id, killed_at = start_and_kill_on_step_two(team, fresh_version("team"))
    assert team.status()["engine_alive"] is False

    done = team.run(*verb_args("rollback", "--force"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert team.weights() == Weights.all_on(old)
    assert team.active_color() is old
    assert rollback_set_weights(team.journal().events(release_id), old).at > killed_at


def test_killed_engine_is_resumed_to_promotion(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    version = fresh_version("resumed")
    release_id, _ = start_and_kill_on_step_two(stack, version)

    done = stack.run(*verb_args("resume", "--force"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert stack.weights() == Weights.all_on(old.other)
    assert stack.active_color() is old.other
    assert stack.journal().release(release_id).outcome == "promoted"
    after = hits_after(load, time.time() + IN_FLIGHT_SECONDS)
    assert {(h.color, h.version) for h in after} == {(old.other.value, version)}
    assert failed(load.hits()) == 0


def test_second_concurrent_rollout_is_refused_naming_the_holder(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    first, second = fresh_version("first"), fresh_version("second")
    procs = [stack.start(*rollout_args(v)) for v in (first, second)]
    try:
        loser = poll(
            lambda: next((p for p in procs if p.poll() is not None), None),
            timeout=60,
            what="one of the two rollouts to stop",
        )
        winner = procs[1 - procs.index(loser)]
        code, _, err = finish(loser)

        assert code == 4, err
        assert winner.poll() is None, "the other rollout goes on"
        for name in (getpass.getuser(), socket.gethostname(), str(winner.pid)):
            assert name in err, f"{name} missing from: {err}"
        poll(lambda: stack.journal().current("local", SERVICE), 30, "the winner's release")
        assert stack.run(*verb_args("abort")).returncode == 0
        assert finish(winner)[0] == 3
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    released = [r.version for r in stack.journal().history("local", SERVICE, 50)]
    assert sorted(v for v in released if v in (first, second)) == [
        first if winner is procs[0] else second
    ]
    assert stack.weights() == Weights.all_on(old)


def test_pause_holds_resume_continues_abort_rolls_back(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    before = newest_release(stack.journal())
    rollout = stack.start(*rollout_args(fresh_version("operated")))
    resumer = None
    try:
        release_id = await_new_release(stack, before, proc=rollout)
        poll(lambda: in_progress_on_step(stack, release_id, 0), 30, "step 1 to bake")

        assert stack.run(*verb_args("pause")).returncode == 0
        held = poll(lambda: paused_past_bake_end(stack, release_id), 30, "a pause past its bake")
        # On a busy machine the pause may land after step 1 ended: it holds whichever step.
        step = int(held["step_index"])
        assert step in (0, 1)
        assert stack.status()["state"]["phase"] == "paused"
        weight = SHORT_POLICY["steps"][step]["weight"]  # type: ignore[index]
        assert stack.weights() == Weights.to_new(old.other, weight)

        if step == 0:  # the next step still bakes long enough to be aborted while it runs
            resumer = stack.start(*verb_args("resume"))
            poll(lambda: in_progress_on_step(stack, release_id, 1), 30, "step 2 after resume")

        assert stack.run(*verb_args("abort")).returncode == 0
        assert finish(rollout)[0] == 3
        if resumer is not None:
            assert finish(resumer)[0] == 3  # it reports the release's outcome
    finally:
        for proc in (rollout, resumer):
            if proc is not None:
                proc.kill()
                proc.communicate()
    assert stack.weights() == Weights.all_on(old)
    assert stack.journal().release(release_id).outcome == "rolled-back"


def paused_past_bake_end(stack: Stack, release_id: str) -> Mapping[str, Any] | None:
    """The release's last decision if it is paused and was taken after its step's bake end."""
    events = [e for e in stack.journal().events(release_id) if e.kind == "decision"]
    state = events[-1].data["state"] if events else None
    if state is None or state["phase"] != "paused" or not state.get("step_started_at"):
        return None
    bake = SHORT_POLICY["steps"][state["step_index"]]["bakeSeconds"]  # type: ignore[index]
    return state if events[-1].at > state["step_started_at"] + bake else None


def test_operator_verbs_without_a_release_in_progress_are_bad_input(stack: Stack) -> None:
    live = stack.weights()
    for verb in ("pause", "abort", "promote", "resume"):
        done = stack.run(*verb_args(verb))
        assert done.returncode == 2, f"{verb}: {done.returncode} {done.stderr}"
        assert "in progress" in done.stderr, done.stderr
    assert stack.weights() == live


def test_rollback_of_a_promoted_release(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    old_version = stack.settings().service(SERVICE).versions.of(old)
    with redis.Redis.from_url(stack.ends.redis_url, decode_responses=True) as client:
        client.set(CACHE_KEY, "3")
        promoted = stack.run(*rollout_args(fresh_version("regretted"), "--step", "cache-bump"))
        assert promoted.returncode == 0, promoted.stdout[-3000:]
        assert stack.weights() == Weights.all_on(old.other)
        assert client.get(CACHE_KEY) == "4"

        done = stack.run(*verb_args("rollback"))

        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert client.get(CACHE_KEY) == "3"
    assert stack.weights() == Weights.all_on(old)
    assert stack.active_color() is old
    after = hits_after(load, time.time() + IN_FLIGHT_SECONDS)
    assert {(h.color, h.version) for h in after} == {(old.value, old_version)}
    assert failed(load.hits()) == 0
    again = stack.run(*verb_args("rollback"))
    assert again.returncode == 2, "a rolled-back release is not rolled back twice"
    assert "nothing to roll back" in again.stderr


def test_release_steps_are_undone_newest_first(stack: Stack, load: Load) -> None:
    old = stack.active_color()
    with redis.Redis.from_url(stack.ends.redis_url, decode_responses=True) as client:
        client.set(CACHE_KEY, "7")

        done = stack.run(
            *rollout_args(
                fresh_version("stepped"),
                "--step",
                "cache-bump",
                "--step",
                "edge-purge",
                "--fault",
                "error-rate=0.2",
            )
        )

        assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
        assert client.get(CACHE_KEY) == "7"
    assert stack.weights() == Weights.all_on(old)
    events = stack.journal().events(str(newest_release(stack.journal())))
    applied = [a["name"] for a in done_actions(events, "ApplyReleaseStep")]
    undone = [a["name"] for a in done_actions(events, "UndoReleaseStep")]
    assert applied == ["cache-bump", "edge-purge"]
    assert undone == ["edge-purge", "cache-bump"]
    bump = next(
        e.data["step"]
        for e in events
        if e.kind == "action.done" and e.data["action"].get("name") == "cache-bump"
    )
    assert (bump["data"]["previous"], bump["data"]["new"]) == (7, 8)


def deploy_events(stack: Stack, release_id: str) -> set[str]:
    """The journal kinds (action.started/done/failed) of the release's Deploy action."""
    events = stack.journal().events(release_id)
    return {e.kind for e in events if (e.data.get("action") or {}).get("type") == "Deploy"}


def deploying(stack: Stack, release_id: str) -> bool:
    """Whether the release's Deploy action started and has not ended."""
    kinds = deploy_events(stack, release_id)
    return "action.started" in kinds and not kinds & {"action.done", "action.failed"}


def test_engine_killed_while_keeping_old_color_warm_is_rolled_back(
    stack: Stack, load: Load
) -> None:
    """Given the engine died after promotion was written, rollback restores the stack record."""
    old = stack.active_color()
    before = newest_release(stack.journal())
    proc = stack.start(*rollout_args(fresh_version("warm")))
    try:
        release_id = await_new_release(stack, before, proc=proc)
        phase = poll(
            lambda: (p := last_phase(stack, release_id)) in ENDED_OR_WARM and p,
            60,
            "promotion (or an end)",
            every=0.02,
        )
        assert phase == "promoting", f"{phase}: {last_reason(stack, release_id)}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert stack.journal().current("local", SERVICE) is not None

    done = stack.run(*verb_args("rollback", "--force"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert stack.weights() == Weights.all_on(old)
    assert stack.active_color() is old
    assert failed(load.hits()) == 0


def test_engine_killed_while_deploying_is_redeployed_on_resume(stack: Stack, load: Load) -> None:
    """Given the engine and its half-started new color died mid-deploy, resume deploys again."""
    old = stack.active_color()
    version = fresh_version("redeployed")
    before = newest_release(stack.journal())
    proc = stack.start(*rollout_args(version))
    try:
        release_id = await_new_release(stack, before, proc=proc)
        poll(lambda: deploying(stack, release_id), 30, "the deploy to start", every=0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert "action.done" not in deploy_events(stack, release_id)
    for pid in color_pids(stack, old.other):  # the half-deployed color dies with its engine
        os.kill(pid, signal.SIGKILL)
    poll(lambda: not color_pids(stack, old.other), 10, "the half-deployed color to die")
    resumer = stack.start(*verb_args("resume", "--force"))
    try:
        poll(
            lambda: resumer.poll() is not None or last_phase(stack, release_id) == "paused",
            timeout=60,
            what="the resumed release to end or stall",
        )
        states = decisions(stack.journal().events(release_id))
        assert resumer.poll() == 0, (
            f"resume did not promote: {states[-1]['phase']}: {states[-1]['reason']}; "
            f"{failed(load.hits())} user requests failed"
        )
        after = hits_after(load, time.time() + IN_FLIGHT_SECONDS)
        assert {(h.color, h.version) for h in after} == {(old.other.value, version)}
    finally:
        if resumer.poll() is None:  # its live engine acts on the rollback intent
            stack.run(*verb_args("rollback"))
        finish(resumer)


ENDED_OR_WARM = ("promoting", "promoted", "rolled-back", "aborted", "paused")


def last_reason(stack: Stack, release_id: str) -> str:
    """Why the release's last decision stands where it does (for failure messages)."""
    states = decisions(stack.journal().events(release_id))
    return str(states[-1].get("reason", "")) if states else "no decision"


def last_phase(stack: Stack, release_id: str) -> str | None:
    """The phase of the release's last journaled decision."""
    states = decisions(stack.journal().events(release_id))
    return str(states[-1]["phase"]) if states else None
