"""`runbook plan` end to end through the CLI. The Pulumi engine is mocked with set_mocks
(inside infra.offline.plan_stack): the Pulumi CLI does not exist here."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

import runbooks.cli.plan  # noqa: F401  (registers the verb)
from runbooks.cli.app import app

# `app`'s verbs inside a group with a callback: while `plan` is app's only verb, Typer would
# otherwise run it as the whole program (no `plan` word on the command line).
CLI = typer.Typer()
CLI.callback()(lambda: None)
CLI.registered_commands.extend(app.registered_commands)


def test_plan_production_json_lists_resources_with_secrets_masked() -> None:
    """Engine mocked with set_mocks: --json gives stack and resources; no secret leaks."""
    result = CliRunner().invoke(CLI, ["plan", "--stack", "production", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["stack"] == "production"
    kinds = {r["type"] for r in payload["resources"]}
    assert {"aws:rds/instance:Instance", "aws:msk/cluster:Cluster"} <= kinds
    assert all(set(r) == {"type", "name", "props"} for r in payload["resources"])
    assert "mock-password" not in result.stdout and "[secret]" in result.stdout


def test_parity_of_staging_and_production_passes() -> None:
    """Engine mocked with set_mocks: same shape, exit 0."""
    result = CliRunner().invoke(CLI, ["plan", "--parity", "staging", "production"])
    assert result.exit_code == 0, result.output
    assert "same shape" in result.stdout


def test_parity_of_dev_and_production_reports_differences() -> None:
    """Engine mocked with set_mocks: in-cluster vs managed differ in shape, exit 1."""
    result = CliRunner().invoke(CLI, ["plan", "--parity", "dev", "production", "--json"])
    assert result.exit_code == 1
    details = json.loads(result.stdout)["differences"]
    assert {
        "type": "aws:rds/instance:Instance",
        "name": "database-writer",
        "detail": "only in the second stack",
    } in details


def test_local_and_unknown_stacks_exit_2_with_the_reason() -> None:
    """Engine mocked with set_mocks: refusals and bad files go to stderr with exit 2."""
    local = CliRunner().invoke(CLI, ["plan", "--stack", "local"])
    assert local.exit_code == 2 and "scripts/local-stack up" in local.stderr
    missing = CliRunner().invoke(CLI, ["plan", "--stack", "nope"])
    assert missing.exit_code == 2 and "Pulumi.nope.yaml" in missing.stderr
