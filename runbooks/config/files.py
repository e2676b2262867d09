"""Finding, reading and validating configuration files, and the one error a bad file gets.

Layout: `<config dir>/<service>/v<N>.yaml` holds the configuration of version N, whose
`schemaVersion` must be N. The config dir is `$RUNBOOK_CONFIG_DIR`, else `config/` at the
project root. Every failure (missing file, YAML error, wrong schema version, a wrong key or
value anywhere) becomes a `ConfigFileError` (exit 2) naming the file, the key path, the value
found and what is allowed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from runbooks.config.registry import schemas_for
from runbooks.config.schema import ConfigModel, Document
from stackspec.errors import BadInput
from stackspec.safeload import StackFileError, parse_yaml, read_text
from stackspec.stackfile import Problem, problems_message

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.yaml$")


class ConfigFileError(BadInput):
    """A configuration file that cannot be used; nothing was changed because of it."""

    def __init__(self, path: Path | str, problems: list[Problem]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(
            problems_message(path, "configuration", problems),
            hint="fix the file, then run `runbook config validate`",
        )


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration file: its schema version, model and canonical document."""

    service: str
    path: Path
    version: int
    model: ConfigModel

    @property
    def document(self) -> Document:
        """The canonical document (every key, camelCase)."""
        return self.model.document()


def config_map_name(service: str, version: int) -> str:
    """The Kubernetes ConfigMap holding version `version` of `service`'s configuration."""
    return f"{service}-config-v{version}"


def config_dir(override: Path | None = None) -> Path:
    """`override`, else `$RUNBOOK_CONFIG_DIR`, else `config/` at the project root."""
    return Path(override or os.environ.get("RUNBOOK_CONFIG_DIR") or PROJECT_ROOT / "config")


def version_path(service: str, version: int, root: Path | None = None) -> Path:
    """Where version `version` of `service`'s configuration lives."""
    return config_dir(root) / service / f"v{version}.yaml"


def versions(service: str, root: Path | None = None) -> list[int]:
    """The configuration versions of `service` that have a file, ascending."""
    folder = config_dir(root) / service
    found = (VERSION_FILE.match(p.name) for p in folder.glob("v*.yaml"))
    return sorted(int(m.group(1)) for m in found if m)


def newest(service: str, root: Path | None = None) -> int:
    """The highest configuration version of `service`; BadInput when it has no file."""
    found = versions(service, root)
    if not found:
        raise BadInput(
            f"{config_dir(root) / service}: no configuration files (v<N>.yaml)",
            hint=f"write {version_path(service, 1, root)}",
        )
    return found[-1]


def load_version(service: str, version: int, root: Path | None = None) -> LoadedConfig:
    """Load and validate `config/<service>/v<version>.yaml`. Raises ConfigFileError."""
    path = version_path(service, version, root)
    if not path.exists():
        known = [f"v{v}.yaml" for v in versions(service, root)]
        raise ConfigFileError(path, [Problem("(file)", "missing", f"existing files: {known}")])
    return load_file(path, service, expect_version=version)


def load_file(path: Path, service: str, expect_version: int | None = None) -> LoadedConfig:
    """Load and validate one file of `service`. Raises ConfigFileError (or UnknownName)."""
    schemas_for(service)  # an unknown service is named before the file is read
    try:
        text = read_text(path, "configuration")
    except StackFileError as err:
        raise ConfigFileError(path, err.problems) from None
    except OSError as err:
        problem = Problem("(file)", "unreadable", err.strerror or str(err))
        raise ConfigFileError(path, [problem]) from None
    return validate_text(text, service, path, expect_version)


def validate_text(
    text: str, service: str, path: Path | str, expect_version: int | None = None
) -> LoadedConfig:
    """Validate YAML `text` as a configuration of `service`. Raises ConfigFileError."""
    try:
        document = parse_yaml(text, path, "configuration")
    except StackFileError as err:
        raise ConfigFileError(path, err.problems) from None
    return validate_document(document, service, path, expect_version)


def validate_document(
    document: object, service: str, path: Path | str, expect_version: int | None = None
) -> LoadedConfig:
    """Validate a parsed document of `service`. Raises ConfigFileError."""
    schemas = schemas_for(service)
    if not isinstance(document, dict):
        raise ConfigFileError(path, [Problem("(document)", _show(document), "allowed: a mapping")])
    version = document.get("schemaVersion")
    allowed = [expect_version] if expect_version is not None else schemas.versions
    if not isinstance(version, int) or version not in schemas.models or version not in allowed:
        why = f" (the file is v{expect_version}.yaml)" if expect_version is not None else ""
        shown = "missing" if version is None else _show(version)
        raise ConfigFileError(path, [Problem("schemaVersion", shown, f"allowed: {allowed}{why}")])
    model = schemas.models[version]
    try:
        # JSON mode: strict types, yet an integer may fill a float setting as in YAML.
        parsed = model.model_validate_json(json.dumps(document, default=str))
    except ValidationError as err:
        raise ConfigFileError(path, [_problem(model, e) for e in err.errors()]) from None
    return LoadedConfig(service, Path(path), version, parsed)


def write_version(text: str, service: str, version: int, root: Path | None = None) -> Path:
    """Write `text` as `v<version>.yaml` of `service` atomically; returns the path."""
    path = version_path(service, version, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def to_yaml(document: Document) -> str:
    """A document as YAML text, keys in the schema's order."""
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _problem(model: type[BaseModel], error: Any) -> Problem:
    loc = [str(part) if not isinstance(part, int) else f"[{part}]" for part in error["loc"]]
    key = ".".join(loc).replace(".[", "[") or "(document)"
    return Problem(key, _show(error.get("input")), _allowed(model, error))


def _allowed(model: type[BaseModel], error: Any) -> str:
    kind, ctx, msg = error["type"], error.get("ctx") or {}, error["msg"]
    if kind == "extra_forbidden":
        keys = _keys_at(model, error["loc"][:-1])
        return f"unknown key; allowed keys here: {keys}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"allowed: {ctx.get('expected')}"
    bounds = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">"}
    if kind in bounds:
        return f"allowed: a number {bounds[kind]} {next(iter(ctx.values()), '?')}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"allowed: {msg.removeprefix('Input should be ')}"
    return f"allowed: {msg.removeprefix('Value error, ')}"


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys allowed at `loc` inside `model` (descending through sub-models)."""
    current: type[BaseModel] = model
    for part in loc:
        fields = {f.alias or name: f for name, f in current.model_fields.items()}
        sub = fields.get(str(part))
        annotation = sub.annotation if sub is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return [f.alias or name for name, f in current.model_fields.items()]


def _show(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
