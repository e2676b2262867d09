"""The stack-driver plug-in area: where a stack's release state is recorded between runs.

The driver performs the engine's `Deploy` action: it puts a version on the idle color.
After a release the engine writes the service's active color, the version in each color and
the traffic split back through the driver, so the next `pulumi up` (or `local up`) keeps the
release instead of undoing it. The driver also turns the secret references of a stack file
into plaintext when a plug-in (the webhook notifier) needs one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from runbooks.core.model import Weights
from runbooks.outputs import StackOutputs
from stackspec.model import (
    Color,
    ConfigVersions,
    EnvRef,
    SecretRef,
    Service,
    StackSettings,
    Versions,
)

WEBHOOK_KEY = "notifications.webhookUrl"


@dataclass(frozen=True)
class ServiceState:
    """The release state of one blue-green service: who serves, what runs where, the split."""

    active_color: Color
    versions: Versions
    weights: Weights
    # None: unchanged by this write (as recorded, else as the stack file declares)
    config_versions: ConfigVersions | None = None

    @classmethod
    def declared(cls, service: Service) -> ServiceState:
        """The state a stack file declares for `service`."""
        split = service.split
        return cls(
            service.active_color,
            service.versions,
            Weights(split.blue, split.green),
            service.config_versions,
        )

    def to_config(self) -> dict[str, Any]:
        """The state as the stack file's camelCase keys."""
        config = {
            "activeColor": self.active_color.value,
            "versions": {"blue": self.versions.blue, "green": self.versions.green},
            "weights": {"blue": self.weights.blue, "green": self.weights.green},
        }
        if self.config_versions is not None:
            configs = self.config_versions
            config["configVersions"] = {"blue": configs.blue, "green": configs.green}
        return config

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> ServiceState:
        """The inverse of `to_config`; raises ValueError (or pydantic's) on bad data."""
        versions = Versions.model_validate(data["versions"])
        weights = data["weights"]
        configs = data.get("configVersions")
        return cls(
            Color(data["activeColor"]),
            versions,
            Weights(weights["blue"], weights["green"]),
            ConfigVersions.model_validate(configs) if configs is not None else None,
        )


Faults: TypeAlias = Mapping[str, Any]
"""Faults a drill injects into a deployed version (samples.options.Faults fields)."""


class StackDriver(Protocol):
    """Deploys versions on one stack, reads and writes its release state, resolves its secrets.

    Failures raise `stackspec.errors.DriverError` (never with a secret in the message);
    an unknown service raises `BadInput`.
    """

    def deploy(self, service: str, color: Color, version: str, faults: Faults) -> None:
        """Run `version` of `service` on `color` and return once it serves; safe to repeat.

        `faults` are for drills on the local stack; other drivers refuse any (BadInput).
        """
        ...

    def applied(self, settings: StackSettings) -> StackSettings:
        """`settings` with the release state this driver recorded applied to its services."""
        ...

    def read_outputs(self, stack: str) -> StackOutputs:
        """The stack's outputs (runbooks.outputs); DriverError when they cannot be read."""
        ...

    def read_release_state(self, service: str) -> ServiceState:
        """The recorded state of `service`: the last one written, else the declared one."""
        ...

    def write_release_state(self, service: str, state: ServiceState) -> None:
        """Record `state` durably, so the next deploy of the stack keeps it (config versions
        of None leave the recorded ones as they are)."""
        ...

    def resolve_secret(self, ref: SecretRef | EnvRef, key: str = WEBHOOK_KEY) -> str | None:
        """The plaintext of a secret reference standing at config path `key`.

        EnvRef: the environment variable, None if unset. SecretRef: decrypted by Pulumi.
        """
        ...
