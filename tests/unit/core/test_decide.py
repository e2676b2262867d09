"""decide() driven to the end by a fake engine (tests/unit/core/sim.py): fake clock, scripted
traffic and failures, scripted operator. Read as given / when / then."""

from __future__ import annotations

import json
from typing import Any

from runbooks.core.decide import decide
from runbooks.core.model import Phase, Sample, Weights
from runbooks.core.plan import build_plan
from runbooks.core.state import (
    Action,
    Analyse,
    ApplyReleaseStep,
    ContractReleaseStep,
    Deploy,
    EventKind,
    Finish,
    Intent,
    NotifyEvent,
    Observation,
    Outcome,
    ReleasePhase,
    ReleaseState,
    SamplePair,
    SetWeights,
    UndoReleaseStep,
    Verb,
    WriteStackState,
    action_from_dict,
    action_to_dict,
)
from stackspec.model import Color
from tests.unit.core.builders import make_settings
from tests.unit.core.sim import Operator, Sim, Traffic

RELEASE_STEPS = ("db-migration", "cache-bump", "edge-purge")
CANARY: dict[str, Any] = {
    "steps": [
        {"weight": 10, "bakeSeconds": 60},
        {"weight": 50, "bakeSeconds": 60},
        {"weight": 100, "bakeSeconds": 30},
    ],
    "analysisIntervalSeconds": 15,
    "failureLimit": 1,
    "consecutiveErrorLimit": 4,
    "inconclusiveLimit": 3,
    "scaleDownDelaySeconds": 30,
}
OLD_WEIGHTS = Weights(blue=100, green=0)


def release(**policy: Any) -> ReleaseState:
    """A fresh release of trading-api 2.0.0 (blue 1.0.0 active) under CANARY + `policy`."""
    settings = make_settings(**{**CANARY, **policy})
    return ReleaseState(plan=build_plan(settings, "trading-api", "2.0.0", RELEASE_STEPS))


def outcome(sim: Sim) -> Outcome:
    finish = sim.actions(Finish)[-1]
    assert isinstance(finish, Finish)
    return finish.outcome


def undo_order(sim: Sim) -> list[str]:
    return [a.name for a in sim.actions(UndoReleaseStep) if isinstance(a, UndoReleaseStep)]


def assert_rolled_back_in_order(sim: Sim) -> None:
    """Weights on the old color first, then release steps undone newest first, then Finish."""
    restore = SetWeights("trading-api", OLD_WEIGHTS)
    undos = [UndoReleaseStep(n) for n in reversed(RELEASE_STEPS)]
    positions = [sim.index(restore)] + [sim.index(u) for u in undos]
    assert positions == sorted(positions)
    assert undo_order(sim) == list(reversed(RELEASE_STEPS))
    assert outcome(sim) is Outcome.ROLLED_BACK


def test_given_a_healthy_canary_when_driven_then_steps_apply_traffic_rises_and_it_promotes() -> (
    None
):
    sim = Sim()

    state = sim.run(release())

    assert state.phase is ReleasePhase.PROMOTED
    applied = [a.name for a in sim.actions(ApplyReleaseStep) if isinstance(a, ApplyReleaseStep)]
    assert applied == list(RELEASE_STEPS)
    first_weights = sim.index(SetWeights("trading-api", Weights(blue=90, green=10)))
    assert sim.index(ApplyReleaseStep("edge-purge")) < first_weights
    assert sim.new_color_weights(Color.GREEN) == [10, 50, 100]
    writes = sim.actions(WriteStackState)
    assert writes == [
        WriteStackState("trading-api", Color.BLUE, "1.0.0", "2.0.0", OLD_WEIGHTS),
        WriteStackState("trading-api", Color.GREEN, "1.0.0", "2.0.0", Weights(blue=0, green=100)),
    ]
    assert undo_order(sim) == []
    assert outcome(sim) is Outcome.PROMOTED
    # 60 + 60 + 30 s of bake, then 30 s warm: never faster than the policy allows.
    assert sim.now - 1000.0 >= 180


