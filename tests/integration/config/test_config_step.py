"""The config release step against real trading-api processes (blue old, green new).

Given both colors started on configuration v1, when the step applies v2, then green runs
v2 (seen from the process: header, /health, /metrics, and the live `features.bidAsk` flag
in its quotes) while blue keeps v1; undo gives green v1 back, and is idempotent, also from a
fresh step fed only the journaled (JSON) data. A bad file on reload keeps the running one.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.config_rollback import measure_config_rollback
from runbooks.config.files import version_path
from runbooks.config.targets import rendered_path
from runbooks.local import record
from runbooks.local.process import wait_until
from runbooks.steps.base import StepOutcome
from runbooks.steps.config_step import ConfigStep
from stackspec.model import Color
from tests.integration.config.conftest import SERVICE, Services

pytestmark = pytest.mark.integration


def running(services: Services, color: Color) -> tuple[str, dict[str, object]]:
    """(X-Config-Version of a quote, the quote) as the process of `color` answers now."""
    answer = httpx.get(f"{services.url(color)}/quotes/AAPL", timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-config-version"], answer.json()


def health(services: Services, color: Color) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{services.url(color)}/health", timeout=5).json()
    return body


def config_of(services: Services, color: Color) -> dict[str, Any]:
    """The `config` section of the process's /health: version, file, reloads, error."""
    config: dict[str, Any] = health(services, color)["config"]
    return config


def journaled(outcome: StepOutcome) -> StepOutcome:
    """The outcome as another process reads it back from the journal (JSON)."""
    data = json.loads(json.dumps(outcome.data))
    return StepOutcome(outcome.name, outcome.ok, outcome.message, data)


def test_apply_gives_the_new_color_the_new_config_and_undo_the_old(services: Services) -> None:
    step = ConfigStep()
    assert running(services, Color.GREEN)[0] == "1"

    applied = step.apply(services.context(config_version=2))

    assert applied.ok, applied.message
    assert applied.data == {
        "service": SERVICE,
        "color": "green",
        "version": 2,
        "restore_version": 1,
        "replaced_version": 1,
    }
    header, quote = running(services, Color.GREEN)
    assert header == "2" and "bid" in quote and "ask" in quote  # features.bidAsk is live
    assert health(services, Color.GREEN)["config_version"] == 2
    metrics = httpx.get(f"{services.url(Color.GREEN)}/metrics").text
    assert 'service_config_version{color="green",service="trading-api",version="1.0.0"} 2.0' in (
        metrics
    )
    header, quote = running(services, Color.BLUE)
    assert header == "1" and "bid" not in quote
    assert step.verify(services.context()).data == {"version": 2}

    undone = ConfigStep().undo(services.context(), journaled(applied))

    assert undone.ok, undone.message
    header, quote = running(services, Color.GREEN)
    assert header == "1" and "bid" not in quote
    rendered = rendered_path(services.state_dir, SERVICE, Color.GREEN)
    assert rendered.read_text() == version_path(SERVICE, 1).read_text()
    again = ConfigStep().undo(services.context(), journaled(applied))
    assert again.ok and "already runs v1" in again.message


def test_undo_without_journaled_data_restores_the_old_colors_version(services: Services) -> None:
    """A crash before apply's outcome was journaled: undo reads blue's version live."""
    step = ConfigStep()
    assert step.apply(services.context(config_version=2)).ok
    undone = step.undo(services.context(), StepOutcome("config", False, "crashed"))
    assert undone.ok, undone.message
    assert running(services, Color.GREEN)[0] == "1"


def test_a_bad_file_on_reload_keeps_the_running_config_and_is_reported(
    services: Services,
) -> None:
    path = rendered_path(services.state_dir, SERVICE, Color.GREEN)
    good = path.read_text()
    before = config_of(services, Color.GREEN)
    assert before["version"] == 1
    pid = record.load(services.state_dir)[f"{SERVICE}-green"].server.pid
    try:
        path.write_text("schemaVersion: 2\norders: {maxQuantity: 0}\n")
        os.kill(pid, signal.SIGHUP)
        wait_until(
            lambda: config_of(services, Color.GREEN)["reloads"] > before["reloads"],
            10,
            "green to try the bad file",
        )
        config = config_of(services, Color.GREEN)
        assert config["version"] == 1
        assert "orders.maxQuantity: got 0; allowed: a number >= 1" in config["error"]
        assert running(services, Color.GREEN)[0] == "1"
        metrics = httpx.get(f"{services.url(Color.GREEN)}/metrics").text
        assert 'result="failed",service="trading-api",version="1.0.0"} 1.0' in metrics
    finally:
        path.write_text(good)
    # The next good reload clears the error.
    outcome = ConfigStep().apply(services.context(config_version=2))
    assert outcome.ok, outcome.message
    config = config_of(services, Color.GREEN)
    assert (config["version"], config["error"]) == (2, None)
    assert ConfigStep().undo(services.context(), outcome).ok


def test_an_invalid_version_fails_before_anything_moves(services: Services, tmp_path: Path) -> None:
    """The step validates the file first: green keeps running v1, its file is untouched."""
    (tmp_path / SERVICE).mkdir()
    (tmp_path / SERVICE / "v1.yaml").write_text("schemaVersion: 1\n")
    (tmp_path / SERVICE / "v2.yaml").write_text("schemaVersion: 2\nfeatures: {bidAsk: maybe}\n")
    rendered = rendered_path(services.state_dir, SERVICE, Color.GREEN)
    before = rendered.read_text()
    outcome = ConfigStep().apply(services.context(config_dir=str(tmp_path)))
    assert not outcome.ok
    assert "features.bidAsk: got 'maybe'" in outcome.message
    assert running(services, Color.GREEN)[0] == "1"
    assert rendered.read_text() == before


def test_the_rollback_benchmark_measures_undo_against_the_target(services: Services) -> None:
    """benchmarks.config_rollback on this stack: every undo done, median well under 300 s."""
    figure = measure_config_rollback(services.settings, runs=3)
    print(json.dumps(figure.as_json()))
    assert figure.passed, figure.comparison
    assert figure.details["restored_version"] == 1
    assert len(figure.details["undo_seconds"]) == 3
    assert figure.baseline is not None and figure.baseline > 0
    assert running(services, Color.GREEN)[0] == "1"
