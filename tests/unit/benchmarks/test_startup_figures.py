"""The CLI start figures' arithmetic (benchmarks/startup.py), on literal samples."""

from __future__ import annotations

from benchmarks.startup import COMMANDS, startup_figure


def test_the_figure_is_the_median_against_the_bare_interpreter() -> None:
    figure = startup_figure("runbook --help", [300.0, 900.0, 200.0], 40.0, 500.0, 1.5)
    shown = figure.as_json()
    assert (shown["value"], shown["baseline"], shown["ratio"], shown["pass"]) == (
        300.0,
        40.0,
        7.5,
        True,
    )
    assert shown["details"] == {"runs": 3, "min_ms": 200.0, "max_ms": 900.0, "load_average_1m": 1.5}


def test_a_median_at_the_limit_fails() -> None:
    assert not startup_figure("status", [1000.0], 40.0, 1000.0, 0.1).passed


def test_the_targets_are_the_issues() -> None:
    limits = {name: limit for name, (_args, limit, _code) in COMMANDS.items()}
    assert limits.pop("runbook status -s local") == 1000.0
    assert set(limits.values()) == {500.0}
    assert any(code == 2 for _args, _limit, code in COMMANDS.values())  # refusals measured
