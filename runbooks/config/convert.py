"""Converting a configuration document between schema versions, and comparing documents.

    migrate(service, doc, from, to)    chain the registered up/down conversions, validating
                                       every intermediate document against its model
    round_trip_loss(service, doc, ...) what from -> to -> from would not give back
    diff(a, b)                         key-by-key changes between two documents

All pure: documents in, documents or changes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from runbooks.config.registry import schemas_for
from runbooks.config.schema import Document
from stackspec.errors import BadInput, RunbookError

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    """One key that differs between two documents (`key` is a dotted path)."""

    key: str
    kind: ChangeKind
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.key}: {show(self.new)}"
        if self.kind == "removed":
            return f"- {self.key}: {show(self.old)}"
        return f"~ {self.key}: {show(self.old)} -> {show(self.new)}"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"key": self.key, "kind": self.kind, "old": self.old, "new": self.new}


class ConversionBug(RunbookError):
    """A registered conversion produced a document its target schema rejects."""


def migrate(service: str, document: Document, source: int, target: int) -> Document:
    """`document` (schema `source`, canonical) converted to schema `target`, canonical.

    Raises BadInput for a version the service does not have, and ConversionBug if a
    conversion's output fails its schema.
    """
    schemas = schemas_for(service)
    for version in (source, target):
        if version not in schemas.models:
            raise BadInput(
                f"{service} has no configuration schema version {version}",
                hint=f"schema versions: {schemas.versions}",
            )
    current, doc = source, dict(document)
    while current != target:
        if current < target:
            doc, current = schemas.up[current](doc), current + 1
        else:
            doc, current = schemas.down[current - 1](doc), current - 1
        try:
            doc = schemas.models[current].model_validate_json(json.dumps(doc)).document()
        except ValidationError as err:
            raise ConversionBug(
                f"{service}: the conversion to schema {current} produced an invalid document: "
                f"{err.errors()[0]['loc']} {err.errors()[0]['msg']}",
                hint="this is a bug in runbooks/config; fix the conversion",
            ) from None
    return doc


def round_trip_loss(service: str, document: Document, source: int, target: int) -> list[Change]:
    """What converting `document` source -> target -> source does not give back (empty: none)."""
    there = migrate(service, document, source, target)
    back = migrate(service, there, target, source)
    return diff(document, back)


def diff(old: Document, new: Document) -> list[Change]:
    """Every leaf key added, removed or changed from `old` to `new`, sorted by key."""
    left, right = flatten(old), flatten(new)
    changes: list[Change] = []
    for key in sorted(left.keys() | right.keys()):
        if key not in right:
            changes.append(Change(key, "removed", old=left[key]))
        elif key not in left:
            changes.append(Change(key, "added", new=right[key]))
        elif left[key] != right[key]:
            changes.append(Change(key, "changed", old=left[key], new=right[key]))
    return changes


def flatten(document: Document, prefix: str = "") -> dict[str, Any]:
    """Leaf values by dotted key: {"orders": {"pageSize": 50}} -> {"orders.pageSize": 50}."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def show(value: Any) -> str:
    """A value as it is written in JSON (and YAML flow style)."""
    return json.dumps(value, default=str)
