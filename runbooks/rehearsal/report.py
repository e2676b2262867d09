"""The rehearsal report: one self-contained HTML page with the timeline, and its JSON data.

The chart is inline SVG drawn from the timeline (weights, error rate and p95 latency per
color, and a line at each decision), so the page needs no script and no network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from runbooks.rehearsal.timeline import Point, Timeline

WIDTH, HEIGHT, PAD = 900, 150, 40
COLOR_HEX = {"blue": "#2563eb", "green": "#16a34a"}


@dataclass(frozen=True)
class Panel:
    """One chart: a title, the y-axis maximum and a polyline per series."""

    title: str
    unit: str
    y_max: float
    series: list[tuple[str, str]]  # (css color, SVG points)


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
    duration = max([p.t for p in timeline.points] + [w.t for w in timeline.weights] + [1.0]) + 1
    x = _scale(duration, WIDTH - 2 * PAD, PAD)
    return env.get_template("report.html.j2").render(
        timeline=timeline,
        panels=_panels(timeline, x),
        width=WIDTH,
        height=HEIGHT,
        pad=PAD,
        marks=[(x(m.t), m) for m in timeline.markers],
        colors=COLOR_HEX,
        duration=duration,
        ms=ms_text,
    )


def ms_text(value: float | None) -> str:
    """A latency for people: "12.3 ms", or "—" when there is none."""
    return "—" if value is None else f"{value:.1f} ms"


def _panels(timeline: Timeline, x: Callable[[float], float]) -> list[Panel]:
    weights = _weight_series(timeline, x)
    error_max = max([p.error_rate * 100 for p in timeline.points] + [1.0])
    p95_max = max([p.p95_ms or 0 for p in timeline.points] + [10.0])
    return [
        Panel("traffic weight", "%", 100, weights),
        Panel(
            "error rate seen by users",
            "%",
            error_max,
            _point_series(timeline.points, x, lambda p: p.error_rate * 100, error_max),
        ),
        Panel(
            "p95 latency seen by users",
            "ms",
            p95_max,
            _point_series(timeline.points, x, lambda p: p.p95_ms, p95_max),
        ),
    ]


def _weight_series(timeline: Timeline, x: Callable[[float], float]) -> list[tuple[str, str]]:
    series = []
    for color in COLOR_HEX:
        points, last = [], None
        for change in timeline.weights:
            value = getattr(change, color)
            if last is not None:
                points.append((x(change.t), _y(last, 100)))
            points.append((x(change.t), _y(value, 100)))
            last = value
        if last is not None:
            points.append(
                (x(max(p.t for p in timeline.points) if timeline.points else 0), _y(last, 100))
            )
        series.append((COLOR_HEX[color], _svg(points)))
    return series


def _point_series(
    points: Sequence[Point],
    x: Callable[[float], float],
    value: Callable[[Point], float | None],
    y_max: float,
) -> list[tuple[str, str]]:
    """One polyline per run of consecutive seconds: a color without traffic draws nothing."""
    series = []
    for color, hex_color in COLOR_HEX.items():
        run: list[tuple[float, float]] = []
        last_t: float | None = None
        for p in points:
            v = value(p)
            if p.color != color or v is None:
                continue
            if last_t is not None and p.t - last_t > 1 and run:
                series.append((hex_color, _svg(run)))
                run = []
            run.append((x(p.t), _y(v, y_max)))
            last_t = p.t
        if run:
            series.append((hex_color, _svg(run)))
    return series


def _scale(duration: float, span: float, offset: float) -> Callable[[float], float]:
    return lambda t: offset + span * t / duration


def _y(value: float, y_max: float) -> float:
    return HEIGHT - 20 - (HEIGHT - 40) * min(value, y_max) / y_max


def _svg(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
