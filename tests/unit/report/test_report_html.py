"""`runbook report` renders any release from its journal as one offline HTML page.

Given real journals (engine runs with nop backends), when the report is rendered through
the CLI, then the page has time and value axes with labelled ticks, a line per color,
threshold bands, numbered coloured decision markers and window verdicts, and nothing it
would fetch from a network.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbooks.cli.app import app
from runbooks.journal.sqlite import SqliteJournal
from runbooks.report.chart import Chart, Series, nice_ticks, render, time_label
from tests.unit.report.releases import journal_in, run_release

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteJournal:
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path))
    return journal_in(tmp_path)


def report(release_id: str, out: Path) -> str:
    result = CliRunner().invoke(app, ["report", release_id, "-s", "local", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    return out.read_text()


def test_a_rolled_back_release_has_axes_bands_markers_and_verdicts(
    journal: SqliteJournal, tmp_path: Path
) -> None:
    release_id, _ = run_release(journal, "9.8.0", error_rate=0.3)

    html = report(release_id, tmp_path / "r.html")

    assert html.count("<svg") == 4  # weights, error rate, p95, availability
    assert not EXTERNAL.search(html) and "<script" not in html and "@import" not in html
    assert "http://" not in html and "https://" not in html
    assert "time since the start" in html
    xticks = re.findall(r'class="xtick"[^>]*>([^<]+)<', html)
    assert "0s" in xticks and len(set(xticks)) >= 3
    yticks = re.findall(r'class="ytick"[^>]*>([^<]+)<', html)
    assert {"0%", "100%"} <= set(yticks) and any(t.endswith(" ms") for t in yticks)
    assert 'class="band"' in html  # the error-rate and availability limits
    markers = re.findall(r'<g class="marker ([a-z-]+)">.*?fill="(#[0-9a-f]{6})"', html)
    kinds = {kind for kind, _ in markers}
    assert {"started", "rollback-started", "rolled-back"} <= kinds
    assert len({color for _, color in markers}) >= 2, "decision markers are coloured by kind"
    assert re.search(r">1 started<", html) and re.search(r">\d+ rolled-back<", html)
    assert 'class="verdict"' in html and "#dc2626" in html  # a failed window's dot
    assert "failed" in html and "Failed" not in html and "1.0.0 → 9.8.0" in html and "alice" in html
    assert "what users saw" in html.lower()


def test_a_promoted_release_draws_weights_stepping_to_the_new_color(
    journal: SqliteJournal, tmp_path: Path
) -> None:
    release_id, _ = run_release(journal, "9.9.0")

    html = report(release_id, tmp_path / "p.html")

    weights_svg = html[html.index("<svg") : html.index("</svg>")]
    green = re.search(r'<polyline fill="none" stroke="#16a34a"[^>]*points="([^"]+)"', weights_svg)
    assert green is not None
    ys = [float(p.split(",")[1]) for p in green.group(1).split()]
    assert ys[0] > ys[-1], "green rises from 0% to 100%"
    assert "promoted" in html


def test_an_unknown_release_is_bad_input(journal: SqliteJournal) -> None:
    result = CliRunner().invoke(app, ["report", "20990101T000000-000000", "-s", "local"])
    assert result.exit_code == 2
    assert "no release '20990101T000000-000000'" in result.output
    assert "runbook history -s local" in result.output


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(37)[-1] >= 37 and nice_ticks(0.3)[1] == pytest.approx(0.1)
    assert [time_label(t) for t in (0, 0.4, 45, 90, 3900)] == [
        "0s",
        "0.4s",
        "45s",
        "1m30s",
        "1h05m",
    ]
    short = render(Chart("short", "%", 1.3, (Series("x", "#000", ((0, 1), (1.3, 2))),)))
    labels = re.findall(r'class="xtick"[^>]*>([^<]+)<', short)
    assert len(labels) == len(set(labels)) >= 3, labels


def test_chart_text_is_escaped() -> None:
    svg = render(Chart("<b>x</b>", "%", 10, (Series("<i>", "#000", ((0, 1), (5, 2))),)))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "<i>" not in svg
