"""The shape every service configuration schema shares, and how versions are joined.

A configuration document is YAML with a top-level `schemaVersion: N`. Each N of a service has
a pydantic model (strict types, unknown keys rejected, camelCase keys, frozen), and each pair
of consecutive versions has two small pure functions on canonical documents (the model's
camelCase dump): `up[N]` turns an N document into an N+1 one, `down[N]` turns N+1 into N.
A `down` may drop what N cannot say; `convert.round_trip_loss` is what refuses such a loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stackspec.model import Model

Document = dict[str, Any]
Convert = Callable[[Document], Document]


class ConfigModel(Model):
    """Base of every configuration model: the stack settings' rules (strict, unknown keys
    rejected, camelCase keys, frozen)."""

    def document(self) -> Document:
        """The canonical document: every key (defaults included) in camelCase, JSON types."""
        return self.model_dump(by_alias=True, mode="json")


@dataclass(frozen=True)
class ServiceSchemas:
    """Every schema version of one service and the conversions between consecutive ones.

    Versions are 1..newest with no gap; `up[n]` converts n -> n+1 and `down[n]` n+1 -> n for
    every n below the newest (checked at construction, so a missing conversion is a bug
    found at import, not during a release).
    """

    service: str
    models: Mapping[int, type[ConfigModel]]
    up: Mapping[int, Convert]
    down: Mapping[int, Convert]

    def __post_init__(self) -> None:
        versions = sorted(self.models)
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"{self.service}: schema versions must be 1..N; got {versions}")
        steps = list(range(1, len(versions)))
        for name, table in (("up", self.up), ("down", self.down)):
            if sorted(table) != steps:
                raise ValueError(
                    f"{self.service}: {name} conversions must exist for {steps}; "
                    f"got {sorted(table)}"
                )

    @property
    def newest(self) -> int:
        """The highest schema version: the one the service's code reads."""
        return max(self.models)

    @property
    def versions(self) -> list[int]:
        """Every schema version, ascending."""
        return sorted(self.models)

    def defaults(self) -> ConfigModel:
        """The newest schema with every default: what a service runs without a file."""
        return self.models[self.newest].model_validate({"schemaVersion": self.newest})
