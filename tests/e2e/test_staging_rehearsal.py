"""The staging rehearsal end to end, as an operator runs it: `runbook rehearse --stack staging`.

It runs against stand-ins, because neither AWS nor a Kubernetes API server can run here: a
moto server (ALB, CloudWatch, RDS, CloudFront), the Kubernetes API stand-in, a private
PostgreSQL and simulated load (see runbooks/rehearsal/staging.py for what that proves).

Given the staging stack file with short bakes, when `runbook rehearse --stack staging`
runs with traffic on the ALB stand-in (`--router aws-alb`) or on the HTTPRoute of the
Kubernetes stand-in (`--router kubernetes`), then the healthy version is promoted and
ends with all traffic, the faulty one is detected from CloudWatch's numbers and rolled
back with all traffic on the promoted color, each migration was preceded by an RDS
snapshot and each edge step invalidated CloudFront, the promoted version is recorded in
the stack's config and runs on its Deployment, the report holds the timeline, and the
stack file itself is untouched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackspec.stackfile import PROJECT_ROOT

pytestmark = pytest.mark.e2e

FIRST_STEP_WEIGHT = 10
INTERVAL = 2
SHORT_POLICY = {
    "steps": [
        {"weight": FIRST_STEP_WEIGHT, "bakeSeconds": 4},
        {"weight": 50, "bakeSeconds": 4},
        {"weight": 100, "bakeSeconds": 2},
    ],
    "analysisIntervalSeconds": INTERVAL,
    "scaleDownDelaySeconds": 1,
}
RATE = 600  # simulated requests per second: the 10% step sees minRequests per interval
RUNBOOK = Path(sys.executable).with_name("runbook")
STAGING = PROJECT_ROOT / "stacks" / "Pulumi.staging.yaml"


@pytest.fixture(scope="module", params=["aws-alb", "kubernetes"])
def rehearsal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    base = tmp_path_factory.mktemp("staging-rehearsal")
    document = yaml.safe_load(STAGING.read_text())
    document["config"]["trading-platform:rollout"].update(SHORT_POLICY)
    (base / "stacks").mkdir()
    stack_file = base / "stacks" / "Pulumi.staging.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    written = stack_file.read_text()
    env = os.environ | {
        "RUNBOOK_STACKS_DIR": str(base / "stacks"),
        "RUNBOOK_STATE_DIR": str(base / "runbook"),
        "COLUMNS": "400",  # one summary line per line
    }
    reports = base / "reports"
    argv = ["rehearse", "--stack", "staging", "--rate", str(RATE), "--report-dir", str(reports)]
    argv += ["--router", request.param]
    done = subprocess.run(
        [str(RUNBOOK), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    result = json.loads((reports / "rehearsal.json").read_text())
    # the release state went into the rehearsal's copy of the stack file, never this one
    result["stack_file_untouched"] = stack_file.read_text() == written
    return done, result


def test_healthy_version_is_promoted_and_faulty_one_rolled_back(
    rehearsal: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, result = rehearsal
    healthy, faulty = result["releases"]
    assert (healthy["outcome"], healthy["failed_requests"]) == ("promoted", 0)
    assert healthy["steps"] == [FIRST_STEP_WEIGHT, 50, 100]
    assert faulty["outcome"] == "rolled-back"
    assert faulty["faulty_responses"] > 0
    # detected from CloudWatch's answers within a few analysis intervals
    assert faulty["restored_after_seconds"] is not None
    assert faulty["restored_after_seconds"] < 4 * INTERVAL + 2
    assert any(v.startswith("error-rate: Failed") for v in faulty["verdicts"]), faulty


def test_traffic_ends_fully_on_the_promoted_color(
    rehearsal: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, result = rehearsal
    weights = result["weights"]  # as the ALB stand-in's listener read them back
    promoted_to = "blue" if weights[0]["blue"] == FIRST_STEP_WEIGHT else "green"
    assert weights[-1][promoted_to] == 100, weights
    tail = [p for p in result["points"] if p["t"] >= weights[-1]["t"] + 1]
    assert tail and {p["color"] for p in tail} == {promoted_to}, tail
    kinds = {m["kind"] for m in result["markers"]}
    assert {"started", "promoted", "rollback-started", "rolled-back"} <= kinds


def test_migrations_were_snapshotted_and_the_edge_invalidated(
    rehearsal: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    # Given two releases carrying db-migration and edge-purge, the second rolled back: one
    # RDS snapshot before each expand; an invalidation for each apply and for the undo.
    done, _ = rehearsal
    found = re.search(
        r"stand-in AWS: (\d+) RDS snapshot\(s\).*?; (\d+) CloudFront invalidation", done.stdout
    )
    assert found, done.stdout[-2000:]
    assert (int(found.group(1)), int(found.group(2))) == (2, 3)


def test_the_promoted_version_is_recorded_and_deployed(
    rehearsal: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    # The Pulumi driver wrote the release state into the rehearsal's copy of the stack's
    # config, and deployed through the Kubernetes deployer onto the stand-in.
    done, result = rehearsal
    healthy = result["releases"][0]["version"]
    recorded = re.search(r"trading-api active (\w+), versions blue (\S+), green (\S+)", done.stdout)
    assert recorded, done.stdout[-2000:]
    active = recorded.group(1)
    versions = {"blue": recorded.group(2), "green": recorded.group(3)}
    assert versions[active] == healthy
    running = re.search(rf"deployment trading-api-{active} runs (\S+)", done.stdout)
    assert running and running.group(1).endswith(f":{healthy}"), done.stdout[-2000:]


def test_the_stack_file_is_untouched_and_the_report_written(
    rehearsal: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, result = rehearsal
    assert result["stack_file_untouched"]
    assert "against stand-ins" in done.stdout
    assert f"traffic moves through {done.args[-1]}" in done.stdout
    assert {p["color"] for p in result["points"]} >= {"blue", "green"}
