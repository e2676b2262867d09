"""Time charts as inline SVG: axes with ticks and labels, series, threshold bands, markers.

One renderer for every report (`runbook report` and the rehearsal's), so a chart looks and
reads the same everywhere. Pure: a `Chart` in, SVG text out (escaped; no script, no
external resource). Times are seconds since the chart's start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 900, 230
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 22, 40
_Scale = Callable[[float], float]
COLOR_HEX = {"blue": "#2563eb", "green": "#16a34a"}
MARKER_HEX = {
    "started": "#475569",
    "step-started": "#475569",
    "paused": "#ca8a04",
    "resumed": "#475569",
    "awaiting-promotion": "#ca8a04",
    "promoted": "#16a34a",
    "finished": "#16a34a",
    "rollback-started": "#dc2626",
    "rolled-back": "#b91c1c",
    "aborted": "#7f1d1d",
    "retrying": "#ea580c",
    "action-failed": "#dc2626",
    "contract-failed": "#dc2626",
    "ignored": "#94a3b8",
}
VERDICT_HEX = {
    "successful": "#16a34a",
    "failed": "#dc2626",
    "error": "#7f1d1d",
    "inconclusive": "#ca8a04",
}


@dataclass(frozen=True)
class Series:
    """A line: (t, value) points; `steps` draws it as a step function (weights)."""

    label: str
    color: str
    points: tuple[tuple[float, float], ...]
    steps: bool = False
    dashed: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded threshold zone: beyond the `limit` line (above it, or below it when
    `above` is False), where a value fails its check."""

    label: str
    limit: tuple[tuple[float, float], ...]
    above: bool = True
    color: str = "#dc2626"


@dataclass(frozen=True)
class Marker:
    """A decision at time `t`: a numbered, coloured vertical line with its message."""

    t: float
    kind: str
    label: str
    number: int = 0


@dataclass(frozen=True)
class Dot:
    """A window's verdict on the verdict lane under the plot."""

    t: float
    verdict: str
    label: str


@dataclass(frozen=True)
class Chart:
    """One panel: a title, the y unit, and what to draw over [0, duration] seconds."""

    title: str
    unit: str
    duration: float
    series: tuple[Series, ...] = ()
    bands: tuple[Band, ...] = ()
    markers: tuple[Marker, ...] = ()
    dots: tuple[Dot, ...] = ()
    y_max: float | None = None  # default: from the data, at least `y_floor`
    y_floor: float = 1.0
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2 or 5 times a power of 10)."""
    top = top if top > 0 else 1.0
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def time_label(seconds: float) -> str:
    """`0.5s`, `45s`, `2m`, `2m30s`, `1h05m` for an axis tick."""
    if seconds < 10 and seconds != round(seconds):
        return f"{seconds:.1f}s"  # ticks under a second apart on a short release
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m" + (f"{rest:02d}s" if rest else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def value_label(value: float, unit: str) -> str:
    """A y tick: `0.5%`, `120 ms`, `99.9%`."""
    text = f"{value:.10g}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}".rstrip()


def render(chart: Chart, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The chart as an `<svg>` element."""
    values = [v for s in chart.series for _, v in s.points] + [
        v for b in chart.bands for _, v in b.limit
    ]
    y_top = chart.y_max if chart.y_max is not None else max([chart.y_floor, *values]) * 1.1
    y_ticks = nice_ticks(y_top)
    y_top = y_ticks[-1]
    x_ticks = nice_ticks(chart.duration, 8)
    duration = x_ticks[-1]
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * max(0.0, min(t, duration)) / duration

    def y(v: float) -> float:
        return TOP + plot_h * (1 - max(0.0, min(v, y_top)) / y_top)

    parts = [
        f'<svg width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(chart.title)}" class="chart">',
        f"<title>{escape(chart.title)}</title>",
    ]
    parts += _grid(y_ticks, x_ticks, x, y, chart.unit, width, height)
    parts += [_band(b, x, y, y_top, duration) for b in chart.bands]
    parts += [_line(s, x, y, duration) for s in chart.series if s.points]
    parts += _markers(chart.markers, x, height)
    parts += _dots(chart.dots, x, height)
    parts.append("</svg>")
    return "\n".join(p for p in parts if p)


