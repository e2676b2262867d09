"""The Pulumi config stand-in (no Pulumi CLI here): PulumiDriver reads and writes a service's
release state through it as it would through `pulumi config --path`, against a copy of a
stack file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pulumi.automation import ConfigValue

from runbooks.core.model import Weights
from runbooks.drivers.base import ServiceState
from runbooks.drivers.pulumi_automation import PulumiDriver
from runbooks.standins.pulumi_config import StackFileConfig
from stackspec.model import Color, Versions
from stackspec.stackfile import PROJECT_ROOT, load_stack

OUTPUTS = {"edge": {"distributionId": "E123"}, "database": {"writerEndpoint": "w.example"}}


@pytest.fixture
def config(tmp_path: Path) -> StackFileConfig:
    shutil.copy(PROJECT_ROOT / "stacks" / "Pulumi.staging.yaml", tmp_path)
    return StackFileConfig(tmp_path / "Pulumi.staging.yaml", OUTPUTS)


def driver(config: StackFileConfig) -> PulumiDriver:
    return PulumiDriver("staging", config.path.parent, stack_factory=lambda _s, _d: config)


def test_release_state_written_by_the_driver_is_read_back_and_valid(
    config: StackFileConfig,
) -> None:
    written = ServiceState(
        active_color=Color.GREEN,
        versions=Versions(blue="1.4.0", green="1.5.0"),
        weights=Weights(blue=0, green=100),
    )
    driver(config).write_release_state("trading-api", written)

    read = driver(config).read_release_state("trading-api")
    assert (read.active_color, read.versions, read.weights) == (
        written.active_color,
        written.versions,
        written.weights,
    )
    settings = load_stack("staging", config.path.parent)  # the file still validates
    assert settings.service("trading-api").active_color is Color.GREEN
    assert settings.service("market-data").active_color is Color.BLUE


def test_all_digit_values_are_stored_as_numbers_like_the_cli(config: StackFileConfig) -> None:
    config.set_all_config(
        {"trading-platform:services[0].weights.blue": ConfigValue("90")}, path=True
    )
    document = yaml.safe_load(config.path.read_text())
    assert document["config"]["trading-platform:services"][0]["weights"]["blue"] == 90


def test_outputs_are_the_given_ones(config: StackFileConfig) -> None:
    outputs = driver(config).read_outputs("staging")
    assert outputs.get("edge.distributionId") == "E123"
    assert outputs.get("database.writerEndpoint") == "w.example"


@pytest.mark.parametrize("key", ["trading-platform", "trading-platform:services[x]", ":a"])
def test_a_path_it_does_not_understand_is_a_key_error(config: StackFileConfig, key: str) -> None:
    with pytest.raises(KeyError):
        config.get_config(key)
