"""The config rollback figure from literal timings (no server)."""

from __future__ import annotations

from benchmarks.config_rollback import rollback_figure


def test_median_undo_against_the_target_with_apply_as_baseline() -> None:
    figure = rollback_figure([0.2, 0.4, 0.3], [0.1, 0.5, 0.2], 300, {"runs": 3})
    payload = figure.as_json()
    assert (payload["value"], payload["baseline"], payload["pass"]) == (0.2, 0.3, True)
    assert payload["details"]["max_undo_seconds"] == 0.5
    assert "300 s target" in payload["comparison"]


def test_a_rollback_slower_than_the_target_fails() -> None:
    assert not rollback_figure([1.0], [301.0], 300, {}).passed


def test_no_measurement_is_no_pass() -> None:
    figure = rollback_figure([], [], 300, {})
    assert figure.value is None and not figure.passed
