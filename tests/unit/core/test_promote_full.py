"""`promote --full` (the `promote-full` intent): the remaining steps are skipped and all
traffic goes to the new color at once, on the first step, a paused one or at the manual
gate; before traffic moves (deploying, applying steps) it is ignored with a notice."""

from __future__ import annotations

from runbooks.core.model import Weights
from runbooks.core.state import NotifyEvent, ReleasePhase, SetWeights, Verb
from stackspec.model import Color
from tests.unit.core.sim import Operator, Sim
from tests.unit.core.test_decide import release

ALL_GREEN = SetWeights("trading-api", Weights(blue=0, green=100))


def on_first_step(state: object, now: float) -> bool:
    return getattr(state, "phase", None) is ReleasePhase.PROGRESSING


def test_promote_full_on_the_first_step_sends_all_traffic_and_promotes() -> None:
    sim = Sim(operators=[Operator(Verb.PROMOTE_FULL, on_first_step)])

    state = sim.run(release())

    assert state.phase is ReleasePhase.PROMOTED
    assert sim.new_color_weights(Color.GREEN) == [10, 100]  # the 50 % step skipped
    assert sim.index(ALL_GREEN) > sim.index(SetWeights("trading-api", Weights(blue=90, green=10)))
    assert sim.now - 1000.0 < 120  # no 60 + 60 + 30 s of bakes, only the warm period


def test_promote_full_at_the_manual_gate_skips_the_last_steps_bake() -> None:
    sim = Sim()
    held = sim.run(release(manualPromotion=True), until=5000)
    assert held.phase is ReleasePhase.AWAITING_PROMOTION
    sim.operators.append(Operator(Verb.PROMOTE_FULL, lambda s, now: True))

    state = sim.run(held)

    assert state.phase is ReleasePhase.PROMOTED
    assert sim.new_color_weights(Color.GREEN) == [10, 50, 100]


def test_promote_full_before_traffic_moves_is_ignored_with_a_notice() -> None:
    early = Operator(Verb.PROMOTE_FULL, lambda s, now: s.phase is ReleasePhase.APPLYING_STEPS)
    sim = Sim(operators=[early])

    state = sim.run(release())

    assert state.phase is ReleasePhase.PROMOTED
    assert sim.new_color_weights(Color.GREEN) == [10, 50, 100]  # every step still ran
    notices = [a for a in sim.actions(NotifyEvent) if isinstance(a, NotifyEvent)]
    assert early.done and any("promote-full ignored" in n.message for n in notices)
