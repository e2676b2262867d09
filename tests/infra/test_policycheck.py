"""The pack's config per stack, and the pack applied offline to a stack's plan.

Plans of the real stacks come from `infra.offline.plan_stack`, which runs the program under
set_mocks (a stand-in for the engine: no Pulumi CLI here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import runbooks.cli.policy
from infra.offline import PlannedResource
from infra.policies import ALL_RULES
from infra.policies.config import PolicyConfigError, load_pack_config, parse_pack_config
from infra.policycheck import Finding, blocking, check_plan, check_planned, check_stack
from stackspec.stackfile import PROJECT_ROOT, StackFileError
from tests.infra.conftest import Plan

CLI = typer.Typer()
CLI.callback()(lambda: None)
CLI.add_typer(runbooks.cli.policy.policy)

PUBLIC_DB = PlannedResource("aws:rds/instance:Instance", "db", {"publiclyAccessible": True})


def parse(document: Any) -> Any:
    return parse_pack_config("policy/config/x.json", document, ALL_RULES)


def test_levels_default_to_mandatory_and_settings_to_the_schema() -> None:
    """Pure: a policy the file does not name is mandatory, at its schema's defaults."""
    config = parse({"rds-backups": {"minBackupDays": 21}})
    assert set(config.levels.values()) == {"mandatory"}
    assert config.settings["rds-backups"]["minBackupDays"] == 21
    assert config.settings["ec2-authorized-ports-only"]["authorizedPorts"] == [80, 443]


def test_all_and_per_policy_levels() -> None:
    """Pure: `all` sets every level; a policy's own entry overrides it."""
    config = parse({"all": "advisory", "k8s-pinned-images": "mandatory"})
    assert config.levels["rds-backups"] == "advisory"
    assert config.levels["k8s-pinned-images"] == "mandatory"


@pytest.mark.parametrize(
    ("document", "key", "allowed"),
    [
        ({"all": "strict"}, "all", "'advisory', 'mandatory'"),
        ({"rds-backup": "advisory"}, "rds-backup", "rds-backups"),
        ({"rds-backups": {"enforcementLevel": "hard"}}, "rds-backups.enforcementLevel", "one of"),
        ({"rds-backups": {"minBackupDays": "14"}}, "rds-backups.minBackupDays", "an integer"),
        ({"rds-backups": {"minBackupDays": 0}}, "rds-backups.minBackupDays", "at least 1"),
        ({"rds-backups": {"minDays": 14}}, "rds-backups.minDays", "minBackupDays"),
        (
            {"ec2-authorized-ports-only": {"authorizedPorts": [443, "x"]}},
            "authorizedPorts",
            "integer",
        ),
        ({"k8s-probes": {"requireStartupProbe": 1}}, "requireStartupProbe", "a boolean"),
        ({"eks-supported-version": {"minimumVersion": "v1.31"}}, "minimumVersion", "matching"),
    ],
)
def test_bad_config_names_file_key_and_what_is_allowed(
    document: Any, key: str, allowed: str
) -> None:
    """Pure: every problem names the file, the key and the allowed values."""
    with pytest.raises(PolicyConfigError) as caught:
        parse(document)
    message = str(caught.value)
    assert "policy/config/x.json" in message and key in message and allowed in message


def test_missing_config_file_lists_the_existing_ones(tmp_path: Path) -> None:
    """A stack without a pack config is refused, not run with no rules."""
    (tmp_path / "dev.json").write_text("{}")
    with pytest.raises(PolicyConfigError, match=r"(?s)qa.json.*dev.json"):
        load_pack_config("qa", ALL_RULES, tmp_path)


def test_a_bad_pack_config_is_a_stack_file_error_like_any_other() -> None:
    """Pure: one error for a bad file of the stack, with the same exit code and layout."""
    with pytest.raises(StackFileError) as caught:
        parse({"all": "strict", "rds-backups": {"minBackupDays": 0}})
    err = caught.value
    assert isinstance(err, PolicyConfigError) and err.exit_code == 2
    assert [p.key for p in err.problems] == ["all", "rds-backups.minBackupDays"]
    assert str(err).splitlines() == [
        "policy/config/x.json: invalid policy pack config",
        "  - all: got 'strict'; allowed: one of ['advisory', 'mandatory', 'remediate', 'disabled']",
        "  - rds-backups.minBackupDays: got 0; allowed: at least 1",
    ]


