"""A private copy of the local stack on free ports, for tests and benchmarks.

`isolated_stack(base_dir)` writes `<base_dir>/stacks/Pulumi.local.yaml`: the project's local
stack file with every port replaced by a free one and the state dir under `base_dir`, so a
run never collides with a local stack someone already has up. Point the runbooks at it with
`RUNBOOK_STACKS_DIR=<base_dir>/stacks` (and `RUNBOOK_STATE_DIR` for the journal).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.settings import LocalPorts, StackSettings
from infra.stackfile import PROJECT, load_stack_file, stack_path

PORT_KEYS = tuple(LocalPorts.model_fields)
SERVICE_PORTS = 8  # the range above service_base the sample services take (2 per service)
PRIVATE_PORTS = (20000, 21000)  # lowest port picked, and the least room kept below ephemeral


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
    # Every port is distinct from the others and from the services' block, and all come
    # from below the kernel's ephemeral range: a port picked there can be taken by any
    # outgoing connection (a load test makes thousands) between picking and binding.
    taken: set[int] = set()
    chosen: dict[str, int] = {}
    rng = random.Random()
    for key in PORT_KEYS:
        width = SERVICE_PORTS if key == "service_base" else 1
        base = _free_range(width, taken, rng)
        taken |= set(range(base, base + width))
        chosen[_camel(key)] = base
    return chosen


def _free_range(width: int, taken: set[int], rng: random.Random) -> int:
    low, high = PRIVATE_PORTS[0], _ephemeral_low() - width
    for _ in range(200):
        base = rng.randrange(low, high)
        block = range(base, base + width)
        if not taken & set(block) and all(map(_is_free, block)):
            return base
    raise RuntimeError(f"no {width} free port(s) between {low} and {high + width}")


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return max(PRIVATE_PORTS[1], int(text.split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768


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
