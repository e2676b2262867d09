"""The Pulumi stack driver, against a fake Automation API stack.

The Automation API drives the Pulumi CLI, which cannot be installed on this machine, so the
stack is faked: `FakeStack` keeps structured config as `pulumi config set --path` does
(including its habit of storing all-digit values as numbers) and is injected through the
driver's `stack_factory`.
"""

from __future__ import annotations

import json
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.automation import ConfigValue

from runbooks.core.model import Weights
from runbooks.drivers.base import ServiceState
from runbooks.drivers.pulumi_automation import PulumiDriver
from runbooks.drivers.registry import DRIVERS
from stackspec.errors import BadInput, DriverError
from stackspec.model import Color, ConfigVersions, SecretRef, Versions
from stackspec.stackfile import (
    PROJECT_ROOT,
    config_section,
    load_stack,
    settings_from_config,
    stack_path,
)

HOOK = "https://hooks.example.test/services/T000/B000/very-secret"


class FakeStack:
    """Structured stack config, read and written the way the Pulumi CLI does."""

    def __init__(self, config: dict[str, Any], decrypted: dict[str, str]) -> None:
        self.config = config
        self.decrypted = decrypted  # what the CLI would decrypt `{secure: ...}` values to
        self.writes: list[dict[str, str]] = []

    def get_config(self, key: str, *, path: bool = False) -> ConfigValue:
        if key in self.decrypted:
            return ConfigValue(self.decrypted[key], secret=True)
        value = self._walk(key) if path else self.config[key]
        return ConfigValue(value if isinstance(value, str) else json.dumps(value))

    def set_all_config(
        self, config: MutableMapping[str, ConfigValue], *, path: bool = False
    ) -> None:
        assert path, "structured keys need path=True"
        self.writes.append({k: v.value for k, v in config.items()})
        for key, value in config.items():
            *parents, last = _parts(key)
            node: Any = self.config
            for part in parents:  # missing maps are created, as the CLI does
                node = node[part] if isinstance(part, int) else node.setdefault(part, {})
            node[last] = int(value.value) if value.value.isdigit() else value.value

    def _walk(self, key: str) -> Any:
        node: Any = self.config
        for part in _parts(key):
            node = node[part]
        return node


def _parts(key: str) -> list[str | int]:
    namespace, _, rest = key.partition(":")
    head, *tail = re.split(r"\.|\[", rest)
    parts: list[str | int] = [f"{namespace}:{head}"]
    parts += [int(p[:-1]) if p.endswith("]") else p for p in tail]
    return parts


@pytest.fixture
def stack() -> FakeStack:
    document = yaml.safe_load(stack_path("staging").read_text())
    config = dict(document["config"])
    config["trading-platform:notifications"] = {"webhookUrl": {"secure": "v1:AAAA"}}
    return FakeStack(config, {"trading-platform:notifications.webhookUrl": HOOK})


@pytest.fixture
def selected() -> list[tuple[str, Path]]:
    return []


@pytest.fixture
def driver(stack: FakeStack, selected: list[tuple[str, Path]]) -> PulumiDriver:
    def factory(name: str, work_dir: Path) -> FakeStack:
        selected.append((name, work_dir))
        return stack

    return PulumiDriver("staging", PROJECT_ROOT, factory)


def test_reads_the_declared_state_from_the_stack_config(
    driver: PulumiDriver, selected: list[tuple[str, Path]]
) -> None:
    state = driver.read_release_state("trading-api")

    assert state == ServiceState(
        Color.BLUE, Versions(blue="1.4.0", green="1.3.2"), Weights(100, 0), ConfigVersions()
    )
    assert selected == [("staging", PROJECT_ROOT)]


def test_writes_the_release_back_so_the_next_up_keeps_it(
    driver: PulumiDriver, stack: FakeStack
) -> None:
    released = ServiceState(
        Color.GREEN,
        Versions(blue="1.4.0", green="1.5.0"),
        Weights(0, 100),
        ConfigVersions(blue=1, green=2),
    )

    driver.write_release_state("market-data", released)

    assert stack.writes == [
        {
            "trading-platform:services[1].activeColor": "green",
            "trading-platform:services[1].versions.blue": "1.4.0",
            "trading-platform:services[1].versions.green": "1.5.0",
            "trading-platform:services[1].weights.blue": "0",
            "trading-platform:services[1].weights.green": "100",
            "trading-platform:services[1].configVersions.blue": "1",
            "trading-platform:services[1].configVersions.green": "2",
        }
    ]
    assert driver.read_release_state("market-data") == released
    settings = settings_from_config(config_section("fake", {"config": stack.config}), "fake")
    market = settings.service("market-data")
    assert (market.active_color, market.active_version) == (Color.GREEN, "1.5.0")
    assert market.config_versions.green == 2
    assert settings.service("trading-api").active_version == "1.4.0"


def test_resolves_the_webhook_secret_through_pulumi_config(driver: PulumiDriver) -> None:
    assert driver.resolve_secret(SecretRef(secure="v1:AAAA")) == HOOK


def test_failures_become_driver_errors_without_the_underlying_text() -> None:
    def broken(name: str, work_dir: Path) -> FakeStack:  # as if the CLI echoed a secret
        raise FileNotFoundError(f"pulumi not found; {HOOK}")

    driver = PulumiDriver("staging", PROJECT_ROOT, broken)
    with pytest.raises(DriverError, match="could not decrypt") as err:
        driver.resolve_secret(SecretRef(secure="v1:AAAA"))
    assert HOOK not in str(err.value) and "Pulumi CLI" in err.value.hint


def test_unknown_services_are_bad_input(driver: PulumiDriver) -> None:
    with pytest.raises(BadInput, match="no service 'nope' in stack 'staging'"):
        driver.read_release_state("nope")


def test_the_registry_builds_it_with_an_injected_stack(stack: FakeStack) -> None:
    built = DRIVERS.create(
        "pulumi",
        stack="staging",
        settings=load_stack("staging"),
        stack_factory=lambda name, wd: stack,
    )
    assert built.read_release_state("trading-api").versions.blue == "1.4.0"
