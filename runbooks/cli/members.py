"""`runbook rollout --service`: one service with `--version`, or several as NAME=VERSION.

    --service trading-api --version 1.2.0                       # one service
    --service trading-api=1.2.0                                 # the same
    --service trading-api=1.2.0 --service market-data=1.2.0     # one release of both

`--fault NAME=VALUE` applies to every service released; `--fault SERVICE:NAME=VALUE` to
that one only (drills on the local stack). Every mistake is BadInput (exit 2) before
anything is recorded: a malformed item, a service the stack does not have (the message
lists those it has), the same service twice, NAME=VERSION mixed with --version, a fault for
a service not released.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stackspec.errors import BadInput

if TYPE_CHECKING:  # rollout's --help reads ServicesOption without the settings model
    from stackspec.model import StackSettings

FORM = "NAME=VERSION, e.g. --service trading-api=1.2.0"
ServicesOption = Annotated[
    list[str],
    typer.Option(
        "--service",
        help="Service to release (with --version), or NAME=VERSION; repeat NAME=VERSION to "
        "release several services together as one release.",
    ),
]


@dataclass(frozen=True)
class Member:
    """One service of a rollout: its version (None: from --version or --from) and faults."""

    service: str
    version: str | None
    faults: dict[str, Any] = field(default_factory=dict)


def parse_members(
    items: Sequence[str],
    version: str | None,
    fault_items: Sequence[str],
    settings: StackSettings,
    parse_faults: Callable[[Sequence[str]], dict[str, Any]],
) -> list[Member]:
    """The services asked for, in the order given, each with its faults."""
    from runbooks.session import require_service

    pairs = [_pair(item, version) for item in items]
    if len(pairs) > 1 and any(v is None for _, v in pairs):
        raise BadInput("several services need a version each", hint=f"give each as {FORM}")
    seen: set[str] = set()
    for name, _ in pairs:
        require_service(settings, name)  # names the stack's services
        if name in seen:
            raise BadInput(f"--service {name} is given twice", hint="name each service once")
        seen.add(name)
    faults = _faults(fault_items, [n for n, _ in pairs], parse_faults)
    return [Member(name, v or version, faults.get(name, {})) for name, v in pairs]


def _pair(item: str, version: str | None) -> tuple[str, str | None]:
    if "=" not in item:
        return item, None
    name, _, value = item.partition("=")
    if not name or not value or "=" in value:
        raise BadInput(f"bad --service '{item}'", hint=f"give it as {FORM}")
    if version is not None:
        raise BadInput(
            f"--service {item} names its version: leave out --version {version}",
            hint=f"either --service NAME --version VERSION, or {FORM}",
        )
    return name, value


def _faults(
    items: Sequence[str],
    services: Sequence[str],
    parse_faults: Callable[[Sequence[str]], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    every: list[str] = []
    own: dict[str, list[str]] = {s: [] for s in services}
    for item in items:
        target, sep, fault = item.partition(":")
        if not sep:
            every.append(item)
        elif target in own:
            own[target].append(fault)
        else:
            raise BadInput(
                f"--fault {item} names {target}, which this rollout does not release",
                hint=f"released: {', '.join(services)}",
            )
    return {s: parse_faults([*every, *own[s]]) for s in services}
