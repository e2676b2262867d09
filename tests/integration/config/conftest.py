"""Real servers for the config tests: PostgreSQL, Redis and the broker, then trading-api blue
and green as processes started the way the local stack starts them (`start_service`), each
loading its rendered `<state>/config/trading-api-<color>.yaml`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbooks.local import record
from runbooks.local.endpoints import LocalEndpoints, endpoints
from runbooks.local.process import free_port
from runbooks.local.servers import Server, start_broker, start_postgres, start_redis
from runbooks.local.services import start_service
from runbooks.steps.base import StepContext
from stackspec.model import Color, LocalPorts, StackSettings
from stackspec.stackfile import load_stack

SERVICE = "trading-api"


@dataclass(frozen=True)
class Services:
    """The running pair: settings, endpoints, and the state dir the step reads."""

    settings: StackSettings
    ends: LocalEndpoints

    @property
    def state_dir(self) -> Path:
        return self.ends.state_dir

    def url(self, color: Color) -> str:
        return self.ends.service_url(SERVICE, color)

    def context(self, **options: object) -> StepContext:
        """A release of trading-api from blue (old) to green (new) on this stack."""
        return StepContext(
            stack="local",
            service=SERVICE,
            version="1.1.0",
            old_color=Color.BLUE,
            new_color=Color.GREEN,
            options={"config_backend": "local", "local_state_dir": str(self.state_dir)} | options,
        )


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    """PostgreSQL, Redis, the broker and trading-api blue + green (config v1), always stopped."""
    state = Path(tempfile.mkdtemp(prefix="config-test-"))
    state.chmod(0o755)  # PostgreSQL runs as `postgres` and must enter it
    settings = load_stack("local")
    assert settings.local is not None
    ports = LocalPorts(**{name: free_port() for name in LocalPorts.model_fields})
    local = settings.local.model_copy(update={"ports": ports, "state_dir": str(state)})
    settings = settings.model_copy(update={"local": local})
    ends = endpoints(settings, state)
    started: list[Server] = []
    try:
        started.append(start_postgres(state, ports.postgres, settings.database.name))
        started.append(start_redis(state, ports.redis))
        started.append(start_broker(state, ports.kafka))
        parts = {}
        for color in Color:
            part = start_service(settings, ends, SERVICE, color, "1.0.0")
            started.append(part.server)
            parts[part.server.name] = part
        record.save(state, parts)
        yield Services(settings, ends)
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(state, ignore_errors=True)
