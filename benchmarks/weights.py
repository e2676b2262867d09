"""Figure 4: failed requests while weights move over the runtime socket vs config reloads."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from benchmarks.figures import Figure, between, failed
from benchmarks.load import RATE, WORKERS, sleep_until, under_load, warm_up, window_rates
from benchmarks.reload import reload_with_weights
from benchmarks.stack import SERVICE, BenchStack
from benchmarks.verdicts import weight_change_failures
from runbooks.core.model import Weights
from runbooks.local.load import Hit, Load
from runbooks.routers.haproxy import HaproxyRouter

# Ten changes through the canary-ish splits, ending where the stack started (all on blue).
CHANGES = [Weights(50, 50), Weights(0, 100), Weights(50, 50), Weights(100, 0)] * 2 + [
    Weights(50, 50),
    Weights(100, 0),
]
PACE_SECONDS = 1.0  # one change a second
SETTLE_SECONDS = 1.0  # requests sent just after the last change count too

Window = tuple[float, float]


def measure_weight_changes(bench: BenchStack) -> Figure:
    """Apply CHANGES over the admin socket, then by reloading; count failed hits of each."""
    router = HaproxyRouter(bench.ends.admin_socket)
    state_dir = bench.ends.state_dir
    load = Load(bench.load_url, RATE, WORKERS).start()
    try:
        warm_up()
        over_socket = _apply_all(lambda w: router.set_weights(SERVICE, w))
        by_reload = _apply_all(lambda w: reload_with_weights(state_dir, SERVICE, w))
    finally:
        hits = load.stop()
    return _figure(hits, over_socket, by_reload)


def _apply_all(apply: Callable[[Weights], object]) -> Window:
    start = time.time()
    for index, weights in enumerate(CHANGES):
        apply(weights)
        sleep_until(start + (index + 1) * PACE_SECONDS)
    end = time.time() + SETTLE_SECONDS
    sleep_until(end)
    return start, end


def _figure(hits: Sequence[Hit], over_socket: Window, by_reload: Window) -> Figure:
    socket_hits, reload_hits = between(hits, *over_socket), between(hits, *by_reload)
    details = {
        "changes": len(CHANGES),
        "socket_requests": len(socket_hits),
        "reload_requests": len(reload_hits),
        "reload_no_answer": sum(1 for h in reload_hits if h.status == 0),
        "reload_how": "haproxy -db -f haproxy.cfg -sf <old pid> (no master-worker, no -x)",
    }
    figure = weight_change_failures(failed(socket_hits), failed(reload_hits), details)
    return under_load(figure, window_rates(hits, {"socket": over_socket, "reload": by_reload}))
