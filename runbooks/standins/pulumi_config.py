"""A Pulumi stack's config and outputs without the Pulumi CLI (none here), for PulumiDriver.

`StackFileConfig` is the `ConfigStack` the driver's `stack_factory` returns: config is read
from, and written back to, a copy of the stack file (as `pulumi config set-all --path`
writes `Pulumi.<stack>.yaml`), and the outputs are the ones given, as if the stack had
been deployed. Like the CLI with `--path`, an all-digits value is stored as a number.
Only the path forms the driver writes are understood: `<ns>:<key>` followed by `[i]`
and `.name` parts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import yaml
from pulumi.automation import ConfigValue, OutputValue

_PART = re.compile(r"\[(\d+)\]|\.([A-Za-z0-9_-]+)")


class StackFileConfig:
    """Config from the stack file at `path` (kept up to date there); `outputs` as given."""

    def __init__(self, path: Path, outputs: Mapping[str, Any]) -> None:
        self.path = path
        self._outputs = dict(outputs)

    def get_config(self, key: str, *, path: bool = False) -> ConfigValue:
        """The value at `key` (JSON text for lists and mappings); KeyError when absent."""
        value = _walk(self._config(), key)
        text = value if isinstance(value, str) else json.dumps(value)
        return ConfigValue(text, secret=False)

    def set_all_config(
        self, config: MutableMapping[str, ConfigValue], *, path: bool = False
    ) -> None:
        """Set every key (by path) and write the stack file once."""
        document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        for key, value in config.items():
            text = value.value
            _assign(document["config"], key, int(text) if text.isdigit() else text)
        self.path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    def outputs(self) -> MutableMapping[str, Any]:
        """The outputs, as `pulumi stack output` would give them (none secret)."""
        return {key: OutputValue(value, False) for key, value in self._outputs.items()}

    def _config(self) -> dict[str, Any]:
        document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        config: dict[str, Any] = document["config"]
        return config


def _split(key: str) -> tuple[str, list[int | str]]:
    """`trading-platform:services[0].weights` -> ("trading-platform:services", [0, "weights"])."""
    head = re.match(r"[^\[.]+:[^\[.]+", key)
    if head is None:
        raise KeyError(key)
    parts: list[int | str] = []
    rest = key[head.end() :]
    for match in _PART.finditer(rest):
        parts.append(int(match.group(1)) if match.group(1) is not None else match.group(2))
    if "".join(m.group(0) for m in _PART.finditer(rest)) != rest:
        raise KeyError(key)
    return head.group(0), parts


def _walk(config: Mapping[str, Any], key: str) -> Any:
    top, parts = _split(key)
    node: Any = config[top]
    for part in parts:
        node = node[part]
    return node


def _assign(config: dict[str, Any], key: str, value: Any) -> None:
    top, parts = _split(key)
    if not parts:
        config[top] = value
        return
    node: Any = config[top]
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[parts[-1]] = value
