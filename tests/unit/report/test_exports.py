"""`runbook export grafana|alerts` for every stack: promtool accepts the rules, and every
dashboard panel queries a metric the engine's textfile exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.engine_metrics import EXPORTED
from runbooks.session import current_settings

STACKS = ("local", "dev", "staging", "production")
PROMTOOL = shutil.which("promtool")
PROMQL_WORDS = {
    "max", "min", "sum", "by", "on", "and", "or", "unless", "rate", "time", "histogram_quantile",
}  # fmt: skip


def export(*args: str) -> str:
    result = CliRunner().invoke(app, ["export", *args])
    assert result.exit_code == 0, result.output
    return result.output


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (identifiers before `{` or alone)."""
    bare = re.sub(r"\{[^}]*\}", "", re.sub(r'"[^"]*"', "", expr))
    bare = re.sub(r"\b(by|on)\s*\([^)]*\)", "", bare)
    return {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare) if w not in PROMQL_WORDS}


@pytest.mark.skipif(PROMTOOL is None, reason="promtool comes with Debian's prometheus (setup)")
@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_the_alert_rules(stack: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    export("alerts", "-s", stack, "--out", str(path))

    checked = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize("stack", STACKS)
def test_alert_rules_carry_the_policys_thresholds(stack: str) -> None:
    rules = yaml.safe_load(export("alerts", "-s", stack))
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    t = current_settings(stack).rollout.thresholds

    assert f"< {t.availability_percent:g}" in by_name["ServiceAvailabilityUnderPolicy"]["expr"]
    assert (
        f"> {t.error_rate_increase_pp / 100:g}"
        in (by_name["ServiceErrorRateAboveOtherColor_green"]["expr"])
    )
    latency = by_name["ServiceLatencyAboveOtherColor_green"]["expr"]
    assert f"> {1 + t.p95_latency_increase_percent / 100:g} *" in latency
    assert f"> {t.p95_latency_floor_ms / 1000:g}" in latency
    assert {"RunbookReleaseRolledBack", "RunbookReleaseAborted", "RunbookEngineSilent"} <= set(
        by_name
    )
    if hasattr(t, "max_consumer_lag"):
        assert f"> {t.max_consumer_lag:g}" in by_name["ConsumerLagOverPolicy"]["expr"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_panel_queries_a_metric_the_textfile_exports(stack: str) -> None:
    dashboard = json.loads(export("grafana", "-s", stack))

    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert panels and all(p["targets"] for p in panels)
    for expr in exprs:
        names = metric_names(expr)
        assert names and names <= set(EXPORTED), expr
    services = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert services == {s.name for s in current_settings(stack).services}


def test_the_name_check_would_catch_an_unknown_metric() -> None:
    assert metric_names('max by (phase) (runbook_release_phase{stack="x"}) == 1') == {
        "runbook_release_phase"
    }
    assert not metric_names("http_requests_total{a='b'}") <= set(EXPORTED)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool comes with Debian's prometheus (setup)")
def test_a_rolled_back_release_alerts_for_an_hour_after_its_last_turn_not_forever(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    export("alerts", "-s", "local", "--out", str(rules))
    at = 'stack="local",service="trading-api"'
    labels = {"stack": "local", "service": "trading-api", "severity": "warning"}
    rule = next(
        r
        for g in yaml.safe_load(rules.read_text())["groups"]
        for r in g["rules"]
        if r.get("alert") == "RunbookReleaseRolledBack"
    )
    said = {
        k: v.replace("{{ $labels.service }}", "trading-api") for k, v in rule["annotations"].items()
    }
    fired = {"exp_labels": {**labels, "phase": "rolled-back"}, "exp_annotations": said}
    cases = [("10m", [fired]), ("2h", [])]
    suite = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # the release ended at time 0; the textfile keeps its phase after that
                    {
                        "series": f'runbook_release_phase{{{at},phase="rolled-back"}}',
                        "values": "1x200",
                    },
                    {
                        "series": f"runbook_release_last_turn_timestamp_seconds{{{at}}}",
                        "values": "0x200",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": when, "alertname": "RunbookReleaseRolledBack", "exp_alerts": exp}
                    for when, exp in cases
                ],
            }
        ],
    }
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(suite))

    tested = subprocess.run(
        [str(PROMTOOL), "test", "rules", str(path)], capture_output=True, text=True
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr
