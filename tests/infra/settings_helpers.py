"""Helpers for settings tests of the data tier and edge: a real stack file, one key changed,
validated the way `pulumi up` and the runbooks validate it (no engine involved)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from stackspec.model import StackSettings
from stackspec.stackfile import (
    PROJECT,
    StackFileError,
    config_section,
    settings_from_config,
    stack_path,
)


def section(stack: str) -> dict[str, Any]:
    """The project's config keys of the real stack file `stack` (a deep copy)."""
    path = stack_path(stack)
    loaded = config_section(path, yaml.safe_load(path.read_text(encoding="utf-8")))
    return copy.deepcopy(loaded)


def validate(stack: str, key: str, **changes: Any) -> StackSettings:
    """`stack`'s settings with `changes` merged into its `key` section (None deletes)."""
    config = section(stack)
    part = dict(config.get(key) or {})
    for name, value in changes.items():
        if value is None:
            part.pop(name, None)
        else:
            part[name] = value
    config[key] = part
    return settings_from_config(config, path=f"stacks/Pulumi.{stack}.yaml")


def refused(stack: str, key: str, **changes: Any) -> str:
    """The StackFileError text for `stack` with `changes` in `key`; fails if accepted."""
    with pytest.raises(StackFileError) as caught:
        validate(stack, key, **changes)
    text = str(caught.value)
    assert f"stacks/Pulumi.{stack}.yaml" in text
    return text


__all__ = ["PROJECT", "refused", "section", "validate"]
