"""The release plan built from a stack's rollout policy."""

from __future__ import annotations

import pytest

from runbooks.core.analysis import Limits
from runbooks.core.model import Weights
from runbooks.core.plan import PlanStep, Strategy, build_plan
from stackspec.errors import BadInput
from stackspec.model import Color
from tests.unit.core.builders import make_settings

STEPS = [{"weight": 5, "bakeSeconds": 60}, {"weight": 50, "bakeSeconds": 120}, {"weight": 100}]


def test_given_canary_policy_when_planned_then_one_step_per_policy_step_to_the_idle_color() -> None:
    settings = make_settings(steps=STEPS, failureLimit=2, manualPromotion=True)

    plan = build_plan(settings, "trading-api", "2.0.0", ("db-migration", "cache-bump"))

    assert (plan.old_color, plan.new_color) == (Color.BLUE, Color.GREEN)
    assert (plan.old_version, plan.version, plan.strategy) == ("1.0.0", "2.0.0", Strategy.CANARY)
    assert plan.steps == (
        PlanStep("canary-5", 5, 60.0),
        PlanStep("canary-50", 50, 120.0),
        PlanStep("canary-100", 100, 60.0),
    )
    assert plan.limits == Limits(failure_limit=2, consecutive_error_limit=4, inconclusive_limit=3)
    assert plan.release_steps == ("db-migration", "cache-bump")
    assert plan.manual_promotion is True
    assert plan.weights_at(5) == Weights(blue=95, green=5)
    assert plan.old_weights == Weights(blue=100, green=0)


def test_given_blue_green_policy_when_planned_then_preview_then_switch() -> None:
    settings = make_settings(strategy="blue-green", steps=STEPS, scaleDownDelaySeconds=45)

    plan = build_plan(settings, "trading-api", "2.0.0")

    assert plan.steps == (
        PlanStep("pre-promotion", 0, 60.0, analysed=True, min_requests=1),
        PlanStep("post-promotion", 100, 60.0),
    )
    assert plan.thresholds_for(plan.steps[0]).min_requests == 1
    assert plan.thresholds_for(plan.steps[1]).min_requests == 50
    assert plan.scale_down_delay_seconds == 45


def test_given_a_zero_weight_canary_step_when_planned_then_it_only_bakes() -> None:
    settings = make_settings(steps=[{"weight": 0, "bakeSeconds": 30}, {"weight": 100}])

    plan = build_plan(settings, "trading-api", "2.0.0")

    assert plan.steps[0] == PlanStep("canary-0", 0, 30.0, analysed=False)


@pytest.mark.parametrize(
    ("service", "version", "release_steps", "says"),
    [
        ("nope", "2.0.0", (), "unknown service 'nope'"),
        ("trading-api", "1.0.0", (), "already active on blue"),
        ("trading-api", "bad version!", (), "bad version"),
        ("trading-api", "2.0.0", ("cache-bump", "cache-bump"), "repeat"),
    ],
)
def test_given_bad_input_when_planned_then_bad_input_names_the_problem(
    service: str, version: str, release_steps: tuple[str, ...], says: str
) -> None:
    with pytest.raises(BadInput, match=says):
        build_plan(make_settings(), service, version, release_steps)
