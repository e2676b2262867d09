"""Config rollback time: undo of the `config` release step vs the 5-minute target.

Against a running local stack (its settings; the services started by `start_service`, as
the local stack and the integration tests start them), the product's `ConfigStep` applies
a configuration version to the idle color and then undoes it, `runs` times. Each undo is
timed from the call until the process reports the old version again (the step returns only
then). The figure is the median undo time against `rollout.rollbackTargets.configSeconds`;
its baseline, measured in the same run, is the median time to apply.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.figures import Figure
from runbooks.config import files
from runbooks.drivers.registry import open_driver
from runbooks.steps.base import StepContext
from runbooks.steps.config_step import ConfigStep
from runbooks.steps.stack_options import step_options
from stackspec.model import StackSettings

SERVICE = "trading-api"


def measure_config_rollback(
    settings: StackSettings, runs: int = 5, service: str = SERVICE, version: int | None = None
) -> Figure:
    """Apply `version` (default: the newest) to the idle color then undo it, `runs` times.

    Raises RuntimeError when an apply or an undo fails: a rollback that did not happen has
    no time to report.
    """
    svc = settings.service(service)
    target = version or files.newest(service)
    outputs = open_driver("local", settings).read_outputs("local")  # this stack's, not the file's
    ctx = StepContext(
        stack="local",
        service=service,
        version=svc.versions.of(svc.active_color.other),
        old_color=svc.active_color,
        new_color=svc.active_color.other,
        options=step_options(settings, outputs) | {"config_version": target},
    )
    step = ConfigStep()
    applies: list[float] = []
    undos: list[float] = []
    restored_to = None
    for _ in range(runs):
        started = time.perf_counter()
        applied = step.apply(ctx)
        applies.append(time.perf_counter() - started)
        if not applied.ok:
            raise RuntimeError(f"config apply failed: {applied.message}")
        started = time.perf_counter()
        undone = step.undo(ctx, applied)
        undos.append(time.perf_counter() - started)
        if not undone.ok:
            raise RuntimeError(f"config undo failed: {undone.message}")
        restored_to = applied.data["restore_version"]
    details = {
        "service": service,
        "color": ctx.new_color.value,
        "applied_version": target,
        "restored_version": restored_to,
        "runs": runs,
    }
    limit = float(settings.rollout.rollback_targets.config_seconds)
    return rollback_figure(applies, undos, limit, details)


def rollback_figure(
    applies: Sequence[float], undos: Sequence[float], target_seconds: float, details: dict[str, Any]
) -> Figure:
    """Median undo time vs the target, with the median apply time as the baseline."""
    value = round(statistics.median(undos), 4) if undos else None
    baseline = round(statistics.median(applies), 4) if applies else None
    apply_text = "no apply measured" if baseline is None else f"apply {baseline:.3f} s"
    comparison = (
        "no rollback measured"
        if value is None
        else f"median rollback {value:.3f} s ({apply_text}) vs {target_seconds:g} s target"
    )
    return Figure(
        name="config_rollback_seconds",
        value=value,
        unit="seconds",
        baseline=baseline,
        comparison=comparison,
        target=f"< {target_seconds:g} s (rollout.rollbackTargets.configSeconds)",
        passed=value is not None and value < target_seconds,
        details=details
        | {
            "undo_seconds": [round(s, 4) for s in undos],
            "apply_seconds": [round(s, 4) for s in applies],
            "max_undo_seconds": round(max(undos), 4) if undos else None,
        },
    )
