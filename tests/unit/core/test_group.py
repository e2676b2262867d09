"""decide_group(): several services released as one, with literal plans and a pure driver.

`drive()` plays the engine: it performs every action as ok (unless `fails` says otherwise),
answers each Analyse with `sampler`'s pair, and moves time to the earliest Wait once every
member still going waits. Nothing here sleeps or touches a backend.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from runbooks.core.decide import decide
from runbooks.core.group import GroupState, decide_group
from runbooks.core.model import Sample, Weights
from runbooks.core.plan import build_plan
from runbooks.core.state import (
    TERMINAL,
    Action,
    ActionResult,
    Analyse,
    ContractReleaseStep,
    Finish,
    Intent,
    Observation,
    Outcome,
    ReleasePhase,
    SamplePair,
    SetWeights,
    UndoReleaseStep,
    Verb,
    Wait,
    WriteStackState,
)
from stackspec.errors import BadInput
from stackspec.model import Color, StackSettings

STEPS = [{"weight": 20, "bakeSeconds": 10}, {"weight": 100, "bakeSeconds": 10}]
API, FEED = "trading-api", "web"
P = ReleasePhase
T0 = 1000.0  # the core reads a step start of 0.0 as "not started": real clocks are never 0


def settings() -> StackSettings:
    """A local stack with two HTTP services, both 1.0.0 on blue."""
    service = {"port": 8080, "activeColor": "blue", "versions": {"blue": "1.0.0", "green": "0.9"}}
    data: dict[str, Any] = {
        "substrate": "local",
        "services": [
            {"name": API, "image": "trading/trading-api", **service},
            {"name": FEED, "image": "trading/web", **service, "port": 8082},
        ],
        "database": {"instanceClass": "local"},
        "cache": {"nodeType": "local"},
        "streaming": {},
        "rollout": {"steps": STEPS, "analysisIntervalSeconds": 5},
        "local": {},
    }
    return StackSettings.model_validate_json(json.dumps(data))


def group(steps: Sequence[tuple[str, ...]] = ((), ())) -> GroupState:
    plans = [
        build_plan(settings(), name, "2.0.0", tuple(s))
        for name, s in zip((API, FEED), steps, strict=True)
    ]
    return GroupState.of(plans)


Sampler = Callable[[int, Analyse, float], SamplePair]


def healthy(error_rate: dict[int, float] | None = None) -> Sampler:
    """Both colors busy; member i's new color fails `error_rate[i]` of its requests."""

    def sample(member: int, action: Analyse, now: float) -> SamplePair:
        rate = (error_rate or {}).get(member, 0.0)
        old = Sample(action.baseline, 1000, 0, 0.01, now)
        return SamplePair(old, Sample(action.canary, 1000, 1000 * rate, 0.01, now))

    return sample


@dataclass
class Run:
    """What `drive` saw: each performed action as (time, member, action), and the end."""

    done: list[tuple[float, int, Action]] = field(default_factory=list)
    states: list[GroupState] = field(default_factory=list)
    finish: Finish | None = None

    def of(self, kind: type, member: int | None = None) -> list[tuple[float, int, Action]]:
        return [d for d in self.done if isinstance(d[2], kind) and member in (None, d[1])]


def drive(
    start: GroupState,
    sampler: Sampler,
    fails: Callable[[int, Action], bool] = lambda m, a: False,
    intents: Callable[[float], Sequence[Intent]] = lambda now: (),
    turns: int = 400,
) -> Run:
    run, state, now = Run(), start, T0
    observations = [Observation(now) for _ in start.members]
    for _ in range(turns):
        decision = decide_group(state, observations, intents(now))
        state = decision.group
        run.states.append(state)
        if decision.finish is not None:
            run.finish = decision.finish
            return run
        results: list[list[ActionResult]] = [[] for _ in state.members]
        samples: list[SamplePair | None] = [None for _ in state.members]
        waits: list[float | None] = [None for _ in state.members]
        for m in decision.order:
            for action in decision.actions[m]:
                if isinstance(action, Wait):
                    waits[m] = action.until
                    continue
                if isinstance(action, Finish):
                    continue
                ok = not fails(m, action)
                results[m].append(ActionResult(action, ok, "" if ok else "boom"))
                run.done.append((now, m, action))
                if isinstance(action, Analyse):
                    samples[m] = sampler(m, action, now)
                if not ok:
                    break
        going = [w for s, w in zip(state.members, waits, strict=True) if s.phase not in TERMINAL]
        if going and all(w is not None for w in going):
            now = max(now, min(w for w in going if w is not None))
        observations = [
            Observation(now, s, tuple(r)) for s, r in zip(samples, results, strict=True)
        ]
    raise AssertionError(f"no finish in {turns} turns: {[m.phase for m in state.members]}")


