"""`runbook report`: any release, from its journal, as one offline HTML page.

Charts (runbooks.report.chart) over the release's time: the weights per color as verified
live, then what the engine judged in each analysis window: the error rate and p95 latency
of each color (the old color is the baseline the check compares against; the new color's
value is the baseline plus the judged increase, or times the judged ratio) with the limit
as a shaded band, and the new color's availability against its floor. Every announcement
of the engine (step started, paused, rollback started, promoted...) is a numbered,
coloured marker listed under the charts; each window's verdict is a dot on the lane under
the plot. What users saw sits beside it when the caller has it (the rehearsal records
every request); the journal alone does not hold it, and the page says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, select_autoescape

from runbooks.core.analysis import AVAILABILITY, ERROR_RATE, P95_LATENCY
from runbooks.report.chart import (
    COLOR_HEX,
    STYLE,
    Band,
    Chart,
    Dot,
    Marker,
    Series,
    render,
)
from runbooks.report.facts import ReleaseFacts, Window, iso


@dataclass(frozen=True)
class UserPoint:
    """One second of one color's traffic as users saw it (the rehearsal's load)."""

    t: float  # seconds since the release started
    color: str
    error_rate_percent: float
    p95_ms: float | None


@dataclass(frozen=True)
class MemberView:
    """Another service of a release of several: its versions, steps, charts and windows."""

    service: str
    versions: tuple[str, str]
    facts: ReleaseFacts
    charts: list[str]


def render_report(
    facts: ReleaseFacts, users: Sequence[UserPoint] = (), others: Sequence[ReleaseFacts] = ()
) -> str:
    """The report page of one release (`others`: its other services' facts, if several)."""
    env = Environment(loader=PackageLoader("runbooks.report"), autoescape=select_autoescape())
    charts = release_charts(facts)
    members = [
        MemberView(
            str(m.plan.get("service")), m.versions, m, [render(c) for c in release_charts(m)]
        )
        for m in others
    ]
    user_charts = users_charts(facts, users) if users else []
    old, new = facts.versions
    return env.get_template("release.html.j2").render(
        facts=facts,
        record=facts.record,
        old_version=old,
        new_version=new,
        started=iso(facts.record.started_at),
        finished=iso(facts.record.finished_at),
        charts=[render(c) for c in charts],
        user_charts=[render(c) for c in user_charts],
        markers=numbered_markers(facts),
        windows=facts.windows,
        t=lambda at: at - facts.record.started_at,
        iso_at=lambda t: iso(facts.record.started_at + t),
        style=STYLE,
        colors=COLOR_HEX,
        members=members,
    )


def duration_of(facts: ReleaseFacts) -> float:
    """Seconds from the start to the end (or the last event known)."""
    start = facts.record.started_at
    ends = [facts.record.finished_at or start]
    ends += [w.at for w in facts.windows] + [p.at for p in facts.weights]
    ends += [m.at for m in facts.markers]
    return max(1.0, max(ends) - start)


def numbered_markers(facts: ReleaseFacts) -> list[Marker]:
    """The engine's announcements as chart markers, numbered in order."""
    start = facts.record.started_at
    return [
        Marker(m.at - start, m.kind, f"{m.kind}: {m.message}", i + 1)
        for i, m in enumerate(facts.markers)
    ]


def _dots(facts: ReleaseFacts) -> tuple[Dot, ...]:
    start = facts.record.started_at
    return tuple(
        Dot(w.at - start, w.verdict, f"window at {iso(w.at)}, step {w.step + 1}: {w.verdict}")
        for w in facts.windows
    )


def release_charts(facts: ReleaseFacts) -> list[Chart]:
    """Weights, then the error rate, p95 latency and availability the engine judged."""
    duration = duration_of(facts)
    markers, dots = tuple(numbered_markers(facts)), _dots(facts)
    plan = facts.plan
    old_color, new_color = str(plan.get("old_color", "blue")), str(plan.get("new_color", "green"))
    judged = _judged(facts, old_color, new_color)

    def chart(title: str, unit: str, check: str, y_max: float | None, floor: float) -> Chart:
        series, bands = judged[check]
        return Chart(title, unit, duration, series, bands, markers, dots, y_max, floor)

    return [
        Chart(
            "traffic weight per color (verified live)",
            "%",
            duration,
            series=_weight_series(facts),
            markers=markers,
            dots=dots,
            y_max=100,
        ),
        chart("error rate judged by the engine, per window", "%", ERROR_RATE, None, 0.5),
        chart("p95 latency judged by the engine, per window", "ms", P95_LATENCY, None, 5.0),
        chart(f"availability of {new_color} judged by the engine", "%", AVAILABILITY, 100, 1),
    ]


def _weight_series(facts: ReleaseFacts) -> tuple[Series, ...]:
    start = facts.record.started_at
    plan = facts.plan
    old = str(plan.get("old_color", "blue"))
    first = {color: (100.0 if color == old else 0.0) for color in COLOR_HEX}
    return tuple(
        Series(
            f"{color} weight",
            hexcolor,
            (
                (0.0, first[color]),
                *((p.at - start, float(getattr(p, color))) for p in facts.weights),
            ),
            steps=True,
        )
        for color, hexcolor in COLOR_HEX.items()
    )


Judged = dict[str, tuple[tuple[Series, ...], tuple[Band, ...]]]


def _judged(facts: ReleaseFacts, old: str, new: str) -> Judged:
    """Per check: each color's value per window and the limit band, from the checks."""
    start = facts.record.started_at
    rows: dict[str, dict[str, list[tuple[float, float]]]] = {
        name: {"old": [], "new": [], "limit": []}
        for name in (ERROR_RATE, P95_LATENCY, AVAILABILITY)
    }
    for window in facts.windows:
        t = window.at - start
        for name, (base, value, limit) in _values(window).items():
            if base is not None:
                rows[name]["old"].append((t, base))
            if value is not None:
                rows[name]["new"].append((t, value))
            if limit is not None:
                rows[name]["limit"].append((t, limit))
    judged: Judged = {}
    for name, row in rows.items():
        series = (
            Series(f"{old} (baseline)", COLOR_HEX.get(old, "#475569"), tuple(row["old"])),
            Series(f"{new} (new)", COLOR_HEX.get(new, "#475569"), tuple(row["new"])),
        )
        band = Band(
            f"{name}: fails beyond this limit", tuple(row["limit"]), above=name != AVAILABILITY
        )
        judged[name] = (series, (band,) if row["limit"] else ())
    return judged


Values = dict[str, tuple[float | None, float | None, float | None]]


def _values(window: Window) -> Values:
    """(old color's value, new color's value, limit) per check, in the chart's units.

    The analysis journals the new color's figure relative to the baseline: error rate as
    an increase in percentage points over the baseline's rate (%), p95 as a ratio to the
    baseline's p95 (seconds); availability is the new color's own percentage.
    """
    found: Values = {}
    for c in window.checks:
        if c.name == ERROR_RATE and c.baseline is not None:
            value = None if c.value is None else c.baseline + c.value
            limit = None if c.threshold is None else c.baseline + c.threshold
            found[ERROR_RATE] = (c.baseline, value, limit)
        elif c.name == P95_LATENCY and c.baseline is not None:
            base_ms = c.baseline * 1000
            value = None if c.value is None else base_ms * c.value
            limit = None if c.threshold is None else base_ms * c.threshold
            found[P95_LATENCY] = (base_ms, value, limit)
        elif c.name == AVAILABILITY:
            found[AVAILABILITY] = (None, c.value, c.threshold)
    return found


def users_charts(facts: ReleaseFacts, users: Sequence[UserPoint]) -> list[Chart]:
    """What users saw, per second and color: error rate and p95 latency."""
    duration = duration_of(facts)
    markers = tuple(numbered_markers(facts))
    errors = _user_series(users, lambda p: p.error_rate_percent)
    p95 = _user_series(users, lambda p: p.p95_ms)
    return [
        Chart("error rate users saw", "%", duration, errors, markers=markers, y_floor=0.5),
        Chart("p95 latency users saw", "ms", duration, p95, markers=markers, y_floor=5.0),
    ]


def _user_series(
    users: Sequence[UserPoint], pick: Callable[[UserPoint], float | None]
) -> tuple[Series, ...]:
    series = []
    for color, hexcolor in COLOR_HEX.items():
        points = [(p.t, pick(p)) for p in users if p.color == color]
        series.append(Series(color, hexcolor, tuple((t, v) for t, v in points if v is not None)))
    return tuple(series)
