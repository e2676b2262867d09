"""`runbook evidence` and `runbook approve` through the real application (no servers)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli import VERBS
from runbooks.cli.app import app
from stackspec.errors import ExitCode
from tests.unit.evidence.conftest import HMAC_ENV, SERVICE, STACK, Released

for _verb in VERBS:
    importlib.import_module(f"runbooks.cli.{_verb}")

SECRET_PART = "unit-test-secret"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_export_without_a_key_exits_2_naming_the_variable(
    released: Released, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNBOOK_EVIDENCE_KEY", raising=False)
    code, output = _run(
        "evidence", "export", "-s", STACK, "--service", SERVICE, "--version", "9.1.0"
    )
    assert code == ExitCode.BAD_INPUT and "RUNBOOK_EVIDENCE_KEY is not set" in output
    assert "Traceback" not in output


def test_export_then_verify_never_shows_the_key(
    released: Released, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in HMAC_ENV.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "evidence.json"
    code, exported = _run(
        "evidence", "export", "-s", STACK, "--service", SERVICE, "--version", "9.1.0",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, exported
    code, verified = _run("evidence", "verify", str(out), "--json")
    assert code == 0, verified
    assert json.loads(verified)["againstSource"] is True
    assert SECRET_PART not in exported + verified + out.read_text()
    # a changed byte of the body makes it invalid: exit 1
    out.write_text(out.read_text().replace('"outcome": "promoted"', '"outcome": "promotec"'))
    code, output = _run("evidence", "verify", str(out))
    assert code == ExitCode.FAILED and "digest mismatch" in output


def test_approve_counts_each_approver_once(released: Released) -> None:
    args = ("approve", "-s", STACK, "--service", SERVICE, "--version", "9.1.0", "--json")
    assert json.loads(_run(*args, "--by", "alice")[1])["approvals"] == 1
    assert json.loads(_run(*args, "--by", "alice")[1])["new"] is False
    assert json.loads(_run(*args, "--by", "bob")[1])["approvals"] == 2
    code, output = _run("approve", "-s", STACK, "--service", "nope", "--version", "1")
    assert code == ExitCode.BAD_INPUT and "no service 'nope'" in output
