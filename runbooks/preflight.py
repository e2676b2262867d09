"""Checks made before a release is recorded: its data, its configuration, its migration.

A release that fails one of these changes nothing: no journal entry, no lock left behind.
"""

from __future__ import annotations

import time

from runbooks.core.model import Sample, Target
from runbooks.core.plan import ReleasePlan
from runbooks.journal.base import Journal, ReleaseRecord
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
    from runbooks.steps.stack_options import migrations_dir

    checked(
        migrations_dir(),
        request.migration or request.version,
        settings.database.postgres_version,
    )


def revertible(journal: Journal, stack: str, service: str) -> tuple[ReleaseRecord, ReleasePlan]:
    """The service's latest release and its plan, if a rollback of it as a new release can
    run: it was promoted and ran no contract. BadInput saying why not otherwise."""
    from runbooks.core.state import Outcome
    from runbooks.engine import snapshot

    latest = journal.latest(stack, service)
    shot = snapshot(journal, latest.id) if latest is not None else None
    if latest is None or shot is None or latest.outcome != Outcome.PROMOTED.value:
        outcome = latest.outcome if latest is not None else "none"
        raise BadInput(
            f"nothing to roll back: no release of {service} is in progress and the latest "
            f"was not promoted (outcome: {outcome})",
            hint="`runbook history` lists the releases",
        )
    plan = shot.state.plan
    if shot.state.contracted_steps:
        raise BadInput(
            f"release {latest.id} ran the contract of {', '.join(shot.state.contracted_steps)}: "
            f"{plan.old_version} may not work on the contracted schema, so traffic stays",
            hint="release a fix forward; as a last resort `runbook db restore --backup-id ID` "
            "(it reports the rows it would lose first)",
        )
    return latest, plan


def nothing_unfinished(journal: Journal, request: Request) -> None:
    """BadInput when the service already has a release in progress on the stack."""
    if journal.current(request.stack, request.service) is not None:
        raise BadInput(
            f"a release of {request.service} on {request.stack} is unfinished",
            hint=f"`runbook status -s {request.stack} --service {request.service}`, then "
            f"`runbook resume -s {request.stack} --service {request.service}` or "
            f"`runbook rollback -s {request.stack} --service {request.service}`",
        )
