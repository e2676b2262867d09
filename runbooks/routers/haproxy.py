"""Traffic router for HAProxy, driven live over its runtime API (admin socket).

Convention: service `x` is backend `be_x` with servers `blue` and `green`. Weights are
percent, given to HAProxy as-is (its range is 0..256). A color going to 0 is put in state
`drain` (in-flight and persistent connections finish; `maint` would cut them); a color
going above 0 is put in state `ready`.

A weight change that finds the admin socket unreachable (missing, refusing, resetting,
timing out: HAProxy reloading, its state dir being moved, a blip) is retried with
exponential backoff and jitter for up to `retry_budget_seconds` before the RouterError
reaches the engine, which rolls back on it: a blip shorter than the budget must not roll
back a healthy release. Reading the weights is not retried: `status` and the preflight's
reachability check answer at once, and a stack that is down is said so without a wait.
A command HAProxy answers with a refusal, or live weights that differ from what was asked,
are not retried.
Each attempt of `set_weights` reads the live state again and applies the whole split, so
a retry after a half-applied change converges on what was asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_exponential_jitter,
)

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
# Longer than the admin-socket blips the drills inject (1-10 s), shorter than a person's
# patience with a stuck verb; the engine's own SetWeights retries continue after it.
RETRY_BUDGET_SECONDS = 15.0
_FIRST_WAIT_SECONDS = 0.2
_MAX_WAIT_SECONDS = 2.0
_JITTER_SECONDS = 0.1
_T = TypeVar("_T")
log = logging.getLogger(__name__)


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

    def __init__(
        self,
        socket_path: str | Path,
        timeout_seconds: float = 5.0,
        retry_budget_seconds: float = RETRY_BUDGET_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._runtime = HaproxyRuntime(Path(socket_path), timeout_seconds)
        self._budget = retry_budget_seconds
        self._sleep = sleep

    @classmethod
    def from_stack(cls, settings: StackSettings, outputs: StackOutputs) -> HaproxyRouter:
        """The router of the stack's HAProxy (its admin socket, output `local.adminSocket`)."""
        return cls(outputs.require("local.adminSocket", "the haproxy router"))

    def set_weights(self, service: str, weights: Weights) -> None:
        """Apply `weights`, raising the receiving color first, then verify what is live.

        Retried while the admin socket is unreachable, within the retry budget.
        """
        self._retrying(self._set_weights_once, service, weights)

    def get_weights(self, service: str) -> Weights:
        """The live split, from the servers' effective weights, in percent (not retried)."""
        states = self._states(_backend(service))
        blue, green = (states[c].effective_weight for c in (Color.BLUE, Color.GREEN))
        if blue + green == 0:
            raise RouterError(
                f"no traffic can reach {_backend(service)}: both colors have weight 0",
                hint="set weights again, e.g. `runbook rollback`, to send traffic to a color",
            )
        blue_percent = round(100 * blue / (blue + green))
        return Weights(blue=blue_percent, green=100 - blue_percent)

    def _retrying(self, attempt: Callable[..., _T], *args: object) -> _T:
        retrying = Retrying(
            retry=retry_if_exception(_unreachable),
            stop=stop_before_delay(self._budget),
            wait=wait_exponential_jitter(
                initial=_FIRST_WAIT_SECONDS, max=_MAX_WAIT_SECONDS, jitter=_JITTER_SECONDS
            ),
            sleep=self._sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(attempt, *args)

    def _set_weights_once(self, service: str, weights: Weights) -> None:
        backend = _backend(service)
        current = self._states(backend)
        rising_first = sorted(Color, key=lambda c: weights.of(c) <= current[c].effective_weight)
        for color in rising_first:
            self._apply(backend, color, weights.of(color))
        self._verify(service, weights, self._states(backend))

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


def _unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the admin socket could not be reached (worth retrying)."""
    return isinstance(exc, RouterError) and isinstance(exc.__cause__, OSError)


def _log_retry(state: RetryCallState) -> None:
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "haproxy admin socket unreachable (attempt %d, %.1f s so far): %s; retrying in %.1f s",
        state.attempt_number,
        state.seconds_since_start or 0.0,
        state.outcome.exception() if state.outcome else "",
        wait,
    )


def _backend(service: str) -> str:
    return f"be_{service}"


def _server_state(row: dict[str, str]) -> ServerState:
    try:
        admin = int(row["srv_admin_state"])
        return ServerState(
            weight=int(row["srv_uweight"]),
            draining=bool(admin & _DRAIN_BITS),
            in_maint=bool(admin & _MAINT_BITS),
            down=int(row["srv_op_state"]) == _OP_STOPPED,
        )
    except (KeyError, ValueError) as exc:  # an answer that is not HAProxy's
        raise RouterError(f"unexpected `show servers state` row from haproxy: {exc}") from None


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
