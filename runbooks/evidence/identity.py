"""Who a release's evidence speaks for: the stack (name, substrate, shape) and who acted.

The shape of a stack file is its settings without what is size, environment, release
state or promotion policy, so staging and production, or two private local stacks on
different ports, have the same shape when they run the same kind of stack. Its digest is
how evidence names the stack it came from, and how local stacks (which have no Pulumi
plan to compare) are compared for parity.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runbooks.evidence.canonical import digest
from runbooks.session import holder
from stackspec.safeload import StackFileError, load_yaml
from stackspec.stackfile import config_section, stack_path

# Keys (camelCase, at any depth) that are not shape: the local section (ports, state dir),
# the promotion policy, release state and size.
NOT_SHAPE = frozenset(
    {
        "local",
        "promotion",
        "activeColor",
        "versions",
        "weights",
        "configVersions",
        "image",
        "replicas",
        "resources",
        "autoscaling",
        "bakeSeconds",
    }
)
# What CI systems say about the run that acted (none of these is a secret).
CI_VARIABLES = (
    "CI",
    "GITHUB_ACTOR",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_WORKFLOW",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_REF",
)


def file_shape(stack: str, stacks_dir: Path | None = None) -> dict[str, Any]:
    """The shape of `stack`'s file (see the module docstring); StackFileError if unreadable."""
    path = stack_path(stack, stacks_dir)
    document = load_yaml(path, StackFileError.kind)
    return _shape(config_section(path, document), stack)  # type: ignore[no-any-return]


def shape_digest(stack: str, stacks_dir: Path | None = None) -> str:
    """`sha256:<hex>` of the shape of `stack`'s file."""
    return digest(file_shape(stack, stacks_dir))


def _shape(value: Any, stack: str) -> Any:
    if isinstance(value, Mapping):
        return {k: _shape(v, stack) for k, v in value.items() if k not in NOT_SHAPE}
    if isinstance(value, list):
        return [_shape(v, stack) for v in value]
    if isinstance(value, str):
        return value.replace(stack, "<stack>")
    return value


def shape_differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The keys where two file shapes differ, as `key: A vs B` lines, sorted."""
    lines: list[str] = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        where = f"{prefix}.{key}" if prefix else key
        if isinstance(left, Mapping) and isinstance(right, Mapping):
            lines += shape_differences(left, right, where)
        elif left != right:
            lines.append(f"{where}: {_short(left)} vs {_short(right)}")
    return lines


def _short(value: Any, width: int = 80) -> str:
    text = "(absent)" if value is None else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def actor(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Who or what acts now: the user, and the CI run's variables when set."""
    source = env if env is not None else os.environ
    ci = {name: source[name] for name in CI_VARIABLES if source.get(name)}
    return {"by": source.get("GITHUB_ACTOR") or holder(), "ci": ci}
