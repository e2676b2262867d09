"""A private copy of the local stack on free ports, for tests and benchmarks.

`isolated_stack(base_dir)` writes `<base_dir>/stacks/Pulumi.local.yaml`: the project's local
stack file with every port replaced by a free one and the state dir under `base_dir`, so a
run never collides with a local stack someone already has up. Point the runbooks at it with
`RUNBOOK_STACKS_DIR=<base_dir>/stacks` (and `RUNBOOK_STATE_DIR` for the journal).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.settings import LocalPorts, StackSettings
from infra.stackfile import PROJECT, load_stack_file, stack_path
from runbooks.local.servers import free_port

PORT_KEYS = tuple(LocalPorts.model_fields)
SERVICE_PORTS = 8  # the range above service_base the sample services take (2 per service)


def isolated_stack(base_dir: Path, rollout: Mapping[str, Any] | None = None) -> StackSettings:
    """Write the isolated local stack under `base_dir`; `rollout` overrides policy keys."""
    document = yaml.safe_load(stack_path("local").read_text(encoding="utf-8"))
    config = document["config"]
    ports = _free_ports()
    config[f"{PROJECT}:local"] = {
        "stateDir": str(base_dir / "state"),
        "ports": ports,
    }
    if rollout:
        config[f"{PROJECT}:rollout"] = {**config[f"{PROJECT}:rollout"], **rollout}
    stacks = base_dir / "stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    path = stacks / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_stack_file(path)


def _free_ports() -> dict[str, int]:
    # The OS may hand out the same free port twice in a row, and the service range is a
    # block: every port chosen must be distinct from the others and from that block.
    taken: set[int] = set()
    chosen: dict[str, int] = {}
    for key in PORT_KEYS:
        if key == "service_base":
            base = _free_block(taken)
            taken |= set(range(base, base + SERVICE_PORTS))
            chosen[_camel(key)] = base
        else:
            chosen[_camel(key)] = _distinct_port(taken)
            taken.add(chosen[_camel(key)])
    return chosen


def _distinct_port(taken: set[int]) -> int:
    for _ in range(100):
        port = free_port()
        if port not in taken:
            return port
    raise RuntimeError("no free port distinct from the ones already chosen")


def _free_block(taken: set[int]) -> int:
    for _ in range(50):
        base = free_port()
        block = range(base, base + SERVICE_PORTS)
        if base + SERVICE_PORTS < 65535 and not taken & set(block) and all(map(_is_free, block)):
            return base
    raise RuntimeError("no free block of ports for the sample services")


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
