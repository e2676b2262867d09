"""Drill faults (runbooks.faults), one schema for `rollout --fault` and the sample services:
`error-rate=5` and `-1` started a release that crashed (exit 3), `fail-health=no` was read as
true, `added-latency-ms=-50` ran and `error-rate=nan` exited 1 with a traceback. Each is now
exit 2 naming the allowed range, before anything is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.faults import parse_faults
from runbooks.local.isolated import isolated_stack
from runbooks.session import open_journal
from samples import options
from stackspec.errors import BadInput, ExitCode

REFUSED = [
    (["error-rate=5"], "from 0 to 1"),
    (["error-rate=-1"], "from 0 to 1"),
    (["error-rate=nan"], "from 0 to 1"),
    (["error-rate=inf"], "from 0 to 1"),
    (["error-rate="], "from 0 to 1"),
    (["added-latency-ms=-50"], "from 0 to 60000"),
    (["added-latency-ms=1.5"], "whole number"),
    (["added-latency-ms=99999999"], "from 0 to 60000"),
    (["fail-health=maybe"], "true/false"),
    (["crash-on-start=2"], "true/false"),
    (["error-rate=0.1", "error-rate=0.2"], "once"),
    (["explode"], "error-rate, added-latency-ms"),
]


@pytest.mark.parametrize(("items", "says"), REFUSED, ids=[" ".join(i) for i, _ in REFUSED])
def test_out_of_range_faults_are_refused_with_the_allowed_values(
    items: list[str], says: str
) -> None:
    with pytest.raises(BadInput) as caught:
        parse_faults(items)
    assert says in f"{caught.value.message} {caught.value.hint}"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["fail-health=no"], {"fail_health": False}),
        (["fail-health=false"], {"fail_health": False}),
        (["fail-health"], {"fail_health": True}),
        (["crash-on-start=yes"], {"crash_on_start": True}),
        (["error-rate=0.2", "added-latency-ms=50"], {"error_rate": 0.2, "added_latency_ms": 50}),
        ([], {}),
    ],
)
def test_valid_faults_are_read_as_meant(items: list[str], expected: dict[str, object]) -> None:
    assert parse_faults(items) == expected


@pytest.mark.parametrize(
    "fault", ["error-rate=5", "error-rate=-1", "error-rate=nan", "added-latency-ms=-50"]
)
def test_the_cli_refuses_them_before_anything_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    isolated_stack(tmp_path)
    monkeypatch.setenv("RUNBOOK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "runbook"))
    args = ["rollout", "-s", "local", "--service", "trading-api", "--version", "9.0.0"]
    result = CliRunner().invoke(app, [*args, "--fault", fault])
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "allowed:" in result.output and "Traceback" not in result.output
    journal = open_journal("local")
    assert journal.history("local") == [] and journal.lock_holder("local") is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--error-rate", "5"],
        ["--error-rate", "nan"],
        ["--error-rate", "-0.1"],
        ["--added-latency-ms", "-50"],
        ["--added-latency-ms", "fast"],
    ],
)
def test_the_sample_services_refuse_them_too(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        options.parse("trading-api", argv)
    assert caught.value.code == 2
    assert "allowed:" in capsys.readouterr().err


def test_the_sample_services_read_fault_variables_as_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADING_FAIL_HEALTH", "no")
    monkeypatch.setenv("TRADING_ERROR_RATE", "0.25")
    faults = options.parse("trading-api", []).faults
    assert faults.fail_health is False and faults.error_rate == 0.25
    assert options.parse("trading-api", ["--fail-health"]).faults.fail_health is True