def test_cli_reports_a_bad_pack_config_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """`runbook policy check` (which scripts/deploy runs) catches it as a StackFileError."""

    def bad_config(_stack: str) -> list[Finding]:
        raise PolicyConfigError("policy/config/qa.json", [])

    monkeypatch.setattr(runbooks.cli.policy, "check_stack", bad_config)
    result = CliRunner().invoke(CLI, ["policy", "check", "--stack", "qa"])
    assert result.exit_code == 2
    assert "policy/config/qa.json: invalid policy pack config" in result.output


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_shipped_configs_are_valid_and_only_dev_relaxes(stack: str) -> None:
    """The repository's pack configs load; staging and production are mandatory throughout."""
    config = load_pack_config(stack, ALL_RULES)
    levels = set(config.levels.values())
    assert levels == {"mandatory"} if stack != "dev" else "advisory" in levels


def test_production_asks_more_backup_days_than_staging() -> None:
    """The per-stack setting the schema exists for."""
    days = {s: load_pack_config(s, ALL_RULES).settings["rds-backups"]["minBackupDays"]
            for s in ("staging", "production")}  # fmt: skip
    assert days["production"] > days["staging"] >= 7


def test_mandatory_findings_block_and_advisory_ones_do_not() -> None:
    """Pure over a literal plan: the same violation blocks in production, not in dev."""
    mandatory = check_plan([PUBLIC_DB], parse({}))
    advisory = check_plan([PUBLIC_DB], parse({"all": "advisory"}))
    disabled = check_plan([PUBLIC_DB], parse({"all": "disabled"}))
    public = [f for f in mandatory if f.policy == "rds-not-public"]
    assert public and public[0].severity == "critical" and public[0].control == "RDS.2"
    assert public[0].remediation and blocking(public) == public
    assert advisory and blocking(advisory) == [] and disabled == []


def test_findings_come_worst_first_and_stack_rules_run() -> None:
    """Pure: critical before high; a VPC without flow logs is a stack finding."""
    vpc = PlannedResource("aws:ec2/vpc:Vpc", "vpc", {})
    found = check_plan([vpc, PUBLIC_DB], parse({}))
    assert found[0].severity == "critical"
    assert any(f.policy == "ec2-vpc-flow-logs" and f.resource == "stack" for f in found)


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_stacks_have_no_mandatory_violation(plans: Callable[[str], Plan], stack: str) -> None:
    """Engine mocked with set_mocks: the real stacks' plans pass their pack config."""
    found = blocking(check_planned(stack, plans(stack)))
    assert [f"{f.policy} {f.resource}: {f.message}" for f in found] == []


def test_cli_exits_1_on_a_mandatory_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verb's exit codes: 1 with a mandatory finding (shown with its fix), 0 advisory."""
    finding = Finding("rds-not-public", "mandatory", "critical", "RDS.2", "db", "public", "fix")

    def fake(level: str) -> Callable[[str], list[Finding]]:
        return lambda _stack: [Finding(**{**finding.__dict__, "level": level})]

    monkeypatch.setattr(runbooks.cli.policy, "check_stack", fake("mandatory"))
    result = CliRunner().invoke(CLI, ["policy", "check", "--stack", "production"])
    assert result.exit_code == 1 and "fix: fix" in result.stdout and "[RDS.2]" in result.stdout
    monkeypatch.setattr(runbooks.cli.policy, "check_stack", fake("advisory"))
    result = CliRunner().invoke(CLI, ["policy", "check", "--stack", "dev", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["findings"][0]["blocking"] is False


def test_cli_checks_a_real_stack_and_refuses_local() -> None:
    """Engine mocked with set_mocks: production passes (0); local is not Pulumi's (2)."""
    result = CliRunner().invoke(CLI, ["policy", "check", "--stack", "production", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["blocking"] == 0
    refused = CliRunner().invoke(CLI, ["policy", "check", "--stack", "local"])
    assert refused.exit_code == 2 and "local" in refused.output and "json" not in refused.output


def test_negative_control_a_weakened_production_file_is_stopped(tmp_path: Path) -> None:
    """Engine mocked with set_mocks: production's stack file with 3 days of backups plans
    fine, and the pack (production config: minBackupDays 14) stops it."""
    source = (PROJECT_ROOT / "stacks" / "Pulumi.production.yaml").read_text()
    assert "backupRetentionDays: 14" in source
    weakened = source.replace("backupRetentionDays: 14", "backupRetentionDays: 3")
    (tmp_path / "Pulumi.production.yaml").write_text(weakened)
    found = blocking(check_stack("production", stacks_dir=tmp_path))
    assert [(f.policy, f.resource) for f in found] == [
        ("rds-backups", "aws:rds/instance:Instance database-writer")
    ]
    assert "at least 14" in found[0].message and found[0].control == "RDS.11"
