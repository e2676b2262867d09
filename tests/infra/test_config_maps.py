"""Versioned configuration on Kubernetes: a ConfigMap per version, named with it, and each
color's Deployment mounting the one of the version it runs. The Pulumi engine is mocked with
`pulumi.runtime.set_mocks` (the real stack files are given as engine config)."""

from __future__ import annotations

import contextvars
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.offline import PlannedResource, RecordingMocks, engine_config
from infra.program import run
from runbooks.config.files import PROJECT_ROOT, ConfigFileError, version_path
from stackspec.stackfile import PROJECT, StackFileError
from tests.infra.conftest import Plan, of_type, only

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def plan_with(stack: str, config_versions: dict[str, dict[str, int]]) -> list[PlannedResource]:
    """The plan of `stack` with `configVersions` of some services replaced (engine mocked)."""
    config = engine_config(stack)
    services = json.loads(config[f"{PROJECT}:services"])
    for service in services:
        if service["name"] in config_versions:
            service["configVersions"] = config_versions[service["name"]]
    config[f"{PROJECT}:services"] = json.dumps(services)

    def go() -> list[PlannedResource]:
        recorder = RecordingMocks()
        pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_all_config(config)
        pulumi.runtime.test(run)()  # type: ignore[no-untyped-call]
        return recorder.resources

    return contextvars.Context().run(go)


def mounted(deployment: PlannedResource) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(ConfigMap name of the `config` volume, the annotation, the container's mount)."""
    template = deployment.props["spec"]["template"]
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == "config")
    container = template["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    return volume["configMap"]["name"], template["metadata"]["annotations"], mount


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_a_config_map_per_version_carries_the_version_in_its_name(
    stack: str, plans: Callable[[str], Plan]
) -> None:
    """Engine mocked with set_mocks: one immutable ConfigMap per config/<service>/v<N>.yaml."""
    maps = {r.props["metadata"]["name"]: r.props for r in of_type(plans(stack), CONFIG_MAP)}
    assert set(maps) == {"trading-api-config-v1", "trading-api-config-v2", "market-data-config-v1"}
    v2 = maps["trading-api-config-v2"]
    assert v2["immutable"] is True
    assert v2["data"]["config.yaml"] == version_path("trading-api", 2).read_text()


def test_each_color_mounts_the_config_map_of_its_declared_version(
    plans: Callable[[str], Plan],
) -> None:
    """Engine mocked with set_mocks: by default both colors run v1."""
    for color in ("blue", "green"):
        name, annotations, mount = mounted(
            only(plans("staging"), DEPLOYMENT, f"trading-api-{color}")
        )
        assert name == "trading-api-config-v1"
        assert annotations == {"trading/config-version": "1"}
        assert mount == {"name": "config", "mountPath": "/etc/trading/config", "readOnly": True}


def test_green_on_v2_references_the_v2_config_map_and_blue_keeps_v1() -> None:
    """Engine mocked with set_mocks: configVersions {blue: 1, green: 2}."""
    plan = plan_with("production", {"trading-api": {"blue": 1, "green": 2}})
    green = only(plan, DEPLOYMENT, "trading-api-green")
    blue = only(plan, DEPLOYMENT, "trading-api-blue")
    assert mounted(green)[0] == "trading-api-config-v2"
    assert mounted(green)[1] == {"trading/config-version": "2"}
    assert mounted(blue)[0] == "trading-api-config-v1"
    env = green.props["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "TRADING_CONFIG", "value": "/etc/trading/config/config.yaml"} in env


def test_a_declared_version_without_a_file_stops_the_program_naming_it() -> None:
    """Engine mocked with set_mocks: configVersions.green 7 has no config/trading-api/v7.yaml."""
    expected = (
        r"(?s)Pulumi.dev.yaml: invalid stack file.*"
        r"services\[name=trading-api\].configVersions.green: got 7; "
        r"allowed: a version of config/trading-api/: \[1, 2\]"
    )
    with pytest.raises(StackFileError, match=expected):
        plan_with("dev", {"trading-api": {"blue": 1, "green": 7}})


def test_an_invalid_config_file_stops_the_program_naming_file_and_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Engine mocked with set_mocks; config dir is a copy whose v2 has an unknown key."""
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    (tmp_path / "config" / "trading-api" / "v2.yaml").write_text("schemaVersion: 2\nx: 1\n")
    monkeypatch.setenv("RUNBOOK_CONFIG_DIR", str(tmp_path / "config"))
    with pytest.raises(ConfigFileError, match=r"(?s)trading-api/v2.yaml.*x: got 1; unknown key"):
        plan_with("dev", {})