def test_given_noisy_blips_and_one_bad_window_when_driven_then_no_rollback() -> None:
    # A stray error every other window, p95 jitter of 2 ms, and one window (the 2nd of
    # the 50% step) at 3% errors: failureLimit 1 tolerates it.
    traffic = Traffic(
        new_error_rate=lambda n: 0.03 if n == 5 else 0.001,
        new_stray_errors=lambda n: n % 2,
        new_p95=lambda n: 0.050 + 0.002 * (n % 2),
    )
    sim = Sim(traffic=traffic)

    state = sim.run(release())

    assert state.phase is ReleasePhase.PROMOTED
    assert undo_order(sim) == []
    judged = [m for s in sim.states for m in s.history]
    assert any(m.phase is Phase.FAILED for m in judged)  # the bad window was seen, and tolerated


def test_given_error_rate_creeping_up_when_driven_then_it_rolls_back_before_all_traffic() -> None:
    sim = Sim(traffic=Traffic(new_error_rate=lambda n: 0.001 + 0.001 * n))

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert 100 not in sim.new_color_weights(Color.GREEN)
    assert "failed (2) > failureLimit (1)" in state.reason
    assert_rolled_back_in_order(sim)


def test_given_latency_creeping_up_when_driven_then_it_rolls_back() -> None:
    sim = Sim(traffic=Traffic(new_p95=lambda n: 0.050 * (1 + 0.04 * n)))

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert "p95-latency: failed" in state.reason
    assert_rolled_back_in_order(sim)


def test_given_a_bad_version_when_analysed_then_weights_first_then_steps_undone_in_reverse() -> (
    None
):
    sim = Sim(traffic=Traffic(new_error_rate=lambda n: 0.05))

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert sim.new_color_weights(Color.GREEN) == [10, 0]
    assert_rolled_back_in_order(sim)
    # Detection to restore: the failing verdict and the old weights come in one decision.
    restore_time = next(t for t, a in sim.log if a == SetWeights("trading-api", OLD_WEIGHTS))
    assert restore_time - 1000.0 <= 2 * 15


def test_given_an_abort_intent_mid_release_when_driven_then_rolled_back_with_the_reason() -> None:
    at_50 = Operator(Verb.ABORT, lambda s, now: s.step_index == 1)
    sim = Sim(operators=[at_50])

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert state.reason == "abort requested by operator: test"
    assert sim.new_color_weights(Color.GREEN) == [10, 50, 0]
    assert_rolled_back_in_order(sim)


def test_given_a_pause_when_driven_then_no_progress_until_resume_and_the_step_restarts() -> None:
    pause = Operator(Verb.PAUSE, lambda s, now: s.phase is ReleasePhase.PROGRESSING and now >= 1030)
    resume = Operator(Verb.RESUME, lambda s, now: now >= 1500)
    sim = Sim(operators=[pause, resume])

    state = sim.run(release())

    assert state.phase is ReleasePhase.PROMOTED
    moves = [t for t, a in sim.log if isinstance(a, SetWeights)]
    assert not [t for t in moves if 1030 <= t < 1500]  # nothing moved while paused
    second_step = moves[1]
    assert second_step >= 1500 + 60  # the 10% step baked again in full after resume
    kinds = [a.kind for a in sim.actions(NotifyEvent) if isinstance(a, NotifyEvent)]
    assert EventKind.PAUSED in kinds and EventKind.RESUMED in kinds


def test_given_a_paused_release_when_the_version_fails_then_it_still_rolls_back() -> None:
    pause = Operator(Verb.PAUSE, lambda s, now: s.phase is ReleasePhase.PROGRESSING)
    sim = Sim(operators=[pause], traffic=Traffic(new_error_rate=lambda n: 0.05))

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert_rolled_back_in_order(sim)


def test_given_manual_promotion_when_driven_then_it_waits_before_all_traffic_for_promote() -> None:
    sim = Sim()

    held = sim.run(release(manualPromotion=True), until=5000)

    assert held.phase is ReleasePhase.AWAITING_PROMOTION
    assert sim.new_color_weights(Color.GREEN) == [10, 50]

    sim.operators.append(Operator(Verb.PROMOTE, lambda s, now: True))
    state = sim.run(held)

    assert state.phase is ReleasePhase.PROMOTED
    assert sim.new_color_weights(Color.GREEN) == [10, 50, 100]


def test_given_blue_green_when_driven_then_preview_at_zero_then_switch_then_promoted() -> None:
    sim = Sim()  # 5 probe requests reach green at 0%: below minRequests 50, enough for preview

    state = sim.run(release(strategy="blue-green"))

    assert state.phase is ReleasePhase.PROMOTED
    assert sim.new_color_weights(Color.GREEN) == [0, 100]
    assert state.history  # post-promotion was analysed (against the remembered baseline)
    assert {m.phase.value for m in state.history} == {"Successful"}


