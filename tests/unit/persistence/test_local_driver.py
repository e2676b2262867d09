"""The local stack driver: release state in `<state_dir>/stack-state.json`, applied on top
of the stack file as authored."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from runbooks.core.model import Weights
from runbooks.drivers.base import ServiceState
from runbooks.drivers.local import LocalDriver, apply_state, load_state
from runbooks.drivers.nop import NopDriver
from runbooks.drivers.registry import DRIVERS, driver_for
from stackspec.errors import BadInput, DriverError, UnknownName
from stackspec.model import (
    Color,
    ConfigVersions,
    EnvRef,
    SecretRef,
    Split,
    StackSettings,
    Versions,
)
from stackspec.stackfile import load_stack

RELEASED = ServiceState(Color.GREEN, Versions(blue="1.0.0", green="1.1.0"), Weights(0, 100))


@pytest.fixture
def settings() -> StackSettings:
    return load_stack("local")


def test_unrecorded_services_read_as_the_stack_file_declares(
    settings: StackSettings, tmp_path: Path
) -> None:
    state = LocalDriver(settings, tmp_path).read_release_state("trading-api")

    assert state == ServiceState(
        Color.BLUE, Versions(blue="1.0.0", green="1.0.0"), Weights(100, 0), ConfigVersions()
    )


def test_a_written_state_is_read_back_by_the_next_run(
    settings: StackSettings, tmp_path: Path
) -> None:
    LocalDriver(settings, tmp_path).write_release_state("trading-api", RELEASED)

    later = LocalDriver(settings, tmp_path)
    assert later.read_release_state("trading-api") == RELEASED
    assert later.read_release_state("market-data").active_color is Color.BLUE
    assert json.loads((tmp_path / "stack-state.json").read_text()) == {
        "services": {
            "trading-api": {
                "activeColor": "green",
                "versions": {"blue": "1.0.0", "green": "1.1.0"},
                "weights": {"blue": 0, "green": 100},
            }
        }
    }


def test_apply_state_gives_settings_that_keep_the_release(
    settings: StackSettings, tmp_path: Path
) -> None:
    LocalDriver(settings, tmp_path).write_release_state("trading-api", RELEASED)

    applied = apply_state(settings, load_state(tmp_path))

    api = applied.service("trading-api")
    assert (api.active_color, api.active_version, api.weights) == (
        Color.GREEN,
        "1.1.0",
        Split(blue=0, green=100),
    )
    assert applied.service("market-data") == settings.service("market-data")
    revalidated = StackSettings.model_validate_json(applied.model_dump_json(by_alias=True))
    assert revalidated == applied
    assert load_stack("local") == settings  # the stack file itself is untouched


def test_unknown_services_and_broken_state_files_are_errors(
    settings: StackSettings, tmp_path: Path
) -> None:
    driver = LocalDriver(settings, tmp_path)
    with pytest.raises(BadInput, match="no service 'nope'"):
        driver.write_release_state("nope", RELEASED)
    (tmp_path / "stack-state.json").write_text("{not json")
    with pytest.raises(DriverError, match=r"stack-state\.json is unreadable"):
        driver.read_release_state("trading-api")


def test_secrets_come_from_the_environment_locally(
    settings: StackSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = LocalDriver(settings, tmp_path)
    monkeypatch.setenv("HOOK_URL", "http://127.0.0.1:9/hook")
    assert driver.resolve_secret(EnvRef(env="HOOK_URL")) == "http://127.0.0.1:9/hook"
    monkeypatch.delenv("HOOK_URL")
    assert driver.resolve_secret(EnvRef(env="HOOK_URL")) is None
    with pytest.raises(DriverError, match="cannot decrypt"):
        driver.resolve_secret(SecretRef(secure="AAABAJ..."))


def test_the_registry_builds_drivers_by_name(settings: StackSettings, tmp_path: Path) -> None:
    local = DRIVERS.create("local", stack="local", settings=settings, state_dir=tmp_path)
    assert isinstance(local, LocalDriver) and local.state_dir == tmp_path
    nop = DRIVERS.create("nop", stack="local", settings=settings)
    nop.write_release_state("trading-api", RELEASED)
    assert isinstance(nop, NopDriver) and nop.read_release_state("trading-api") == RELEASED
    assert driver_for(settings) == "local"
    assert DRIVERS.names() == ["local", "nop", "pulumi"]
    with pytest.raises(UnknownName, match="unknown stack driver 'terraform'"):
        DRIVERS.create("terraform", stack="local", settings=settings)


def test_config_versions_are_recorded_and_kept_by_a_release_without_a_config_step(
    settings: StackSettings, tmp_path: Path
) -> None:
    driver = LocalDriver(settings, tmp_path)
    configured = replace(RELEASED, config_versions=ConfigVersions(blue=1, green=2))
    driver.write_release_state("trading-api", configured)
    later = ServiceState(Color.BLUE, Versions(blue="1.2.0", green="1.1.0"), Weights(100, 0))

    driver.write_release_state("trading-api", later)

    assert driver.read_release_state("trading-api").config_versions == ConfigVersions(
        blue=1, green=2
    )
    applied = apply_state(settings, load_state(tmp_path)).service("trading-api")
    assert (applied.config_versions.blue, applied.config_versions.green) == (1, 2)
    assert applied.versions.blue == "1.2.0"
