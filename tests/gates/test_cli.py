"""`make validate`'s command: a verdict line per gate and stack, exit 1 on any failure.
Plans are computed under set_mocks (the engine's stand-in)."""

from __future__ import annotations

import io

import pytest

from infra.gates.__main__ import main
from infra.gates.result import Finding, GateResult
from infra.gates.run import report, run_gates


def test_the_report_names_each_failure_and_what_was_not_checked() -> None:
    bad = GateResult("awsnames", "production", checked=3)
    bad.failures.append(Finding("aws:ec2/securityGroup:SecurityGroup data", "description", "x"))
    good = GateResult("awsnames", "dev", checked=0, unchecked=["helm release: why"])
    out = io.StringIO()
    report([bad, good], out)
    assert out.getvalue().splitlines() == [
        "FAIL awsnames   production  3 checked, 1 failed",
        "    FAILED aws:ec2/securityGroup:SecurityGroup data: [description] x",
        "PASS awsnames   dev         0 checked, 0 failed, 1 unchecked",
        "    UNCHECKED helm release: why",
        "validate: 1 of 2 gate runs failed",
    ]


def test_an_unknown_gate_is_refused_with_the_valid_names() -> None:
    with pytest.raises(ValueError, match="valid gates: kubeschema, checkov, awsnames"):
        run_gates(["dev"], ["kubeconform"])


def test_a_passing_gate_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev", "--gate", "awsnames"]) == 0
    assert capsys.readouterr().out.startswith("PASS awsnames   dev")