def _grid(
    y_ticks: Sequence[float],
    x_ticks: Sequence[float],
    x: _Scale,
    y: _Scale,
    unit: str,
    width: int,
    height: int,
) -> list[str]:
    base = height - BOTTOM
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{width - RIGHT}" y2="{base}"/>',
    ]
    for v in y_ticks:
        py = y(v)
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{py:.1f}" x2="{width - RIGHT}" y2="{py:.1f}"/>'
            f'<text class="ytick" x="{LEFT - 4}" y="{py + 4:.1f}" text-anchor="end">'
            f"{escape(value_label(v, unit))}</text>"
        )
    for t in x_ticks:
        px = x(t)
        parts.append(
            f'<line class="axis" x1="{px:.1f}" y1="{base}" x2="{px:.1f}" y2="{base + 4}"/>'
            f'<text class="xtick" x="{px:.1f}" y="{base + 16}" text-anchor="middle">'
            f"{time_label(t)}</text>"
        )
    parts.append(
        f'<text class="xlabel" x="{LEFT + (width - LEFT - RIGHT) / 2:.0f}" y="{height - 4}" '
        'text-anchor="middle">time since the start</text>'
    )
    return parts


def _path(points: Sequence[tuple[float, float]], x: _Scale, y: _Scale, steps: bool) -> str:
    coords: list[tuple[float, float]] = []
    for i, (t, v) in enumerate(points):
        if steps and i > 0:
            coords.append((x(t), y(points[i - 1][1])))
        coords.append((x(t), y(v)))
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)


def _line(series: Series, x: _Scale, y: _Scale, duration: float) -> str:
    points = list(series.points)
    if series.steps:
        points.append((duration, points[-1][1]))  # a split holds until changed
    dash = ' stroke-dasharray="6 4"' if series.dashed else ""
    body = (
        f'<polyline fill="none" stroke="{series.color}" stroke-width="2"{dash} '
        f'points="{_path(points, x, y, series.steps)}"><title>{escape(series.label)}</title>'
        "</polyline>"
    )
    if len(points) == 1:  # one window: a dot, or nothing would show
        px, py = x(points[0][0]), y(points[0][1])
        body += f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{series.color}"/>'
    return body


def _band(band: Band, x: _Scale, y: _Scale, y_top: float, duration: float) -> str:
    if not band.limit:
        return ""
    edge = y_top if band.above else 0.0
    line = list(band.limit)
    if len(line) == 1:
        line = [(max(0.0, line[0][0] - duration / 100), line[0][1]), line[0]]
    polygon = [(x(t), y(v)) for t, v in line] + [(x(t), y(edge)) for t, _ in reversed(line)]
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in polygon)
    return (
        f'<polygon class="band" fill="{band.color}" fill-opacity="0.12" points="{points}">'
        f"<title>{escape(band.label)}</title></polygon>"
        f'<polyline fill="none" stroke="{band.color}" stroke-width="1" stroke-dasharray="2 3" '
        f'points="{_path(line, x, y, False)}"/>'
    )


def _markers(markers: Sequence[Marker], x: _Scale, height: int) -> list[str]:
    parts = []
    for m in markers:
        px, hexcolor = x(m.t), MARKER_HEX.get(m.kind, "#475569")
        parts.append(
            f'<g class="marker {escape(m.kind)}"><line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" '
            f'y2="{height - BOTTOM}" stroke="{hexcolor}" stroke-width="1.5" '
            f'stroke-dasharray="4 2"/><text x="{px + 2:.1f}" y="{TOP - 6}" fill="{hexcolor}" '
            f'font-size="11">{m.number or ""} {escape(m.kind)}</text>'
            f"<title>{escape(m.label)}</title></g>"
        )
    return parts


def _dots(dots: Sequence[Dot], x: _Scale, height: int) -> list[str]:
    lane = height - BOTTOM - 6
    return [
        f'<circle class="verdict" cx="{x(d.t):.1f}" cy="{lane}" r="4" '
        f'fill="{VERDICT_HEX.get(d.verdict, "#475569")}"><title>{escape(d.label)}</title></circle>'
        for d in dots
    ]


STYLE = """
 svg.chart { display: block; margin: 0 0 1.2em 0; background: #fafafa;
             font: 11px system-ui, sans-serif; }
 svg.chart .axis { stroke: #333; } svg.chart .grid { stroke: #e5e7eb; }
 svg.chart .ytick, svg.chart .xtick, svg.chart .xlabel { fill: #333; }
"""
"""The CSS the charts need, for the page's <style>."""