def test_given_blue_green_with_a_bad_version_when_switched_then_it_rolls_back() -> None:
    sim = Sim(traffic=Traffic(new_error_rate=lambda n: 0.0 if n < 4 else 0.05))

    state = sim.run(release(strategy="blue-green"))

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert sim.new_color_weights(Color.GREEN) == [0, 100, 0]
    assert_rolled_back_in_order(sim)


def test_given_a_release_step_that_fails_when_applied_then_it_and_earlier_ones_are_undone() -> None:
    sim = Sim(fails=lambda a: "redis down" if a == ApplyReleaseStep("cache-bump") else None)

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert "redis down" in state.reason
    assert undo_order(sim) == ["cache-bump", "db-migration"]
    assert sim.index(SetWeights("trading-api", OLD_WEIGHTS)) < sim.index(
        UndoReleaseStep("cache-bump")
    )


def test_given_an_undo_that_fails_when_rolling_back_then_aborted_and_rollback_retries() -> None:
    broken = {"on": True}

    def fails(action: Action) -> str | None:
        return (
            "restore failed" if broken["on"] and action == UndoReleaseStep("cache-bump") else None
        )

    abort = Operator(Verb.ABORT, lambda s, now: s.phase is ReleasePhase.PROGRESSING)
    sim = Sim(operators=[abort], fails=fails)

    stuck = sim.run(release())

    assert stuck.phase is ReleasePhase.ABORTED
    assert stuck.applied_steps == ("db-migration", "cache-bump")
    assert outcome(sim) is Outcome.ABORTED

    broken["on"] = False
    sim.operators.append(Operator(Verb.ROLLBACK, lambda s, now: True))
    state = sim.run(stuck)

    assert state.phase is ReleasePhase.ROLLED_BACK
    assert undo_order(sim) == ["edge-purge", "cache-bump", "cache-bump", "db-migration"]


def test_given_the_router_fails_while_restoring_when_rolling_back_then_weights_are_retried() -> (
    None
):
    failures = {"left": 2}

    def fails(action: Action) -> str | None:
        if action == SetWeights("trading-api", OLD_WEIGHTS) and failures["left"]:
            failures["left"] -= 1
            return "haproxy socket refused"
        return None

    sim = Sim(operators=[Operator(Verb.ROLLBACK, lambda s, now: now > 1040)], fails=fails)

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    restores = [t for t, a in sim.log if a == SetWeights("trading-api", OLD_WEIGHTS)]
    assert len(restores) == 3
    assert restores[1] - restores[0] >= 15  # retried after an interval, not in a hot loop


def test_given_a_promoted_release_kept_warm_when_rolled_back_then_stack_state_is_restored() -> None:
    warm = Operator(Verb.ROLLBACK, lambda s, now: s.phase is ReleasePhase.PROMOTING)
    sim = Sim(operators=[warm])

    state = sim.run(release())

    assert state.phase is ReleasePhase.ROLLED_BACK
    writes = sim.actions(WriteStackState)
    assert [w.active_color for w in writes if isinstance(w, WriteStackState)] == [
        Color.BLUE,
        Color.GREEN,
        Color.BLUE,
    ]
    assert_rolled_back_in_order(sim)


def test_given_no_traffic_on_the_canary_when_driven_then_inconclusive_pauses_it() -> None:
    sim = Sim(traffic=Traffic(per_window=100, probes=0))  # 10 requests at 10%: < 50

    state = sim.run(release(), until=3000)

    assert state.phase is ReleasePhase.PAUSED
    assert "inconclusive (4) > inconclusiveLimit (3)" in state.reason
    assert sim.new_color_weights(Color.GREEN) == [10]


def test_given_intents_replayed_when_decided_then_each_acts_once() -> None:
    sim = Sim()
    paused = sim.run(release(), until=1020)
    intents = (Intent(1, Verb.PAUSE), Intent(2, Verb.RESUME))

    resumed = decide(paused, Observation(now=1030), intents).state
    again = decide(resumed, Observation(now=1031), intents).state

    assert resumed.intents_seen == 2
    assert resumed.phase is again.phase is ReleasePhase.PROGRESSING


