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

from runbooks.local.process import free_port_block
from stackspec.model import LocalPorts, StackSettings
from stackspec.stackfile import PROJECT, load_stack_file, stack_path

PORT_KEYS = tuple(LocalPorts.model_fields)
SERVICE_PORTS = 8  # the range above service_base the sample services take (2 per service)


def isolated_stack(base_dir: Path, rollout: Mapping[str, Any] | None = None) -> StackSettings:
    """Write the isolated local stack under `base_dir`; `rollout` overrides policy keys."""
    document = yaml.safe_load(stack_path("local").read_text(encoding="utf-8"))
    config = document["config"]
    ports = free_local_ports()
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


def free_local_ports() -> dict[str, int]:
    """Every local port key (camelCase, as in the stack file) moved to a free port.

    Each is distinct from the others and from the services' block above `serviceBase`.
    """
    taken: set[int] = set()
    chosen: dict[str, int] = {}
    for key in PORT_KEYS:
        width = SERVICE_PORTS if key == "service_base" else 1
        base = free_port_block(width, taken)
        taken |= set(range(base, base + width))
        chosen[_camel(key)] = base
    return chosen


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