def test_a_healthy_pair_is_promoted_together() -> None:
    run = drive(group(), healthy())

    assert run.finish is not None and run.finish.outcome is Outcome.PROMOTED
    assert [m.phase for m in run.states[-1].members] == [P.PROMOTED, P.PROMOTED]
    # each traffic step starts for both members in the same turn
    for weight in (20, 100):
        moves = [(t, m) for t, m, a in run.of(SetWeights) if a.weights.green == weight]
        assert sorted(m for _, m in moves) == [0, 1]
        assert len({t for t, _ in moves}) == 1


def test_no_member_enters_the_next_step_before_every_member_completed_this_one() -> None:
    # Given the second member's step started 7 s after the first member's
    start = drive_until_step(group())
    late = start.members[1].evolve(step_started_at=T0 + 7, next_analysis_at=T0 + 12)
    held = GroupState((start.members[0], late))

    # When the first member's bake (10 s) is over and proven, but not the second's (17 s)
    run = drive(held, healthy())

    # Then nobody gets 100% before 17 s, and both get it in the same turn
    moves = [(t, m) for t, m, a in run.of(SetWeights) if a.weights.green == 100]
    assert sorted(m for _, m in moves) == [0, 1]
    assert min(t for t, _ in moves) >= T0 + 17
    assert len({t for t, _ in moves}) == 1
    # and the first member, held, kept being analysed while it waited
    assert [t for t, m, a in run.of(Analyse, 0) if T0 + 10 < t < T0 + 17]
    assert any(s.members[0].ready_for == 1 and s.members[1].ready_for is None for s in run.states)


def drive_until_step(start: GroupState) -> GroupState:
    """Both members on step 1 at T0 (deployed, nothing analysed yet)."""
    state = start
    for _ in range(10):
        observations = [Observation(T0) for _ in state.members]
        state = decide_group(state, observations, ()).group
        if all(m.phase is P.PROGRESSING for m in state.members):
            return state
    raise AssertionError([m.phase for m in state.members])


def test_one_members_failed_window_rolls_both_back_newest_first() -> None:
    # Given the first member carries the release step; the second's new color fails 20%
    run = drive(group(steps=(("db-migration",), ())), healthy({1: 0.2}))

    assert run.finish is not None and run.finish.outcome is Outcome.ROLLED_BACK
    final = run.states[-1].members
    assert [m.phase for m in final] == [P.ROLLED_BACK, P.ROLLED_BACK]
    assert FEED in final[0].reason  # the first member names the one that failed
    undo = [
        (m, type(a).__name__)
        for _, m, a in run.done
        if isinstance(a, UndoReleaseStep)
        or (isinstance(a, SetWeights) and a.weights == Weights.all_on(Color.BLUE))
    ]
    # traffic back on blue for the newest member first, then the other; the step last
    assert undo == [(1, "SetWeights"), (0, "SetWeights"), (0, "UndoReleaseStep")]
    restored = [t for t, m, a in run.of(SetWeights) if a.weights == Weights.all_on(Color.BLUE)]
    assert len(set(restored)) == 1  # both in the same turn


def test_a_failed_action_of_one_member_rolls_both_back() -> None:
    run = drive(group(), healthy(), fails=lambda m, a: m == 0 and type(a).__name__ == "Deploy")

    assert run.finish is not None and run.finish.outcome is Outcome.ROLLED_BACK
    assert [m.phase for m in run.states[-1].members] == [P.ROLLED_BACK, P.ROLLED_BACK]
    assert not [a for _, _, a in run.of(SetWeights) if a.weights.green > 0]


