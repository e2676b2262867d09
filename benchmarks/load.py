"""The steady load every benchmark section runs under, and the check that it was steady."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from benchmarks.figures import Figure, achieved_rate
from runbooks.local.load import Hit

RATE = 1000.0  # requests/s asked of the load generator
WORKERS = 16
MIN_RATE = 500.0  # below this the figures are not taken under the load issue 4 asks for
WARM_UP_SECONDS = 1.0


def warm_up() -> None:
    """Let the load reach its rate before a window opens (connections made, pools full)."""
    time.sleep(WARM_UP_SECONDS)


def sleep_until(at: float) -> None:
    """Sleep until epoch time `at` (returns at once if it has passed)."""
    time.sleep(max(0.0, at - time.time()))


def window_rates(hits: Sequence[Hit], windows: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Achieved requests/s in each named (start, end) window, rounded to 1 place."""
    return {name: round(achieved_rate(hits, *span), 1) for name, span in windows.items()}


def under_load(figure: Figure, rates: dict[str, float], asked: float = RATE) -> Figure:
    """`figure` with the achieved rates (and the `asked` one) in its details; failed if any
    window fell short of MIN_RATE."""
    steady = bool(rates) and min(rates.values()) >= MIN_RATE
    details = figure.details | {
        "achieved_rps": rates,
        "asked_rps": asked,
        "min_rps": MIN_RATE,
        "load_steady": steady,
    }
    return replace(figure, passed=figure.passed and steady, details=details)
