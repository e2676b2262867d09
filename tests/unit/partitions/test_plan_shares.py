"""Bad input: a consumer service whose topics have too few partitions for the plan's steps
is refused when the plan is built (exit 2 through the CLI), naming the topic, its
partitions and what the steps need."""

from __future__ import annotations

from typing import Any

import pytest

from runbooks.core.plan import build_plan
from stackspec.errors import BadInput, ExitCode
from stackspec.model import StackSettings
from stackspec.stackfile import load_stack


def local_with(partitions: int, **rollout: Any) -> StackSettings:
    """The project's local stack with `order-events` at `partitions` and rollout keys."""
    settings = load_stack("local")
    topics = tuple(
        t.model_copy(update={"partitions": partitions}) if t.name == "order-events" else t
        for t in settings.streaming.topics
    )
    return settings.model_copy(
        update={
            "streaming": settings.streaming.model_copy(update={"topics": topics}),
            "rollout": settings.rollout.model_copy(update=rollout),
        }
    )


def test_given_six_partitions_when_planned_then_each_step_has_its_share() -> None:
    plan = build_plan(local_with(6), "market-data", "1.1.0")
    assert [s.weight for s in plan.steps] == [10, 50, 100]


@pytest.mark.parametrize("partitions", [1, 2])
def test_given_too_few_partitions_when_planned_then_bad_input_names_topic_and_need(
    partitions: int,
) -> None:
    with pytest.raises(BadInput) as raised:
        build_plan(local_with(partitions), "market-data", "1.1.0")
    message = str(raised.value)
    assert f"topic 'order-events' has {partitions} partition(s)" in message
    assert "steps 10%, 50%, 100%" in message and "at least 3 partitions" in message
    assert raised.value.exit_code is ExitCode.BAD_INPUT


def test_given_one_partition_and_blue_green_when_planned_then_it_fits() -> None:
    plan = build_plan(local_with(1, strategy="blue-green"), "market-data", "1.1.0")
    assert [s.weight for s in plan.steps] == [0, 100]


def test_given_an_http_service_when_planned_then_partitions_do_not_matter() -> None:
    assert build_plan(local_with(1), "trading-api", "1.1.0").service == "trading-api"


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_every_deployed_stack_fits_its_consumer_release(stack: str) -> None:
    settings = load_stack(stack)
    consumer = next(s for s in settings.services if s.kind == "consumer")
    plan = build_plan(settings, consumer.name, "9.9.9")
    assert plan.service == consumer.name
