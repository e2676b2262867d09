"""Reading a stack file into `StackSettings`, and the one error a bad file gets.

A stack file is Pulumi's `stacks/Pulumi.<stack>.yaml`:

    config:
      trading-platform:substrate: aws
      trading-platform:services: [...]

Every failure, from a missing file to a wrong type deep inside a list, becomes a
`StackFileError` naming the file, the key path (`trading-platform:services[0].port`), the
value found and what is allowed. Nothing is touched before a file loads cleanly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackspec.safeload import Problem, StackFileError, parse_yaml, problems_message, read_text

if TYPE_CHECKING:  # the settings model (pydantic) loads once a file is read: a missing
    from stackspec.model import StackSettings  # stack is refused without it

__all__ = ["Problem", "StackFileError", "problems_message"]  # re-exported: where they began

PROJECT = "trading-platform"
STACKS = ("local", "dev", "staging", "production")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_MASK = "[secret]"
# The policy pack's config of each stack, `<stack>.json` (infra.policies.config).
PACK_CONFIG_DIR = PROJECT_ROOT / "policy" / "config"
LOCAL_STATE_DIR = ".local-stack"  # `local.stateDir` when the stack file does not say


def stack_path(stack: str, stacks_dir: Path | None = None) -> Path:
    """The file of `stack` under `stacks_dir`, else `$RUNBOOK_STACKS_DIR`, else `stacks/`.

    BadInput for a name that is not a stack name (`../../etc` must not become a path)."""
    from stackspec.names import stack_name  # names imports this module's siblings only

    stack_name(stack)
    default = os.environ.get("RUNBOOK_STACKS_DIR") or PROJECT_ROOT / "stacks"
    return Path(stacks_dir or default) / f"Pulumi.{stack}.yaml"


def load_stack(stack: str, stacks_dir: Path | None = None) -> StackSettings:
    """Load and validate the named stack's file. Raises StackFileError."""
    return load_stack_file(stack_path(stack, stacks_dir))


def load_stack_file(path: Path) -> StackSettings:
    """Load and validate one stack file. Raises StackFileError."""
    return settings_from_config(read_config(path), path)


def read_config(path: Path) -> dict[str, Any]:
    """The project's keys of one stack file, read but not yet validated (no settings model
    loaded: a CLI refusal that needs only a name in it answers without pydantic).
    StackFileError when the file is missing or not a stack document."""
    try:
        text = read_text(path, StackFileError.kind)
    except FileNotFoundError:
        known = sorted(p.name for p in path.parent.glob("Pulumi.*.yaml"))
        raise StackFileError(
            path, [Problem("(file)", "missing", f"existing stack files: {known}")]
        ) from None
    document = parse_yaml(text, path, StackFileError.kind)
    return config_section(path, document)


def local_runtime_dir(section: Mapping[str, Any], root: Path = PROJECT_ROOT) -> Path | None:
    """The resolved `local.stateDir` of a local stack's raw section (as `read_config` gives
    it), or None when the section is not a local stack's or does not say it plainly (the
    settings model then judges the file)."""
    local = section.get("local", {})
    if section.get("substrate") != "local" or not isinstance(local, Mapping):
        return None
    state_dir = local.get("stateDir", local.get("state_dir", LOCAL_STATE_DIR))
    return (root / state_dir).resolve() if isinstance(state_dir, str) and state_dir else None


def config_section(path: Path | str, document: object) -> dict[str, Any]:
    """The project's keys of a stack document, with the namespace stripped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("config"), Mapping):
        raise StackFileError(
            path, [Problem("config", _show(document), "a mapping of `trading-platform:<key>`")]
        )
    section: dict[str, Any] = {}
    problems = []
    for key, value in document["config"].items():
        namespace, _, name = str(key).partition(":")
        if namespace == PROJECT and name:
            section[name] = value
        elif namespace not in ("aws", "kubernetes", "pulumi"):
            problems.append(
                Problem(str(key), _show(value), f"keys must be `{PROJECT}:<key>` or provider keys")
            )
    if problems:
        raise StackFileError(path, problems)
    return section


def settings_from_config(section: Mapping[str, Any], path: Path | str) -> StackSettings:
    """Validate the project's config keys (namespace stripped) as `StackSettings`."""
    from pydantic import ValidationError

    from stackspec.model import StackSettings

    try:
        # JSON mode: strict types, yet YAML lists may fill tuples and strings may fill enums.
        return StackSettings.model_validate_json(json.dumps(section, default=str))
    except ValidationError as err:
        raise StackFileError(path, [_problem(e) for e in err.errors()]) from None


def _problem(error: Any) -> Problem:
    from stackspec.model import KeyedError

    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    value = error.get("input")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedError):
        loc.append(cause.key)
        value = cause.value
    key = PROJECT + ":" + _key_path(loc) if loc else PROJECT
    if any(str(p) in ("webhookUrl", "secure") for p in loc):
        value = SECRET_MASK
    return Problem(key, _show(value), _allowed(error))


def _is_union_tag(part: object) -> bool:
    # pydantic adds the member's class name to locations inside unions: not a key of the file.
    return isinstance(part, str) and part[:1].isupper()


def _key_path(loc: list[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path and not str(part).startswith("[") else str(part)
    return path


def _allowed(error: Any) -> str:
    kind, ctx, msg = error["type"], error.get("ctx") or {}, error["msg"]
    if kind == "extra_forbidden":
        return "unknown key (not allowed here; check the spelling against the settings model)"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch":
        return f"allowed: text matching {ctx.get('pattern')}"
    if kind in ("enum", "literal_error"):
        return f"allowed: {ctx.get('expected')}"
    bounds = {
        "greater_than_equal": ">=",
        "less_than_equal": "<=",
        "greater_than": ">",
        "less_than": "<",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"allowed: a number {bounds[kind]} {limit}"
    return f"allowed: {msg.removeprefix('Value error, ')}"


def _show(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
