"""The pack's configuration per stack: `policy/config/<stack>.json`, Pulumi's format.

    {"all": "mandatory",                      # every policy's enforcement level
     "rds-backups": {"minBackupDays": 14},    # a policy's settings
     "k8s-probes": {"enforcementLevel": "advisory", "requireStartupProbe": false}}

A policy missing from the file keeps the pack's default level (mandatory) and its schema's
defaults. A bad file raises PolicyConfigError naming the file, the key and what is allowed,
before any rule runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.policies.base import AnyRule, Setting, defaults
from stackspec.stackfile import PACK_CONFIG_DIR, Problem, StackFileError

CONFIG_DIR = PACK_CONFIG_DIR
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
DEFAULT_LEVEL = "mandatory"
JSON_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "string": str,
    "array": list,
}


class PolicyConfigError(StackFileError):
    """A pack config file that cannot be used: the file and every problem in it. A
    StackFileError, so everything that reports a bad stack file reports it alike (exit 2)."""

    kind = "policy pack config"


@dataclass(frozen=True)
class PackConfig:
    """Per policy: its enforcement level and its settings (schema defaults filled in)."""

    levels: Mapping[str, str]
    settings: Mapping[str, Mapping[str, Any]]


def config_path(stack: str, config_dir: Path | None = None) -> Path:
    """The pack config file of `stack`."""
    return (config_dir or CONFIG_DIR) / f"{stack}.json"


def load_pack_config(
    stack: str, rules: Sequence[AnyRule], config_dir: Path | None = None
) -> PackConfig:
    """The validated pack config of `stack`. Raises PolicyConfigError."""
    path = config_path(stack, config_dir)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = sorted(p.name for p in path.parent.glob("*.json"))
        raise PolicyConfigError(
            path, [Problem("(file)", "missing", f"existing pack configs: {known}")]
        ) from None
    except json.JSONDecodeError as err:
        raise PolicyConfigError(path, [Problem("(json)", "unparsable", str(err))]) from None
    return parse_pack_config(path, document, rules)


def parse_pack_config(path: Path | str, document: Any, rules: Sequence[AnyRule]) -> PackConfig:
    """Validate `document` (the parsed file at `path`) against the rules' schemas."""
    if not isinstance(document, dict):
        raise PolicyConfigError(
            path, [Problem("(document)", type(document).__name__, "allowed: an object")]
        )
    by_name = {r.name: r for r in rules}
    problems: list[Problem] = []
    default = document.get("all", DEFAULT_LEVEL)
    if default not in LEVELS:
        problems.append(Problem("all", repr(default), f"allowed: one of {list(LEVELS)}"))
    levels = {name: default for name in by_name}
    settings = {name: defaults(rule) for name, rule in by_name.items()}
    for key, value in document.items():
        if key == "all":
            continue
        if key not in by_name:
            problems.append(Problem(key, "unknown policy", f"allowed: one of {sorted(by_name)}"))
            continue
        entry = {"enforcementLevel": value} if isinstance(value, str) else value
        if not isinstance(entry, dict):
            problems.append(Problem(key, repr(value), "allowed: a level or an object"))
            continue
        level = entry.get("enforcementLevel", default)
        if "enforcementLevel" in entry and level not in LEVELS:  # a bad `all` is said once
            problems.append(
                Problem(f"{key}.enforcementLevel", repr(level), f"allowed: one of {list(LEVELS)}")
            )
        levels[key] = level
        problems += _check_settings(key, by_name[key].settings, entry)
        settings[key].update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    if problems:
        raise PolicyConfigError(path, problems)
    return PackConfig(levels, settings)


def _check_settings(
    policy: str, schema: Sequence[Setting], entry: Mapping[str, Any]
) -> list[Problem]:
    known = {s.name: s for s in schema}
    problems = []
    for key, value in entry.items():
        if key == "enforcementLevel":
            continue
        if key not in known:
            allowed = ["enforcementLevel", *sorted(known)]
            problems.append(
                Problem(f"{policy}.{key}", "unknown setting", f"allowed: one of {allowed}")
            )
            continue
        why = schema_problem(known[key].schema, value)
        if why:
            problems.append(Problem(f"{policy}.{key}", repr(value), f"allowed: {why}"))
    return problems


def schema_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """Why `value` does not fit the JSON-schema fragment `schema` (the subset rules use)."""
    wanted = JSON_TYPES[schema["type"]]
    if not isinstance(value, wanted) or (isinstance(value, bool) and schema["type"] != "boolean"):
        article = "an" if schema["type"][0] in "aeiou" else "a"
        return f"{article} {schema['type']}"
    if "pattern" in schema and not re.search(schema["pattern"], str(value)):
        return f"a string matching {schema['pattern']}"
    if "enum" in schema and value not in schema["enum"]:
        return f"one of {schema['enum']}"
    if "minimum" in schema and value < schema["minimum"]:
        return f"at least {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"at most {schema['maximum']}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"at least {schema['minItems']} item(s)"
        inner = [schema_problem(schema["items"], v) for v in value]
        if any(inner):
            return f"items that are each {next(i for i in inner if i)}"
    return None
