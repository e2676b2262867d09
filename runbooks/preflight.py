"""Checks made before a release is recorded: its data, its configuration, its migration.

A release that fails one of these changes nothing: no journal entry, no lock left behind.
"""

from __future__ import annotations

import time
from pathlib import Path

from runbooks.core.model import Sample, Target
from runbooks.core.plan import ReleasePlan
from runbooks.performer import Backends
from runbooks.session import Request
from stackspec.errors import BadInput, RunbookError
from stackspec.model import StackSettings

PREFLIGHT_SECONDS = (5.0, 30.0)  # how long the preflight may wait for data: bounds


def preflight(
    backends: Backends,
    settings: StackSettings,
    plan: ReleasePlan,
    poll_seconds: float = 1.0,
    patience_seconds: float | None = None,
) -> float:
    """The old color's request rate, measured now; RunbookError (exit 1, nothing recorded)
    when the metrics provider cannot measure it: a release is never judged without data.

    A provider that just started (no scrape yet) gets a few intervals (5 to 30 s) to answer.
    """
    window = max(plan.analysis_interval_seconds, settings.rollout.metrics.min_window_seconds)
    target = Target(plan.service, plan.old_color, plan.old_version)
    low, high = PREFLIGHT_SECONDS
    patience = min(high, max(low, 3 * plan.analysis_interval_seconds))
    deadline = time.monotonic() + (patience if patience_seconds is None else patience_seconds)
    while True:
        sample = backends.metrics.sample(target, window)
        problem = _unmeasured(sample, plan)
        if problem is None:
            return sample.total_requests / window
        if time.monotonic() >= deadline:
            raise RunbookError(
                problem,
                hint="fix the provider (rollout.metrics) first: no release is judged without data",
            )
        time.sleep(poll_seconds)


def _unmeasured(sample: Sample, plan: ReleasePlan) -> str | None:
    what = f"{plan.service} {plan.old_color} {plan.old_version}"
    if sample.error is not None:
        return f"the metrics provider cannot measure {what}: {sample.error}"
    if not sample.has_series:
        return f"the metrics provider has no series for {what}"
    return None


def release_config_version(request: Request) -> int | None:
    """The configuration version the release gives the new color: the one asked for, else
    the newest file; None without a config step. BadInput (nothing recorded) for a missing or
    invalid file, or a version asked for without the step."""
    if "config" not in request.steps:
        if request.config_version is not None:
            raise BadInput("--config-version needs --step config", hint="add --step config")
        return None
    from runbooks.config import files

    version = request.config_version or files.newest(request.service)
    files.load_version(request.service, version)  # ConfigFileError names file, key, values
    return version


def check_migration(settings: StackSettings, request: Request) -> None:
    """BadInput (nothing recorded) for a --migration without db-migration, or a migration
    that is unknown, outside migrations/, not additive, without a matching revert, or
    refused by the lint."""
    if "db-migration" not in request.steps:
        if request.migration is not None:
            raise BadInput("--migration needs --step db-migration", hint="add --step db-migration")
        return
    from runbooks.migrations.operations import checked
    from runbooks.outputs import StackOutputs
    from runbooks.steps.stack_options import database_options

    options = database_options(settings, StackOutputs(request.stack, {}, "no outputs"))
    checked(
        Path(options["migrations_dir"]),
        request.migration or request.version,
        settings.database.postgres_version,
    )
