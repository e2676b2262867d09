"""The driver that records nothing durably: state lives in memory for one run.

For stacks whose state is managed elsewhere, and for tests of the engine.
"""

from __future__ import annotations

import os

from runbooks.drivers.base import WEBHOOK_KEY, Faults, ServiceState
from runbooks.outputs import StackOutputs
from stackspec.errors import BadInput
from stackspec.model import Color, EnvRef, SecretRef, StackSettings


class NopDriver:
    """Reads what was written in this process, else what `settings` declare; records deploys."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings
        self.written: dict[str, ServiceState] = {}
        self.deployed: list[tuple[str, Color, str]] = []

    def applied(self, settings: StackSettings) -> StackSettings:
        """`settings` as declared: this driver keeps nothing between runs."""
        return settings

    def read_outputs(self, stack: str) -> StackOutputs:
        """No outputs: backends that need one say which."""
        return StackOutputs(stack, {}, "the nop driver (no outputs)", self.resolve_secret)

    def deploy(self, service: str, color: Color, version: str, faults: Faults) -> None:
        self.deployed.append((service, color, version))

    def read_release_state(self, service: str) -> ServiceState:
        if service in self.written:
            return self.written[service]
        if self.settings is None:
            raise BadInput(f"no state for service '{service}'", hint="nothing was written yet")
        try:
            return ServiceState.declared(self.settings.service(service))
        except KeyError as err:
            raise BadInput(str(err.args[0]), hint="check the service name") from None

    def write_release_state(self, service: str, state: ServiceState) -> None:
        self.written[service] = state

    def resolve_secret(self, ref: SecretRef | EnvRef, key: str = WEBHOOK_KEY) -> str | None:
        return os.environ.get(ref.env) if isinstance(ref, EnvRef) else None