@pytest.mark.parametrize("verb", [Verb.ROLLBACK, Verb.ABORT])
def test_an_operator_rollback_applies_to_every_member(verb: Verb) -> None:
    run = drive(group(), healthy(), intents=lambda now: [Intent(1, verb)] if now >= T0 + 12 else [])

    assert run.finish is not None and run.finish.outcome is Outcome.ROLLED_BACK
    assert all("by operator" in m.reason for m in run.states[-1].members)


def test_pause_holds_every_member_and_resume_goes_on_together() -> None:
    def intents(now: float) -> list[Intent]:
        return [Intent(1, Verb.PAUSE)] + ([Intent(2, Verb.RESUME)] if now >= T0 + 40 else [])

    run = drive(group(), healthy(), intents=intents)

    paused = [s for s in run.states if all(m.phase is P.PAUSED for m in s.members)]
    assert paused
    assert run.finish is not None and run.finish.outcome is Outcome.PROMOTED
    assert min(t for t, _, a in run.of(SetWeights) if a.weights.green == 20) >= T0 + 40


def test_an_undo_that_fails_aborts_the_members_before_it_and_leaves_their_steps() -> None:
    # Given both members carry a step, the second's new color fails and its undo fails
    def fails(m: int, a: Action) -> bool:
        return m == 1 and isinstance(a, UndoReleaseStep)

    start = group(steps=(("cache-bump",), ("edge-purge",)))
    run = drive(start, healthy({1: 0.2}), fails=fails)

    assert run.finish is not None and run.finish.outcome is Outcome.ABORTED
    final = run.states[-1].members
    assert [m.phase for m in final] == [P.ABORTED, P.ABORTED]
    assert not run.of(UndoReleaseStep, 0)  # the first member's step may be needed still
    # traffic is back on blue for both all the same
    assert {m for _, m, a in run.of(SetWeights) if a.weights.blue == 100} == {0, 1}


def test_a_group_of_one_decides_exactly_as_decide() -> None:
    plan = build_plan(settings(), API, "2.0.0")
    single = GroupState.of([plan])
    assert single.members[0].step_gate is None
    state = single.members[0]
    for now in (T0, T0, T0, T0 + 5):
        observation = Observation(now)
        alone = decide(state, observation, ())
        grouped = decide_group(GroupState((state,)), [observation], ())
        assert grouped.actions == (alone.actions,)
        assert grouped.group.members == (alone.state,)
        state = alone.state


def test_a_group_names_each_service_once_and_steps_alike() -> None:
    plan = build_plan(settings(), API, "2.0.0")
    with pytest.raises(BadInput, match="each service once"):
        GroupState.of([plan, plan])
    assert group().name == f"{API}+{FEED}"
    assert group().version == "2.0.0"


def test_windows_slower_than_the_interval_still_end_the_step() -> None:
    # Given both members on step 1, and every window taking 7 s (the interval is 5 s)
    state, now = drive_until_step(group()), T0
    observations = [Observation(now) for _ in state.members]
    entered_last_step = False
    for _ in range(30):
        decision = decide_group(state, observations, ())
        state = decision.group
        acts = decision.actions
        if any(isinstance(a, SetWeights) and a.weights.green == 100 for m in acts for a in m):
            entered_last_step = True
            break
        if any(isinstance(a, Analyse) for m in acts for a in m):
            now += 7
            pairs = [healthy()(i, Analyse("x", Color.BLUE, Color.GREEN, 5), now) for i in (0, 1)]
            observations = [Observation(now, p) for p in pairs]
        else:
            wait = min(a.until for m in acts for a in m if isinstance(a, Wait))
            now = max(now, wait)
            observations = [Observation(now) for _ in state.members]

    # Then the step ends once a window after the bake proved it, not one window more each time
    assert entered_last_step


