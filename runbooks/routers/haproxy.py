"""Traffic router for HAProxy, driven live over its runtime API (admin socket).

Convention: service `x` is backend `be_x` with servers `blue` and `green`. Weights are
percent, given to HAProxy as-is (its range is 0..256). A color going to 0 is put in state
`drain` (in-flight and persistent connections finish; `maint` would cut them); a color
going above 0 is put in state `ready`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbooks.core.model import Color, Weights
from runbooks.haproxy_runtime import HaproxyRuntime
from stackspec.errors import RouterError

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced/inherited drain, and every maint.
_DRAIN_BITS = 0x08 | 0x10
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20
_OP_STOPPED = 0


@dataclass(frozen=True)
class ServerState:
    """What HAProxy reports live for one color's server."""

    weight: int
    draining: bool
    in_maint: bool
    down: bool

    @property
    def effective_weight(self) -> int:
        """The weight new requests see: 0 while draining or in maintenance."""
        return 0 if self.draining or self.in_maint else self.weight


class HaproxyRouter:
    """Sets and verifies blue/green weights of `be_<service>` over the admin socket."""

    def __init__(self, socket_path: str | Path, timeout_seconds: float = 5.0) -> None:
        self._runtime = HaproxyRuntime(Path(socket_path), timeout_seconds)

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> HaproxyRouter:
        """The router of the stack's HAProxy (its admin socket, output `local.adminSocket`)."""
        return cls(outputs.require("local.adminSocket", "the haproxy router"))

    def set_weights(self, service: str, weights: Weights) -> None:
        """Apply `weights`, raising the receiving color first, then verify what is live."""
        backend = _backend(service)
        current = self._states(backend)
        rising_first = sorted(Color, key=lambda c: weights.of(c) <= current[c].effective_weight)
        for color in rising_first:
            self._apply(backend, color, weights.of(color))
        self._verify(service, weights, self._states(backend))

    def get_weights(self, service: str) -> Weights:
        """The live split, from the servers' effective weights, in percent."""
        states = self._states(_backend(service))
        blue, green = (states[c].effective_weight for c in (Color.BLUE, Color.GREEN))
        if blue + green == 0:
            raise RouterError(
                f"no traffic can reach {_backend(service)}: both colors have weight 0",
                hint="set weights again, e.g. `runbook rollback`, to send traffic to a color",
            )
        blue_percent = round(100 * blue / (blue + green))
        return Weights(blue=blue_percent, green=100 - blue_percent)

    def _apply(self, backend: str, color: Color, weight: int) -> None:
        server = f"{backend}/{color.value}"
        if weight > 0:
            self._runtime.change(f"set server {server} weight {weight}")
            self._runtime.change(f"set server {server} state ready")
        else:
            self._runtime.change(f"set server {server} state drain")
            self._runtime.change(f"set server {server} weight 0")

    def _states(self, backend: str) -> dict[Color, ServerState]:
        rows = {row.get("srv_name"): row for row in self._runtime.show_servers_state(backend)}
        missing = [c.value for c in Color if c.value not in rows]
        if missing:
            raise RouterError(
                f"haproxy backend {backend} has no server(s) {', '.join(missing)}",
                hint=f"haproxy.cfg needs `backend {backend}` with servers blue and green",
            )
        return {c: _server_state(rows[c.value]) for c in Color}

    def _verify(self, service: str, asked: Weights, live: dict[Color, ServerState]) -> None:
        mismatches = (_mismatch(color, asked.of(color), live[color]) for color in Color)
        problems = [problem for problem in mismatches if problem]
        if problems:
            raise RouterError(
                f"haproxy {_backend(service)} is not at {asked}: {'; '.join(problems)}",
                hint="check `show servers state` on the admin socket and the health checks",
            )


def _backend(service: str) -> str:
    return f"be_{service}"


def _server_state(row: dict[str, str]) -> ServerState:
    admin = int(row["srv_admin_state"])
    return ServerState(
        weight=int(row["srv_uweight"]),
        draining=bool(admin & _DRAIN_BITS),
        in_maint=bool(admin & _MAINT_BITS),
        down=int(row["srv_op_state"]) == _OP_STOPPED,
    )


def _mismatch(color: Color, asked: int, live: ServerState) -> str | None:
    """Why `live` is not what was asked for `color`, or None when it is."""
    if asked == 0:
        return None if live.effective_weight == 0 else f"{color} still has weight {live.weight}"
    if live.draining or live.in_maint:
        return f"{color} is still {'draining' if live.draining else 'in maintenance'}"
    if live.weight != asked:
        return f"{color} has weight {live.weight}, asked {asked}"
    if live.down:
        return f"{color} is DOWN by its health check, so it cannot take traffic"
    return None
