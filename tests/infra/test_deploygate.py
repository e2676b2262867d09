"""The program's entry point refuses a deployment that did not come with the policy pack.

No engine here: `require_policy_pack` is a plain function of the stack name and the
environment; the entry file is run with the engine's pieces replaced by recorders.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any

import pulumi
import pytest

import infra.program
from infra.deploygate import CONFIG_DIR, ENV, PolicyPackMissing, require_policy_pack
from stackspec.stackfile import PROJECT_ROOT


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_a_bare_pulumi_up_is_refused_with_the_way_to_deploy(stack: str) -> None:
    with pytest.raises(PolicyPackMissing, match=rf"{ENV} unset.*scripts/deploy {stack}"):
        require_policy_pack(stack, {})


def test_another_stacks_config_is_refused() -> None:
    """The staging config (all mandatory, fewer backup days) does not pass for production."""
    with pytest.raises(PolicyPackMissing, match=r"staging\.json"):
        require_policy_pack("production", {ENV: str(CONFIG_DIR / "staging.json")})


def test_the_stacks_own_config_passes_and_local_is_left_to_the_program() -> None:
    require_policy_pack("production", {ENV: str(CONFIG_DIR / "production.json")})
    require_policy_pack("local", {})


def test_entry_file_checks_before_declaring_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """infra/__main__.py as Pulumi runs it (infra/ on sys.path): no env, nothing declared."""
    declared: list[Any] = []
    monkeypatch.setattr(pulumi, "get_stack", lambda: "production")
    monkeypatch.setattr(infra.program, "run", lambda: declared.append("run"))
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(sys, "path", [str(PROJECT_ROOT / "infra"), *sys.path])
    with pytest.raises(PolicyPackMissing):
        runpy.run_path(str(PROJECT_ROOT / "infra" / "__main__.py"), run_name="__main__")
    assert declared == []
    monkeypatch.setenv(ENV, str(CONFIG_DIR / "production.json"))
    runpy.run_path(str(PROJECT_ROOT / "infra" / "__main__.py"), run_name="__main__")
    assert declared == ["run"]
