"""status, history, report and the engine's metrics for real rollouts on a private stack.

Given the module's private local stack (short bakes) under steady load, when a healthy
release runs and then a faulty one is rolled back, then `status` reports HAProxy's live
weights while the release runs, `history` names both, `report` renders the rolled-back one
as an offline page with axes, bands and markers, and the engine's textfile says how it ended.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runbooks.local.load import Load
from tests.integration.engine.harness import (
    SERVICE,
    STACK,
    Stack,
    finish,
    in_progress_on_step,
    newest_release,
    poll,
    rollout_args,
)

pytestmark = pytest.mark.integration
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def status_row(stack: Stack) -> dict[str, Any]:
    done = stack.run("status", "-s", STACK, "--service", SERVICE, "-o", "json")
    assert done.returncode == 0, done.stderr
    row: dict[str, Any] = json.loads(done.stdout)["services"][0]
    return row


def test_status_reads_haproxys_live_weights_while_a_release_runs(stack: Stack, load: Load) -> None:
    new = stack.active_color().other
    assert new.value == "green"  # the split asserted below
    before = newest_release(stack.journal())
    proc = stack.start(*rollout_args("3.1.0-views"))
    row: dict[str, Any] | None = None
    try:
        release_id = poll(
            lambda: (r := newest_release(stack.journal())) != before and r,
            timeout=180,
            what="the release to start",
        )
        poll(
            lambda: (
                in_progress_on_step(stack, str(release_id), 0) and stack.weights().of(new) == 10
            ),
            timeout=180,
            what="step 1 to bake",
        )
        row = status_row(stack)
    finally:
        code, out, err = finish(proc, timeout=600)
        assert row is not None, f"exit {code}: " + err[-3000:] + out[-3000:]

    # How the release ends does not matter here (a loaded machine can slow the new color).
    assert row["release"]["id"] == release_id and row["release"]["running"]
    assert row["live_weights_error"] is None
    assert row["weights_source"] == "router" and row["weights_mismatch"] is None
    assert row["weights"] == {"blue": 90, "green": 10} == row["journal_weights"]
    assert [s["mark"] for s in row["steps"]] == ["current", "pending", "pending"]
    assert row["engine_alive"] is True


def test_a_rolled_back_release_in_history_report_and_metrics(
    stack: Stack, load: Load, tmp_path: Path
) -> None:
    old = stack.active_color()
    done = stack.run(*rollout_args("3.2.0-views", "--fault", "error-rate=0.2"), timeout=300)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    release_id = str(newest_release(stack.journal()))

    row = status_row(stack)
    history = json.loads(stack.run("history", "-s", STACK, "-o", "json").stdout)["releases"]
    out = tmp_path / "report.html"
    made = stack.run("report", release_id, "-s", STACK, "--out", str(out))
    textfile = stack.base / "runbook" / STACK / "metrics" / f"{SERVICE}.prom"

    assert row["weights"] == asdict_weights(old.value) and row["weights_source"] == "router"
    assert row["release"]["outcome"] == "rolled-back" and row["release"]["reason"]
    assert (history[0]["id"], history[0]["to_version"], history[0]["outcome"]) == (
        release_id,
        "3.2.0-views",
        "rolled-back",
    )
    assert made.returncode == 0, made.stderr
    html = out.read_text()
    assert not EXTERNAL.search(html) and "https://" not in html and "http://" not in html
    assert re.findall(r'class="xtick"[^>]*>([^<]+)<', html)
    assert re.findall(r'class="ytick"[^>]*>([^<]+)<', html)
    assert 'class="band"' in html and 'class="verdict"' in html
    assert {"started", "rollback-started", "rolled-back"} <= set(
        re.findall(r'<g class="marker ([a-z-]+)">', html)
    )
    text = textfile.read_text()
    assert (
        'runbook_release_phase{phase="rolled-back",service="trading-api",stack="local"} 1.0' in text
    )
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def asdict_weights(color: str) -> dict[str, int]:
    return {"blue": 100, "green": 0} if color == "blue" else {"blue": 0, "green": 100}
