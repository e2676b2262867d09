"""`scripts/deploy`: the pack and the stack's pack config are always passed to Pulumi, and
the offline check runs first. The Pulumi CLI does not exist here: a stub records its
arguments; the offline check is a stub too (it is tested in test_policycheck.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from infra.deploygate import ENV
from stackspec.stackfile import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "scripts" / "deploy"


def stub(path: Path, exit_code: int, record: Path, env: str = "") -> Path:
    show = f'echo "{env}=${env}" >> {record}\n' if env else ""
    path.write_text(f'#!/bin/sh\necho "$@" >> {record}\n{show}exit {exit_code}\n')
    path.chmod(0o755)
    return path


def deploy(tmp_path: Path, *args: str, check_exit: int = 0) -> tuple[int, list[str]]:
    record = tmp_path / "calls"
    env = {
        **os.environ,
        "PULUMI": str(stub(tmp_path / "pulumi", 0, record, ENV)),
        "RUNBOOK": str(stub(tmp_path / "runbook", check_exit, record)),
    }
    done = subprocess.run([str(DEPLOY), *args], env=env, capture_output=True, check=False)
    calls = record.read_text().splitlines() if record.exists() else []
    return done.returncode, calls


def test_up_always_carries_the_pack_and_the_stack_config(tmp_path: Path) -> None:
    """The offline check, then `pulumi up` with --policy-pack and the stack's config."""
    code, calls = deploy(tmp_path, "production", "--yes")
    assert code == 0
    assert calls[0] == "policy check --stack production"
    pack, config = PROJECT_ROOT / "policy", PROJECT_ROOT / "policy/config/production.json"
    assert calls[1] == (
        f"up --cwd {PROJECT_ROOT} --stack production --policy-pack {pack} "
        f"--policy-pack-config {config} --yes"
    )
    # ... and tells the program so (infra/deploygate.py refuses to run without it).
    assert calls[2] == f"{ENV}={config}"


def test_preview_is_checked_the_same_way(tmp_path: Path) -> None:
    code, calls = deploy(tmp_path, "dev", "preview")
    assert code == 0 and calls[1].startswith("preview ") and "config/dev.json" in calls[1]
    assert calls[2].endswith("policy/config/dev.json")


def test_a_mandatory_violation_stops_before_pulumi(tmp_path: Path) -> None:
    """The offline check exits 1: Pulumi never runs."""
    code, calls = deploy(tmp_path, "production", check_exit=1)
    assert code == 1 and calls == ["policy check --stack production"]


def test_a_stack_without_pack_config_is_refused(tmp_path: Path) -> None:
    code, calls = deploy(tmp_path, "qa")
    assert code == 2 and calls == []
