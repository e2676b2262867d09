"""Whole-number window deltas of Prometheus counters, from raw counter values.

A counter's value only grows, except when its process restarts and it starts again at 0.
The number of events in a window is therefore the sum of its rises, where a fall means a
restart and the value after it is all new (the events before the restart that were not
scraped yet are lost to every method, increase() included). Nothing is extrapolated: the
result is exactly the difference of scraped values, a whole number for whole counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Point = tuple[float, float]  # (unix time in seconds, counter value)
Labels = frozenset[tuple[str, str]]  # a series' labels, without its metric name


def counter_delta(baseline: float | None, points: Iterable[Point]) -> float:
    """Events counted by one series in a window.

    `baseline` is the series' last value before the window, None when it had none (the
    series was born in the window: it started at 0). `points` are its values in the window,
    in time order. A value below the previous one is a restart: it counts from 0.
    """
    previous = 0.0 if baseline is None else baseline
    total = 0.0
    for _, value in points:
        total += value - previous if value >= previous else value
        previous = value
    return total


def labels_of(metric: Mapping[str, str]) -> Labels:
    """The identity of a series as an answer names it; PromQL functions drop `__name__`,
    so it is left out on both sides of a baseline/window match."""
    return frozenset((k, v) for k, v in metric.items() if k != "__name__")


def deltas(
    baselines: Mapping[Labels, float], windows: Mapping[Labels, list[Point]]
) -> dict[Labels, float]:
    """`counter_delta` of every series with values in the window, by its labels.

    A series with a baseline but no value in the window has gone (its process stopped): it
    counted nothing more and is left out.
    """
    return {
        labels: counter_delta(baselines.get(labels), points) for labels, points in windows.items()
    }
