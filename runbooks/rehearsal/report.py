"""The rehearsal report: one self-contained HTML page with the timeline, and its JSON data.

The charts are drawn by the same renderer as every release report (runbooks.report.chart):
weights, and the error rate and p95 latency users saw per color, with time and value axes
and each decision of the engine as a numbered, coloured marker, so the page needs no script
and no network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from runbooks.rehearsal.timeline import Point, Timeline
from runbooks.report.chart import COLOR_HEX, STYLE, Chart, Marker, Series
from runbooks.report.chart import render as render_chart


def write_report(timeline: Timeline, directory: Path) -> tuple[Path, Path]:
    """Write `rehearsal.html` and `rehearsal.json` into `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    data_path = directory / "rehearsal.json"
    data_path.write_text(json.dumps(timeline.as_dict(), indent=2), encoding="utf-8")
    html_path = directory / "rehearsal.html"
    html_path.write_text(render(timeline), encoding="utf-8")
    return html_path, data_path


def render(timeline: Timeline) -> str:
    """The report page."""
    env = Environment(
        loader=PackageLoader("runbooks.rehearsal"), autoescape=select_autoescape(["html"])
    )
    markers = numbered(timeline)
    return env.get_template("report.html.j2").render(
        timeline=timeline,
        charts=[render_chart(chart) for chart in charts(timeline, markers)],
        markers=markers,
        colors=COLOR_HEX,
        style=STYLE,
        ms=ms_text,
    )


def ms_text(value: float | None) -> str:
    """A latency for people: "12.3 ms", or "—" when there is none."""
    return "—" if value is None else f"{value:.1f} ms"


def numbered(timeline: Timeline) -> tuple[Marker, ...]:
    """The engine's decisions as chart markers, numbered in order of time."""
    ordered = sorted(timeline.markers, key=lambda m: m.t)
    return tuple(
        Marker(m.t, m.kind, f"{m.release}: {m.kind}: {m.message}", i + 1)
        for i, m in enumerate(ordered)
    )


def charts(timeline: Timeline, markers: tuple[Marker, ...]) -> list[Chart]:
    """Traffic weight, then the error rate and p95 latency users saw, per color."""
    duration = max([p.t for p in timeline.points] + [w.t for w in timeline.weights] + [1.0]) + 1
    return [
        Chart("traffic weight", "%", duration, _weights(timeline), markers=markers, y_max=100),
        Chart(
            "error rate seen by users",
            "%",
            duration,
            _runs(timeline.points, lambda p: p.error_rate * 100),
            markers=markers,
            y_floor=1.0,
        ),
        Chart(
            "p95 latency seen by users",
            "ms",
            duration,
            _runs(timeline.points, lambda p: p.p95_ms),
            markers=markers,
            y_floor=10.0,
        ),
    ]


def _weights(timeline: Timeline) -> tuple[Series, ...]:
    return tuple(
        Series(
            f"{color} weight",
            hexcolor,
            tuple((w.t, float(getattr(w, color))) for w in timeline.weights),
            steps=True,
        )
        for color, hexcolor in COLOR_HEX.items()
        if timeline.weights
    )


def _runs(points: Sequence[Point], value: Callable[[Point], float | None]) -> tuple[Series, ...]:
    """One line per run of consecutive seconds: a color without traffic draws nothing."""
    series = []
    for color, hexcolor in COLOR_HEX.items():
        run: list[tuple[float, float]] = []
        last_t: float | None = None
        for p in points:
            v = value(p)
            if p.color != color or v is None:
                continue
            if last_t is not None and p.t - last_t > 1 and run:
                series.append(Series(color, hexcolor, tuple(run)))
                run = []
            run.append((p.t, v))
            last_t = p.t
        if run:
            series.append(Series(color, hexcolor, tuple(run)))
    return tuple(series)
