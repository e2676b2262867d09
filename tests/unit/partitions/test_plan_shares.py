"""Bad input: a consumer service whose topics have too few partitions for the plan's steps
is refused when the plan is built (exit 2 through the CLI), naming the topic, its
partitions and what the steps need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbooks.core.plan import build_plan
from runbooks.local.isolated import isolated_stack
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


def test_given_too_few_partitions_when_rolled_out_then_exit_2_and_no_release(
    tmp_path: Path,
) -> None:
    isolated_stack(tmp_path)
    stack_file = tmp_path / "stacks" / "Pulumi.local.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    for topic in document["config"]["trading-platform:streaming"]["topics"]:
        topic["partitions"] = 1
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    env = os.environ | {
        "RUNBOOK_STACKS_DIR": str(tmp_path / "stacks"),
        "RUNBOOK_STATE_DIR": str(tmp_path / "runbook"),
    }
    runbook = Path(sys.executable).with_name("runbook")
    argv = [str(runbook), "rollout", "--stack", "local", "--service", "market-data"]
    done = subprocess.run(
        [*argv, "--version", "1.1.0"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr
    assert "topic 'order-events' has 1 partition(s)" in done.stderr
    assert "Traceback" not in done.stderr
    history = subprocess.run(
        [str(runbook), "history", "--stack", "local", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["releases"] == []  # nothing was recorded