def promoting_group(delay: float, contract_after: float | None) -> GroupState:
    """The lead carries a db-migration; both keep the old color warm `delay` seconds."""
    plans = [
        replace(
            build_plan(settings(), name, "2.0.0", steps),
            scale_down_delay_seconds=delay,
            contract_after_seconds=contract_after,
        )
        for name, steps in ((API, ("db-migration",)), (FEED, ()))
    ]
    return GroupState.of(plans)


def promotion_of(member: int) -> Callable[[int, Action], bool]:
    """Fails member `member`'s write of the promoted stack state (the new color active)."""

    def fails(m: int, a: Action) -> bool:
        return m == member and isinstance(a, WriteStackState) and a.active_color is Color.GREEN

    return fails


def test_a_member_failing_to_record_its_promotion_rolls_back_one_already_past_its_warm_time() -> (
    None
):
    # Given no warm time: the lead would be done promoting in the turn the other fails
    run = drive(promoting_group(delay=0, contract_after=None), healthy(), fails=promotion_of(1))

    # Then the lead was never promoted and both are back on blue, the step undone
    assert run.finish is not None and run.finish.outcome is Outcome.ROLLED_BACK
    assert not any(s.members[0].phase is P.PROMOTED for s in run.states)
    assert [m.phase for m in run.states[-1].members] == [P.ROLLED_BACK, P.ROLLED_BACK]
    assert run.of(SetWeights, 0)[-1][2].weights == Weights.all_on(Color.BLUE)
    assert [a.name for _, _, a in run.of(UndoReleaseStep, 0)] == ["db-migration"]


def test_members_are_promoted_together_once_every_contract_ran() -> None:
    run = drive(promoting_group(delay=10, contract_after=60), healthy())

    assert run.finish is not None and run.finish.outcome is Outcome.PROMOTED
    contract = run.of(ContractReleaseStep, 0)
    assert len(contract) == 1
    ended = [i for i, s in enumerate(run.states) if s.members[1].phase is P.PROMOTED]
    # the second member (no contract, warm time long over) ends with the lead, not before
    assert run.states[ended[0]].members[0].phase is P.PROMOTED


def test_an_operator_rollback_while_the_lead_awaits_its_contract_rolls_both_back() -> None:
    # Given the second member's warm time is over and the lead waits 60 s for its contract
    start = drive(promoting_group(delay=10, contract_after=60), healthy(), turns=400)
    promoted_at = min(
        t for t, m, a in start.of(WriteStackState, 0) if a.active_color is Color.GREEN
    )

    def intents(now: float) -> list[Intent]:
        return [Intent(1, Verb.ROLLBACK)] if now >= promoted_at + 30 else []

    # When the operator rolls back 30 s after the promotion
    run = drive(promoting_group(delay=10, contract_after=60), healthy(), intents=intents)

    # Then neither stays promoted: both back on blue, the migration undone, never contracted
    assert run.finish is not None and run.finish.outcome is Outcome.ROLLED_BACK
    assert [m.phase for m in run.states[-1].members] == [P.ROLLED_BACK, P.ROLLED_BACK]
    assert {m for _, m, a in run.of(SetWeights) if a.weights.blue == 100} == {0, 1}
    assert not run.of(ContractReleaseStep)


def test_a_member_whose_contract_ran_is_aborted_not_rolled_back() -> None:
    # Given the lead contracted its migration, the other still promoting beside it
    state = drive(promoting_group(delay=0, contract_after=0), healthy())
    contracted = next(
        s
        for s in state.states
        if s.members[0].contracted_steps and s.members[0].phase is P.PROMOTING
    )
    now = T0 + 1000

    # When the operator rolls back
    decision = decide_group(
        contracted, [Observation(now) for _ in contracted.members], [Intent(1, Verb.ROLLBACK)]
    )

    # Then the lead is aborted saying why, its traffic left on green; the other rolls back
    lead, other = decision.group.members
    assert lead.phase is P.ABORTED and "contract of db-migration already ran" in lead.reason
    assert not [a for a in decision.actions[0] if isinstance(a, SetWeights | UndoReleaseStep)]
    assert other.phase is P.ROLLING_BACK
    assert SetWeights(FEED, Weights.all_on(Color.BLUE)) in decision.actions[1]
