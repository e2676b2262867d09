"""A migration folder: `migrations/<version>/` with a manifest and its SQL parts.

    migrations/1.2.0/
      migration.yaml   description, and the lint rules this migration breaks on purpose
      expand.sql       additive: old and new versions both work against the result
      revert.sql       drops exactly what expand.sql added (nothing else), idempotently
      contract.sql     optional: the destructive clean-up, run only after promotion + bake

`migration.yaml`:

    description: A client reference on orders, and its index.
    allow:                      # optional, per part: rule -> why it is safe here
      expand:
        require-concurrent-index-creation: "fills is empty until 1.2.0 writes to it"

`load_migration` refuses, with `BadInput` (exit 2, nothing applied), a name that is not a
version or resolves outside the migrations folder, an unknown version, a folder without a
manifest or a revert, and a manifest with unknown keys or parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from stackspec.errors import BadInput
from stackspec.names import VERSION
from stackspec.safeload import load_yaml, read_text

MANIFEST = "migration.yaml"
PartName = Literal["expand", "revert", "contract"]
PART_FILES: dict[PartName, str] = {
    "expand": "expand.sql",
    "revert": "revert.sql",
    "contract": "contract.sql",
}
MAX_FILE_BYTES = 1_000_000  # a migration is code, not data


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    description: Annotated[str, Field(min_length=1, max_length=500)]
    allow: dict[PartName, dict[str, Annotated[str, Field(min_length=3)]]] = {}


@dataclass(frozen=True)
class Part:
    """One SQL file of a migration."""

    name: PartName
    path: Path
    sql: str


@dataclass(frozen=True)
class Migration:
    """A loaded migration folder; `contract` is None when the migration has none."""

    version: str
    folder: Path
    description: str
    expand: Part
    revert: Part
    contract: Part | None = None
    allow: dict[str, dict[str, str]] = field(default_factory=dict)

    def allowed(self, part: PartName) -> dict[str, str]:
        """The lint rules `part` may break, each with the reason the manifest gives."""
        return dict(self.allow.get(part, {}))


def available(migrations_dir: Path) -> list[str]:
    """The version folders under `migrations_dir`, sorted."""
    if not migrations_dir.is_dir():
        return []
    return sorted(p.name for p in migrations_dir.iterdir() if p.is_dir() and _is_version(p.name))


def load_migration(migrations_dir: Path, version: str) -> Migration:
    """The migration `version` under `migrations_dir`; BadInput saying what is wrong."""
    folder = _folder(migrations_dir, version)
    manifest_path = folder / MANIFEST
    manifest = _manifest(manifest_path)
    parts = {name: _part(folder, name, required=name != "contract") for name in PART_FILES}
    return Migration(
        version=version,
        folder=folder,
        description=manifest.description,
        expand=_required(parts["expand"]),
        revert=_required(parts["revert"]),
        contract=parts["contract"],
        allow={part: dict(rules) for part, rules in manifest.allow.items()},
    )


def _is_version(name: str) -> bool:
    return re.fullmatch(VERSION, name) is not None and "/" not in name and ".." not in name


def _folder(migrations_dir: Path, version: str) -> Path:
    root = migrations_dir.resolve()
    if not _is_version(version):
        raise BadInput(
            f"--migration {version[:80]!r} is not a migration version",
            hint=f"allowed: a folder of {migrations_dir}: {', '.join(available(root)) or 'none'}",
        )
    folder = (root / version).resolve()
    if folder.parent != root:
        raise BadInput(f"--migration {version!r} resolves outside {migrations_dir}")
    if not folder.is_dir():
        raise BadInput(
            f"no migration {version!r} in {migrations_dir}",
            hint=f"allowed: {', '.join(available(root)) or 'none (the folder is empty)'}",
        )
    return folder


def _manifest(path: Path) -> _Manifest:
    if not path.is_file():
        raise BadInput(
            f"{path}: missing",
            hint="a migration folder needs migration.yaml with at least `description:`",
        )
    try:
        data = load_yaml(path, "migration manifest", MAX_FILE_BYTES)
        return _Manifest.model_validate(data if data is not None else {})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise BadInput(
            f"{path}: {problems}",
            hint="keys: description (text), allow: {expand|revert|contract: {rule: why}}",
        ) from None


def _part(folder: Path, name: PartName, required: bool) -> Part | None:
    path = folder / PART_FILES[name]
    if not path.is_file():
        if not required:
            return None
        legacy = " (up.sql is the old format: split it into expand.sql and revert.sql)"
        hint = legacy if (folder / "up.sql").exists() else ""
        raise BadInput(
            f"{path}: missing; every migration declares the {name} of its expand{hint}",
            hint="revert.sql drops exactly what expand.sql adds, with IF EXISTS",
        )
    return Part(name, path, _read(path))


def _required(part: Part | None) -> Part:
    assert part is not None  # _part raised for a missing required part
    return part


def _read(path: Path) -> str:
    return read_text(path, "migration part", MAX_FILE_BYTES)
