"""The `policy` gate: the policy pack over each stack's offline plan (computed under
set_mocks, the engine's stand-in), failing on what would stop `pulumi up`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from infra.gates.__main__ import main
from infra.gates.run import STACKS, policy_gate
from tests.gates.conftest import Plan

RDS = "aws:rds/instance:Instance"


def _unencrypted(plan: Plan) -> Plan:
    """`plan` with every RDS instance's storage unencrypted."""
    return [
        dataclasses.replace(r, props={**r.props, "storageEncrypted": False}) if r.type == RDS else r
        for r in plan
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_its_policy_pack(plans: Callable[[str], Plan], stack: str) -> None:
    result = policy_gate(stack, plans(stack))
    assert result.checked == len(plans(stack)) > 0
    assert [str(f) for f in result.failures] == []


def test_negative_control_unencrypted_database_is_stopped(plans: Callable[[str], Plan]) -> None:
    """Production's plan with RDS storage unencrypted fails the gate, naming the policy."""
    plan = _unencrypted(plans("production"))
    result = policy_gate("production", plan)
    assert not result.passed
    stopped = [f for f in result.failures if f.rule == "rds-encrypted mandatory"]
    assert stopped and all(f.resource.startswith(RDS) for f in stopped)
    assert all("storageEncrypted must be true" in f.message for f in stopped)


def test_advisory_findings_do_not_fail_but_are_reported(plans: Callable[[str], Plan]) -> None:
    """The stack's pack config decides: under dev's (every rule advisory but pinned images)
    the same change is listed as skipped, not failed."""
    plan = _unencrypted(plans("production"))
    result = policy_gate("dev", plan)  # dev's config: all advisory but pinned images
    assert result.passed
    assert any(s.startswith("rds-encrypted aws:rds/instance:Instance") for s in result.skipped)


def test_make_validate_runs_the_policy_gate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "production", "--gate", "policy"]) == 0
    assert capsys.readouterr().out.startswith("PASS policy     production")
