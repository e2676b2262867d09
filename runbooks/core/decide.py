"""decide(): the whole rollout as a pure state machine. No clocks, no I/O: time comes in.

One call runs four stages, each small and each able to stop early:
1. results: a failed action starts a rollback (or, during a rollback, a retry or a stop);
2. samples: an analysis window is judged and added to the current step's history;
3. intents: new operator verbs (by `Intent.seq`) change the phase;
4. advance: the phase's rules, Argo-reconcile style, produce the next actions.

Engine contract (see `Decision`): journal `Decision.state`, run the actions in order, stop
at the first failure; call decide() again with an `Observation` carrying the results (and,
after `Analyse`, the samples) at once, or at `Wait.until` (earlier if a new intent is
recorded). Actions are recorded as done when decided; a failure result corrects that.

Choices:
- Pausing stops progress, not protection: analysis keeps running while paused or awaiting
  promotion, and a failing verdict still rolls back.
- Resume restarts the current step (bake clock and history): what was seen before a pause
  may have been an incident, and evidence should be continuous.
- An inconclusive verdict pauses the release (as Argo does): a human decides.
- A rollback puts every request on the old color first, then restores the stack state if
  the promotion was written, then undoes release steps in reverse order. Restoring weights
  is retried every analysis interval until it works; a failed undo stops in ABORTED (later
  undos may depend on it) and a `rollback` intent retries.
- After promotion, release steps with a destructive second half (a migration's contract)
  run it once the old color is retired and the policy's bake has passed, one per decision.
  A failed contract does not roll back a promoted, healthy version: it is reported, and
  `runbook db contract` runs it again by hand.
- A member of a multi-service release (see `runbooks.core.group`) enters a step, or is
  promoted, only once the group's `step_gate` lets it; until then it is held with its
  `ready_for` set, its analysis still running. While rolling back, `undo_held` stops it after
  its traffic is restored, until the members after it are undone. Promoting, it ends
  (PROMOTED) only once the gate reaches len(steps) + 1: every member kept its old color
  warm and ran its contracts. A single service has no gate and is never held.
- `promote` passes the manual gate, or ends the current step at once (skipping its bake and
  analysis: the operator's call). The gate sits between the last two steps, so a plan of
  one step has none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeAlias

from runbooks.core.analysis import VerdictPhase, assess, judge
from runbooks.core.model import Weights
from runbooks.core.plan import ReleasePlan
from runbooks.core.state import (
    TERMINAL,
    Action,
    ActionResult,
    Analyse,
    ApplyReleaseStep,
    ContractReleaseStep,
    Decision,
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
    Wait,
    WriteStackState,
)
from stackspec.model import Color

__all__ = ["decide", "start_rollback"]

Move: TypeAlias = tuple[ReleaseState, tuple[Action, ...]]
P = ReleasePhase


def decide(state: ReleaseState, observation: Observation, intents: Sequence[Intent]) -> Decision:
    """The next state and the actions that get there, from what was observed and asked."""
    now = observation.now
    state = state.evolve(judged=()) if state.judged else state
    state, after_results = _absorb_results(state, observation.results, now)
    state = _absorb_samples(state, observation.samples, now)
    state, after_intents = _absorb_intents(state, intents, now)
    state, advanced = _advance(state, now)
    return Decision(state, (*after_results, *after_intents, *advanced))


# -- stage 1: results of the actions just performed -----------------------------------------


def _absorb_results(state: ReleaseState, results: Sequence[ActionResult], now: float) -> Move:
    failure = next((r for r in results if not r.ok and not _best_effort(r.action)), None)
    # Nothing failed: every action was recorded as done when it was decided.
    if failure is None or state.phase in TERMINAL:
        return state, ()
    if isinstance(failure.action, ContractReleaseStep):
        # The new version is promoted and healthy: a failed clean-up is reported, not undone.
        message = (
            f"contract of {failure.action.name} failed: {failure.message}; "
            "fix it, then run `runbook db contract`"
        )
        return state.evolve(reason=message), (NotifyEvent(EventKind.CONTRACT_FAILED, message),)
    what = f"{failure.action!r} failed: {failure.message}"
    if state.phase is P.ROLLING_BACK:
        return _rollback_action_failed(state, failure.action, what, now)
    return start_rollback(state, what), ()


def _best_effort(action: Action) -> bool:
    return isinstance(action, NotifyEvent | Wait | Analyse)


def _rollback_action_failed(state: ReleaseState, action: Action, what: str, now: float) -> Move:
    if isinstance(action, SetWeights):
        # Restoring service is what a rollback is for: retry it, never give it up.
        interval = state.plan.analysis_interval_seconds
        retry_at = now + interval
        at = time.strftime("%H:%M:%SZ", time.gmtime(retry_at))  # formats `now`; reads no clock
        message = f"{what}; retrying in {interval:g} s (at {at})"
        return state.evolve(weights_restored=False, retry_at=retry_at), (
            NotifyEvent(EventKind.RETRYING, message),
        )
    if isinstance(action, UndoReleaseStep):
        state = state.evolve(applied_steps=(*state.applied_steps, action.name))
    if isinstance(action, WriteStackState):
        state = state.evolve(promotion_written=True)
    # Earlier steps may depend on the one that failed to undo: stop and hand over.
    reason = f"rollback stopped: {what}"
    return state.evolve(phase=P.ABORTED, reason=reason), (
        NotifyEvent(EventKind.ABORTED, f"{reason}; fix it, then run `rollback` to retry"),
        Finish(Outcome.ABORTED, reason),
    )


def start_rollback(state: ReleaseState, reason: str) -> ReleaseState:
    """`state` rolling back for `reason`: traffic is restored first (see `_roll_back`)."""
    return state.evolve(
        phase=P.ROLLING_BACK,
        reason=reason,
        weights_restored=False,
        retry_at=None,
        paused_from=None,
        ready_for=None,
    )


# -- stage 2: an analysis window ------------------------------------------------------------


def _absorb_samples(state: ReleaseState, samples: SamplePair | None, now: float) -> ReleaseState:
    # Samples only count for a step that is running; late ones after a phase change are noise.
    if samples is None or state.step_started_at is None:
        return state
    if state.phase not in (P.PROGRESSING, P.PAUSED, P.AWAITING_PROMOTION):
        return state
    plan, fresh = state.plan, samples.baseline
    # A baseline without traffic (the new color has it all) is judged against the last one
    # that had enough; a baseline that could not be measured stays an error.
    usable = fresh.error is None and fresh.requests >= plan.thresholds.min_requests
    reference = state.baseline_reference
    baseline = fresh if usable or fresh.error is not None or reference is None else reference
    weights = plan.weights_at(state.step.weight)
    thresholds = plan.thresholds_for(state.step)
    # Latency is compared only while the old color carries part of the load: at 100% its
    # last requests are from before the switch, at another load (false rollbacks measured).
    live = usable and weights.of(plan.old_color) > 0
    measurements = judge(baseline, samples.canary, thresholds, now, weights, live=live)
    return state.evolve(
        history=(*state.history, *measurements),
        judged=tuple(measurements),
        baseline_reference=fresh if usable else reference,
    )


# -- stage 3: operator intents --------------------------------------------------------------


def _absorb_intents(state: ReleaseState, intents: Sequence[Intent], now: float) -> Move:
    actions: list[Action] = []
    for intent in sorted(intents, key=lambda i: i.seq):
        # Intents are replayed from the journal on every call: each acts once.
        if intent.seq <= state.intents_seen:
            continue
        state, acts = _hear(state.evolve(intents_seen=intent.seq), intent, now)
        actions.extend(acts)
    return state, tuple(actions)


def _hear(state: ReleaseState, intent: Intent, now: float) -> Move:
    handlers: dict[Verb, Callable[[ReleaseState, Intent, float], Move | None]] = {
        Verb.PAUSE: _on_pause,
        Verb.RESUME: _on_resume,
        Verb.PROMOTE: _on_promote,
        Verb.PROMOTE_FULL: _on_promote,
        Verb.ABORT: _on_abort,
        Verb.ROLLBACK: _on_abort,
    }
    move = handlers[intent.verb](state, intent, now)
    if move is None:
        message = f"{intent.verb} ignored: the release is {state.phase}"
        return state, (NotifyEvent(EventKind.IGNORED, message),)
    return move


def _on_pause(state: ReleaseState, intent: Intent, now: float) -> Move | None:
    if state.phase not in (P.PENDING, P.DEPLOYING, P.APPLYING_STEPS, P.PROGRESSING):
        return None
    return _pause(state, _by_operator("paused", intent))


def _on_resume(state: ReleaseState, intent: Intent, now: float) -> Move | None:
    if state.phase is not P.PAUSED:
        return None
    back = state.paused_from or P.PROGRESSING
    state = state.evolve(phase=back, paused_from=None, reason="")
    if back is P.PROGRESSING:
        state = _restart_step(state, now)
    return state, (NotifyEvent(EventKind.RESUMED, _by_operator("resumed", intent)),)


def _on_promote(state: ReleaseState, intent: Intent, now: float) -> Move | None:
    on_traffic = state.phase in (P.PROGRESSING, P.AWAITING_PROMOTION) or (
        state.phase is P.PAUSED and state.paused_from is P.PROGRESSING
    )
    # `promote --full` (Argo's): the remaining steps skipped, all traffic to the new color at
    # once; one service only (a group's members go on in lockstep).
    if intent.verb is Verb.PROMOTE_FULL and on_traffic and state.step_gate is None:
        plan = state.plan
        state, acts = _promote(state.evolve(paused_from=None), now)
        return state, (SetWeights(plan.service, Weights.all_on(plan.new_color)), *acts)
    if intent.verb is Verb.PROMOTE_FULL:
        return None
    if state.phase is P.AWAITING_PROMOTION:
        return _enter_step(state, state.step_index + 1, now)
    on_step = state.phase is P.PROGRESSING or state.paused_from is P.PROGRESSING
    if state.phase in (P.PROGRESSING, P.PAUSED) and on_step:
        return _complete_step(state.evolve(phase=P.PROGRESSING, paused_from=None), now, False)
    return None


def _on_abort(state: ReleaseState, intent: Intent, now: float) -> Move | None:
    if state.phase in (P.ROLLING_BACK, P.PROMOTED, P.ROLLED_BACK):
        return None
    # From ABORTED only `rollback` restarts the rollback: `abort` asks for nothing new.
    if state.phase is P.ABORTED and intent.verb is Verb.ABORT:
        return None
    return start_rollback(state, _by_operator(f"{intent.verb} requested", intent)), ()


def _by_operator(what: str, intent: Intent) -> str:
    return f"{what} by operator" + (f": {intent.reason}" if intent.reason else "")


# -- stage 4: advance by phase --------------------------------------------------------------


def _advance(state: ReleaseState, now: float) -> Move:
    rules: dict[ReleasePhase, Callable[[ReleaseState, float], Move]] = {
        P.PENDING: _start,
        P.DEPLOYING: _deployed,
        P.APPLYING_STEPS: _apply_next_release_step,
        P.PROGRESSING: _progress,
        P.PAUSED: _hold,
        P.AWAITING_PROMOTION: _hold,
        P.PROMOTING: _keep_warm,
        P.ROLLING_BACK: _roll_back,
    }
    rule = rules.get(state.phase)
    # Terminal phases do nothing more: their Finish was already emitted.
    if rule is None:
        return state, ()
    return rule(state, now)


def _start(state: ReleaseState, now: float) -> Move:
    plan = state.plan
    weights = "/".join(str(s.weight) for s in plan.steps)
    message = (
        f"releasing {plan.service} {plan.version} to {plan.new_color} "
        f"({plan.strategy}, weights {weights}; was {plan.old_version} on {plan.old_color})"
    )
    deploy = Deploy(plan.service, plan.new_color, plan.version)
    return state.evolve(phase=P.DEPLOYING), (NotifyEvent(EventKind.STARTED, message), deploy)


def _deployed(state: ReleaseState, now: float) -> Move:
    plan = state.plan
    # The new version serves on the idle color: the stack's record says so before any step.
    declared = _stack_state(plan, plan.old_color, plan.old_weights)
    return state.evolve(phase=P.APPLYING_STEPS), (declared,)


def _apply_next_release_step(state: ReleaseState, now: float) -> Move:
    done, wanted = state.applied_steps, state.plan.release_steps
    # One release step per decision: the applied list is never more than one ahead of reality.
    if len(done) < len(wanted):
        name = wanted[len(done)]
        return state.evolve(applied_steps=(*done, name)), (ApplyReleaseStep(name),)
    # In a multi-service release no member takes traffic before every member is ready.
    if not _gate_open(state, 0):
        return _await_gate(state, 0, now)
    return _enter_step(state.evolve(ready_for=None), 0, now)


def _progress(state: ReleaseState, now: float) -> Move:
    step = state.step
    verdict = assess(state.history, state.plan.limits)
    # A failing verdict ends the release now: restoring service beats finishing the bake.
    if verdict.phase.failing:
        return _roll_back(start_rollback(state, f"{step.name}: {verdict.message}"), now)
    # Inconclusive evidence needs a human (as in Argo): stop rather than guess.
    if verdict.phase is VerdictPhase.INCONCLUSIVE:
        return _pause(state, f"{step.name} inconclusive: {verdict.message}")
    bake_end = (state.step_started_at or now) + step.bake_seconds
    baked = now >= bake_end
    # Done when baked and proven on a window that ends after the bake (not one taken before
    # a late outage); a step without analysis only bakes. Checked before a due tick: a
    # window that takes longer than the interval (two services' windows in one turn, a
    # slow provider) would otherwise start the next one forever and never end the step.
    if baked and not step.analysed:
        return _complete_step(state, now, True)
    proven = verdict.phase is VerdictPhase.SUCCESSFUL
    if baked and proven and state.history and state.history[-1].at >= bake_end:
        following = state.step_index + 1
        # Held at the group's gate, ready: protection goes on, so do the windows.
        if not _gate_open(state, following) and _analysis_due(state, now):
            return _analyse(state.evolve(ready_for=following), now)
        return _complete_step(state, now, True)
    # A tick is due, or the bake is over without a window after it: measure.
    if _analysis_due(state, now) or (baked and proven):
        return _analyse(state, now)
    wakes = [t for t in (state.next_analysis_at, bake_end) if t is not None and t > now]
    return state, (Wait(min(wakes, default=now + state.plan.analysis_interval_seconds)),)


def _hold(state: ReleaseState, now: float) -> Move:
    running = state.step_started_at is not None
    verdict = assess(state.history, state.plan.limits)
    # Holding stops progress, not protection: a failing verdict still rolls back.
    if running and verdict.phase.failing:
        return _roll_back(start_rollback(state, f"{state.step.name}: {verdict.message}"), now)
    if running and _analysis_due(state, now):
        return _analyse(state, now)
    # Nothing to do until the next tick or an intent (the engine wakes early for those).
    until = state.next_analysis_at if running and state.next_analysis_at else None
    return state, (Wait(until or now + state.plan.analysis_interval_seconds),)


def _keep_warm(state: ReleaseState, now: float) -> Move:
    plan = state.plan
    # The old color stays up for scaleDownDelay, so a rollback is still a weight change.
    if state.warm_until is not None and now < state.warm_until:
        return state, (Wait(state.warm_until),)
    # The old color is retired: the destructive halves may run once their bake has passed.
    pending = [s for s in plan.contract_steps if s not in state.contracted_steps]
    if pending and state.contract_at is not None:
        if now < state.contract_at:
            return state, (Wait(state.contract_at),)
        contracted = (*state.contracted_steps, pending[0])
        return state.evolve(contracted_steps=contracted), (ContractReleaseStep(pending[0]),)
    # A group's members are promoted together, once every one is done here: until then a
    # failure of one still rolls the others back (their old colors stay up while held).
    finished = len(plan.steps) + 1
    if not _gate_open(state, finished):
        return _await_gate(state, finished, now)
    message = f"{plan.service} {plan.version} released on {plan.new_color}"
    message += f"; {state.reason}" if state.reason else ""
    return state.evolve(phase=P.PROMOTED, ready_for=None), (
        NotifyEvent(EventKind.FINISHED, message),
        Finish(Outcome.PROMOTED, message),
    )


def _roll_back(state: ReleaseState, now: float) -> Move:
    plan = state.plan
    # Service first: every request back on the old color before anything else is undone.
    if not state.weights_restored:
        if state.retry_at is not None and now < state.retry_at:
            return state, (Wait(state.retry_at),)
        kind = EventKind.RETRYING if state.retry_at is not None else EventKind.ROLLBACK_STARTED
        return state.evolve(weights_restored=True, retry_at=None), (
            SetWeights(plan.service, plan.old_weights),
            NotifyEvent(kind, f"rolling back {plan.service} {plan.version}: {state.reason}"),
        )
    # Multi-service: a later member's change may depend on this one's; it is undone first.
    if state.undo_held:
        return state, (Wait(now + plan.analysis_interval_seconds),)
    # The stack's record must name the old color active again before steps are undone.
    if state.promotion_written:
        restore = _stack_state(plan, plan.old_color, plan.old_weights)
        return state.evolve(promotion_written=False), (restore,)
    # Reverse order of application: a later step may depend on an earlier one.
    if state.applied_steps:
        *rest, last = state.applied_steps
        return state.evolve(applied_steps=tuple(rest)), (UndoReleaseStep(last),)
    message = f"{plan.service} back on {plan.old_color} {plan.old_version}: {state.reason}"
    return state.evolve(phase=P.ROLLED_BACK), (
        NotifyEvent(EventKind.ROLLED_BACK, message),
        Finish(Outcome.ROLLED_BACK, message),
    )


# -- helpers --------------------------------------------------------------------------------


def _enter_step(state: ReleaseState, index: int, now: float) -> Move:
    plan = state.plan
    step = plan.steps[index]
    state = _restart_step(state.evolve(phase=P.PROGRESSING, step_index=index), now)
    message = (
        f"step {index + 1}/{len(plan.steps)} {step.name}: {step.weight}% to "
        f"{plan.new_color} {plan.version} for {step.bake_seconds:g}s"
    )
    return state, (
        SetWeights(plan.service, plan.weights_at(step.weight)),
        NotifyEvent(EventKind.STEP_STARTED, message),
    )


def _restart_step(state: ReleaseState, now: float) -> ReleaseState:
    interval = state.plan.analysis_interval_seconds
    return state.evolve(
        step_started_at=now,
        history=(),
        next_analysis_at=now + interval if state.step.analysed else None,
        paused_from=None,
        ready_for=None,
    )


def _complete_step(state: ReleaseState, now: float, gated: bool) -> Move:
    plan, index = state.plan, state.step_index
    last = len(plan.steps) - 1
    # Lockstep: no member of a multi-service release goes on before all completed this step.
    if not _gate_open(state, index + 1):
        return _await_gate(state, index + 1, now)
    state = state.evolve(ready_for=None)
    # The last step proven: the release is promoted.
    if index == last:
        return _promote(state, now)
    # Manual promotion: a human lets the last step (all traffic) begin.
    if gated and plan.manual_promotion and index + 1 == last:
        message = (
            f"{plan.service} {plan.version} passed {state.step.name}; "
            f"run `promote` to send all traffic to {plan.new_color}"
        )
        return state.evolve(phase=P.AWAITING_PROMOTION), (
            NotifyEvent(EventKind.AWAITING_PROMOTION, message),
        )
    return _enter_step(state, index + 1, now)


def _promote(state: ReleaseState, now: float) -> Move:
    plan = state.plan
    delay = plan.scale_down_delay_seconds
    contract_after = max(delay, plan.contract_after_seconds or 0.0)
    state = state.evolve(
        phase=P.PROMOTING,
        promotion_written=True,
        warm_until=now + delay,
        contract_at=now + contract_after if plan.contract_steps else None,
        reason="",
    )
    message = (
        f"{plan.service} {plan.version} promoted on {plan.new_color}; "
        f"{plan.old_color} kept warm for {delay:g}s"
    )
    promoted = _stack_state(plan, plan.new_color, Weights.all_on(plan.new_color))
    return state, (promoted, NotifyEvent(EventKind.PROMOTED, message))


def _gate_open(state: ReleaseState, index: int) -> bool:
    """Whether the release may enter step `index` (len(steps): promotion); always for one
    service, and for a member of a multi-service release once the group opened the gate."""
    return state.step_gate is None or index <= state.step_gate


def _await_gate(state: ReleaseState, index: int, now: float) -> Move:
    # Held, not idle: the step's analysis goes on (the phase's rule calls this again).
    due = state.next_analysis_at if state.step_started_at is not None else None
    wake = due if due is not None and due > now else now + state.plan.analysis_interval_seconds
    return state.evolve(ready_for=index), (Wait(wake),)


def _pause(state: ReleaseState, reason: str) -> Move:
    # A paused member is not ready for the next step: the group's gate waits for it.
    paused = state.evolve(phase=P.PAUSED, paused_from=state.phase, reason=reason, ready_for=None)
    return paused, (NotifyEvent(EventKind.PAUSED, reason),)


def _analysis_due(state: ReleaseState, now: float) -> bool:
    due = state.next_analysis_at
    return state.step.analysed and due is not None and now >= due


def _analyse(state: ReleaseState, now: float) -> Move:
    plan = state.plan
    interval = plan.analysis_interval_seconds
    # Each window covers the whole step so far: evidence adds up instead of starting over.
    since_step = now - (state.step_started_at or now)
    window = max(interval, since_step)
    action = Analyse(plan.service, plan.old_color, plan.new_color, window)
    return state.evolve(next_analysis_at=now + interval), (action,)


def _stack_state(plan: ReleasePlan, active: Color, weights: Weights) -> WriteStackState:
    """The service's declared state with the new version in the new color."""
    versions = {plan.old_color: plan.old_version, plan.new_color: plan.version}
    configs = {plan.old_color: plan.old_config_version, plan.new_color: plan.config_version}
    return WriteStackState(
        plan.service,
        active,
        versions[Color.BLUE],
        versions[Color.GREEN],
        weights,
        configs[Color.BLUE] if plan.config_version else None,
        configs[Color.GREEN] if plan.config_version else None,
    )
