"""What a deployed stack tells the engine about itself: its outputs, read by the stack driver.

Pulumi stacks: the stack outputs `infra/outputs.py` exports (`database.writerEndpoint`,
`edge.distributionId`, `services.<name>.namespace`, ...). The local stack: the addresses of
its servers under `local.*` (`local.adminSocket`, `local.prometheusUrl`, `local.postgresDsn`,
...). Nested outputs are flattened to dotted keys, so every backend's `from_stack(settings,
outputs)` asks for a key by the same name the program exported it under, and a missing one
is a BadInput naming it. Secrets are never outputs: `secret()` asks the driver for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stackspec.errors import BadInput
from stackspec.model import EnvRef, SecretRef

SecretResolver = Callable[[SecretRef | EnvRef, str], str | None]


def _no_secrets(ref: SecretRef | EnvRef, key: str) -> str | None:
    raise BadInput(f"{key} is a secret and this stack has no driver to resolve it")


@dataclass(frozen=True)
class StackOutputs:
    """The outputs of stack `stack` as dotted keys; `source` says where they were read."""

    stack: str
    values: Mapping[str, Any]
    source: str
    resolve_secret: SecretResolver = field(default=_no_secrets, repr=False, compare=False)

    @classmethod
    def of(cls, stack: str, nested: Mapping[str, Any], source: str, **kw: Any) -> StackOutputs:
        """Outputs from a nested mapping (as `pulumi stack output --json` prints them)."""
        return cls(stack, flatten(nested), source, **kw)

    def get(self, key: str) -> Any:
        """The output at `key`, or None when the stack has none (or it is null)."""
        return self.values.get(key)

    def require(self, key: str, needed_by: str) -> Any:
        """The output at `key`; BadInput naming the key and who needs it when absent."""
        value = self.values.get(key)
        if value is None or value == "":
            raise BadInput(
                f"stack '{self.stack}' has no output '{key}' ({needed_by} needs it; "
                f"read from {self.source})",
                hint="deploy the stack first (`scripts/deploy <stack> up`), or "
                "`scripts/local-stack up` for the local stack",
            )
        return value

    def secret(self, ref: SecretRef | EnvRef, key: str) -> str | None:
        """The plaintext of the secret reference at config path `key` (driver-resolved)."""
        return self.resolve_secret(ref, key)


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are kept as values."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat
