"""The driver that records nothing durably: state lives in memory for one run.

For stacks whose state is managed elsewhere, and for tests of the engine.
"""

from __future__ import annotations

import os

from infra.settings import EnvRef, SecretRef, StackSettings
from runbooks.drivers.base import WEBHOOK_KEY, ServiceState
from runbooks.errors import BadInput


class NopDriver:
    """Reads what was written in this process, else what `settings` declare."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings
        self.written: dict[str, ServiceState] = {}

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