def test_given_an_intent_that_does_not_apply_when_decided_then_it_is_ignored_with_a_notice() -> (
    None
):
    state = release()

    decision = decide(state, Observation(now=0), (Intent(1, Verb.RESUME),))

    assert NotifyEvent(EventKind.IGNORED, "resume ignored: the release is pending") in (
        decision.actions
    )
    assert decision.state.phase is ReleasePhase.DEPLOYING


def test_given_a_journaled_state_when_restored_then_decide_continues_identically() -> None:
    sim = Sim(traffic=Traffic(new_error_rate=lambda n: 0.02 if n == 1 else 0.001))
    mid = sim.run(release(), until=1100)
    assert mid.history  # a step with measurements, mid-analysis

    restored = ReleaseState.from_dict(json.loads(json.dumps(mid.to_dict())))
    observation = Observation(now=sim.now + 15)

    assert restored == mid
    original, replayed = decide(mid, observation, ()), decide(restored, observation, ())
    assert original == replayed
    for action in original.actions:
        assert action_from_dict(json.loads(json.dumps(action_to_dict(action)))) == action


def contract_times(sim: Sim) -> list[float]:
    return [t for t, a in sim.log if isinstance(a, ContractReleaseStep)]


def test_given_a_promoted_release_when_the_old_color_is_retired_then_the_migration_contracts() -> (
    None
):
    sim = Sim()

    state = sim.run(release(migrations={"contractAfterSeconds": 120}))

    assert state.phase is ReleasePhase.PROMOTED
    # Only the step with a destructive half is contracted, once, after promotion and bake.
    assert sim.actions(ContractReleaseStep) == [ContractReleaseStep("db-migration")]
    promoted_at = next(t for t, a in sim.log if isinstance(a, NotifyEvent) and a.kind == "promoted")
    assert contract_times(sim)[0] - promoted_at >= 120
    finished_at = next(t for t, a in sim.log if isinstance(a, Finish))
    assert contract_times(sim)[0] <= finished_at


def test_given_contract_by_hand_when_promoted_then_the_engine_contracts_nothing() -> None:
    sim = Sim()

    state = sim.run(release(migrations={"contractAfterSeconds": None}))

    assert state.phase is ReleasePhase.PROMOTED
    assert sim.actions(ContractReleaseStep) == []


def test_given_a_contract_shorter_than_the_warm_period_then_it_waits_for_the_old_color() -> None:
    sim = Sim()

    sim.run(release(migrations={"contractAfterSeconds": 0}, scaleDownDelaySeconds=45))

    promoted_at = next(t for t, a in sim.log if isinstance(a, NotifyEvent) and a.kind == "promoted")
    assert contract_times(sim)[0] - promoted_at >= 45


def test_given_a_failing_contract_when_promoted_then_no_rollback_and_the_failure_is_said() -> None:
    sim = Sim(fails=lambda a: "lock timeout" if isinstance(a, ContractReleaseStep) else None)

    state = sim.run(release())

    assert state.phase is ReleasePhase.PROMOTED
    assert undo_order(sim) == []
    assert "contract of db-migration failed: lock timeout" in state.reason
    notices = [a for a in sim.actions(NotifyEvent) if isinstance(a, NotifyEvent)]
    assert any(n.kind == "contract-failed" and "runbook db contract" in n.message for n in notices)


def test_given_a_config_release_when_promoted_then_the_stack_records_each_colors_config() -> None:
    settings = make_settings(**CANARY)
    plan = build_plan(settings, "trading-api", "2.0.0", ("config",), config_version=3)
    sim = Sim()

    sim.run(ReleaseState(plan=plan))

    writes = [w for w in sim.actions(WriteStackState) if isinstance(w, WriteStackState)]
    assert [(w.blue_config, w.green_config) for w in writes] == [(1, 3), (1, 3)]
    assert writes[-1].active_color is Color.GREEN


def test_given_a_release_without_config_then_the_stack_config_versions_are_left_alone() -> None:
    sim = Sim()

    sim.run(release())

    writes = [w for w in sim.actions(WriteStackState) if isinstance(w, WriteStackState)]
    assert {(w.blue_config, w.green_config) for w in writes} == {(None, None)}


def test_a_state_holding_a_latency_histogram_survives_the_journal() -> None:
    import json
    import math

    from runbooks.core.model import Sample

    reference = Sample(Color.BLUE, 10, 0, None, 1.0, latency=((0.001, 4.0), (math.inf, 6.0)))
    state = release().evolve(baseline_reference=reference)

    text = json.dumps(state.to_dict(), allow_nan=False)  # strict JSON, as the journal writes

    assert ReleaseState.from_dict(json.loads(text)) == state


def test_given_a_bake_that_ends_after_the_last_window_then_a_fresh_window_is_taken_first() -> None:
    # Given a step whose history is all successful, the last window taken 1.5 s before its
    # bake ends (the provider may have died since)
    state = release()
    state = decide(state, Observation(now=1000.0), ()).state  # start
    while state.phase is not ReleasePhase.PROGRESSING:
        state = decide(state, Observation(now=1000.0), ()).state
    bake_end = (state.step_started_at or 0) + state.step.bake_seconds
    ok = Sample(Color.GREEN, 1000, 0, 0.05, bake_end - 1.5)
    judged = decide(
        state.evolve(next_analysis_at=bake_end + 10),
        Observation(now=bake_end - 1.5, samples=SamplePair(ok, ok)),
        (),
    ).state

    # When the bake ends
    decision = decide(judged, Observation(now=bake_end), ())

    # Then the step does not complete on old evidence: it measures again
    assert decision.state.step_index == judged.step_index
    assert any(isinstance(a, Analyse) for a in decision.actions)


def test_given_no_traffic_on_the_old_color_then_latency_is_not_judged_on_a_stale_baseline() -> None:
    from runbooks.core.analysis import P95_LATENCY, judge

    earlier = Sample(Color.BLUE, 1000, 1, 0.002, 1.0)
    slower = Sample(Color.GREEN, 2000, 2, 0.004, 2.0)
    settings = make_settings(**CANARY)

    measurements = judge(earlier, slower, settings.rollout.thresholds, 2.0, live=False)

    latency = next(m for m in measurements if m.metric == P95_LATENCY)
    assert latency.phase is Phase.SUCCESSFUL and latency.value is None
    assert "not judged" in latency.message and "same load" in latency.message


def test_given_the_last_step_then_latency_is_not_judged_on_the_old_colors_leftover_requests() -> (
    None
):
    # Given the 100% step, whose window still holds the old color's requests from before the
    # switch, and a new color slower there because it now carries all the load
    sim = Sim(traffic=Traffic(new_p95=lambda n: 0.050 if n < 8 else 0.080, old_leftover=900))

    state = sim.run(release())

    # Then it is promoted: latency was judged at 10% and 50%, not against leftovers at 100%
    assert state.phase is ReleasePhase.PROMOTED
    last_step = [m for s in sim.states if s.step.weight == 100 for m in s.history]
    assert any("not judged" in m.message for m in last_step if m.metric == "p95-latency")


def test_given_a_release_when_started_then_it_deploys_before_declaring_or_applying_anything() -> (
    None
):
    sim = Sim(traffic=Traffic())
    sim.run(release())

    deploy = Deploy("trading-api", Color.GREEN, "2.0.0")
    declared = sim.actions(WriteStackState)[0]
    first_step = ApplyReleaseStep(RELEASE_STEPS[0])
    assert sim.index(deploy) < sim.index(declared) < sim.index(first_step)
    assert outcome(sim) is Outcome.PROMOTED


def test_given_a_deploy_that_fails_when_decided_then_nothing_else_is_done_and_it_rolls_back() -> (
    None
):
    sim = Sim(
        traffic=Traffic(),
        fails=lambda a: "image pull failed" if isinstance(a, Deploy) else None,
    )
    sim.run(release())

    assert sim.actions(WriteStackState) == []
    assert sim.actions(ApplyReleaseStep) == []
    assert sim.actions(SetWeights) == [SetWeights("trading-api", OLD_WEIGHTS)]
    finish = sim.actions(Finish)[-1]
    assert isinstance(finish, Finish) and "image pull failed" in finish.message
    assert outcome(sim) is Outcome.ROLLED_BACK


def test_given_a_deploy_action_when_journaled_then_it_round_trips() -> None:
    deploy = Deploy("trading-api", Color.GREEN, "2.0.0")
    assert action_from_dict(json.loads(json.dumps(action_to_dict(deploy)))) == deploy
