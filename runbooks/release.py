"""Starting, resuming and rolling back a release: the wiring of settings to backends.

Everything here is chosen by the stack's settings: the router (`rollout.router` or the
substrate's default), the metric provider (`rollout.metrics`), the stack driver, the
notifier (the webhook secret resolved by the driver) and the journal (SQLite under the
runbook state dir, or PostgreSQL when `RUNBOOK_JOURNAL_DSN` is set).
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from infra.settings import Color, Service, StackSettings, Substrate
from infra.stackfile import PROJECT_ROOT, load_stack
from runbooks.core.budget import StepBudget, detection_budget
from runbooks.core.model import Sample, Target
from runbooks.core.plan import ReleasePlan, build_plan
from runbooks.core.state import Action, Outcome, ReleasePhase, ReleaseState
from runbooks.drivers.local import apply_state, load_state
from runbooks.drivers.registry import DRIVERS, driver_for
from runbooks.engine import Clock, Engine, applied_outcome, snapshot
from runbooks.errors import BadInput, RunbookError
from runbooks.journal.base import Journal, LockLease, ReleaseRecord
from runbooks.journal.registry import JOURNALS
from runbooks.kafka_client import security_of
from runbooks.metrics.registry import METRICS
from runbooks.notifiers.base import EventKind, ReleaseEvent
from runbooks.notifiers.registry import notifier_for
from runbooks.performer import Backends, Performer
from runbooks.routers.registry import ROUTERS
from runbooks.steps.base import StepContext
from runbooks.steps.registry import STEPS

DEPLOY_STARTED = "deploy.started"
DEPLOY_DONE = "deploy.done"
DEPLOY_FAILED = "deploy.failed"

OnTurn = Callable[[ReleaseState, Sequence[Action]], None]


_BACKUPS = PROJECT_ROOT / ".runbook" / "backups"
_MIGRATIONS = PROJECT_ROOT / "migrations"


def runbook_state_dir(stack: str) -> Path:
    """Where the journal of `stack` lives: `$RUNBOOK_STATE_DIR/<stack>` or `.runbook/<stack>`."""
    base = os.environ.get("RUNBOOK_STATE_DIR") or str(PROJECT_ROOT / ".runbook")
    return Path(base) / stack


def open_journal(stack: str) -> Journal:
    """The journal of `stack`: PostgreSQL if RUNBOOK_JOURNAL_DSN is set, else SQLite."""
    dsn = os.environ.get("RUNBOOK_JOURNAL_DSN")
    if dsn:
        return JOURNALS.create("postgres", dsn=dsn)
    state_dir = runbook_state_dir(stack)
    state_dir.mkdir(parents=True, exist_ok=True)
    return JOURNALS.create("sqlite", state_dir=state_dir)


def current_settings(stack: str, stacks_dir: Path | None = None) -> StackSettings:
    """The stack's settings with any release state the local driver recorded applied."""
    settings = load_stack(stack, stacks_dir)
    if settings.substrate is Substrate.LOCAL:
        from runbooks.local.endpoints import state_dir_of

        settings = apply_state(settings, load_state(state_dir_of(settings)))
    return settings


def require_service(settings: StackSettings, name: str) -> Service:
    """The service called `name`, or BadInput listing the stack's services."""
    try:
        return settings.service(name)
    except KeyError:
        known = ", ".join(s.name for s in settings.services)
        raise BadInput(f"no service '{name}' in this stack", hint=f"services: {known}") from None


@dataclass(frozen=True)
class Request:
    """What an operator asked for: one service of one stack to one version."""

    stack: str
    service: str
    version: str
    steps: tuple[str, ...] = ()
    faults: dict[str, Any] | None = None
    migration: str | None = None
    config_version: int | None = None


def holder() -> str:
    """Who runs this engine, for the lock and the journal."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def rollout(
    request: Request,
    settings: StackSettings,
    journal: Journal,
    clock: Clock | None = None,
    on_turn: OnTurn | None = None,
    force: bool = False,
    on_budget: Callable[[tuple[StepBudget, ...]], None] | None = None,
) -> tuple[str, Outcome]:
    """Release `request.version` of the service; returns the release id and its outcome.

    Everything that can be checked is checked before the release is recorded: the plan,
    the plug-in names, the lock, no unfinished release, that the router answers, and that
    the metrics provider measures the old color (whose request rate gives the detection
    budget, handed to `on_budget`).
    """
    request = replace(request, config_version=release_config_version(request))
    plan = build_plan(
        settings, request.service, request.version, request.steps, request.config_version
    )
    check_migration(settings, request)
    backends = build_backends(request.stack, settings, request)
    with journal.acquire(request.stack, holder(), force=force):
        if journal.current(request.stack, request.service) is not None:
            raise BadInput(
                f"a release of {request.service} on {request.stack} is unfinished",
                hint="run `runbook status`, then `runbook resume` or `runbook rollback`",
            )
        backends.router.get_weights(request.service)  # reachable, before anything is recorded
        rate = preflight(backends, settings, plan)
        if on_budget is not None:
            on_budget(detection_budget(plan, rate))
        state = ReleaseState(plan)
        release_id = journal.start_release(
            request.stack,
            request.service,
            request.version,
            {
                "state": state.to_dict(),
                "faults": request.faults or {},
                "migration": request.migration,
                "config_version": request.config_version,
            },
        )
        engine = _engine(backends, settings, journal, release_id, request, plan, clock, on_turn)
        failure = _deploy(settings, journal, release_id, request, plan.new_color)
        if failure is not None:
            # Nothing was moved yet: the old color still has every request.
            journal.finish(release_id, Outcome.ROLLED_BACK.value)
            engine.performer.backends.notifier.notify(_event(request, failure))
            return release_id, Outcome.ROLLED_BACK
        return release_id, engine.run(state)


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

    options = step_options(settings)
    checked(
        Path(options["migrations_dir"]),
        request.migration or request.version,
        settings.database.postgres_version,
    )


def _deploy(
    settings: StackSettings, journal: Journal, release_id: str, request: Request, color: Color
) -> str | None:
    """Put the new version on the idle color; the failure message, or None when it is up."""
    what = {"service": request.service, "color": color.value, "version": request.version}
    journal.append(release_id, DEPLOY_STARTED, what)
    try:
        deployer(settings, request)(request.service, color, request.version)
    except RunbookError as err:
        journal.append(release_id, DEPLOY_FAILED, what | {"message": err.message})
        return f"{request.version} did not start on {color}: {err.message}"
    journal.append(release_id, DEPLOY_DONE, what)
    return None


def _event(request: Request, message: str) -> ReleaseEvent:
    return ReleaseEvent(
        EventKind.ROLLED_BACK, request.stack, request.service, request.version, message
    )


def resume(
    stack: str,
    record: ReleaseRecord,
    settings: StackSettings,
    journal: Journal,
    lease: LockLease,
    clock: Clock | None = None,
    on_turn: OnTurn | None = None,
    redeploy: bool = True,
) -> Outcome:
    """Continue an interrupted release from its last journaled decision.

    `lease` is the stack's lock, which the caller must hold for the whole run: taking it is
    the caller's decision (with or without --force), so it is asked for, not taken here.

    A release killed before its new version was up (no `deploy.done`) deploys it again
    first, unless `redeploy` is False (a rollback needs no new version).
    """
    shot = snapshot(journal, record.id)
    state = shot.state if shot else ReleaseState.from_dict(dict(record.plan["state"]))
    request = Request(
        stack,
        record.service,
        record.version,
        state.plan.release_steps,
        dict(record.plan.get("faults") or {}),
        record.plan.get("migration"),
        record.plan.get("config_version"),
    )
    backends = build_backends(stack, settings, request)
    engine = _engine(backends, settings, journal, record.id, request, state.plan, clock, on_turn)
    if redeploy and _needs_deploy(journal, record):
        failure = _deploy(settings, journal, record.id, request, state.plan.new_color)
        if failure is not None:
            journal.finish(record.id, Outcome.ROLLED_BACK.value)
            backends.notifier.notify(_event(request, failure))
            return Outcome.ROLLED_BACK
    return engine.run(state, shot.pending if shot else ())


def _needs_deploy(journal: Journal, record: ReleaseRecord) -> bool:
    """Whether the release's new version never came up (a revert deploys nothing)."""
    if "reverts" in record.plan:
        return False
    return all(e.kind != DEPLOY_DONE for e in journal.events(record.id))


def revert_promoted(
    stack: str,
    service: str,
    settings: StackSettings,
    journal: Journal,
    force: bool,
    on_turn: OnTurn | None = None,
    clock: Clock | None = None,
) -> tuple[Outcome, str]:
    """Roll back the service's latest release, promoted and finished, as a new release.

    The old color was kept running, so this is a weight change first; then the stack
    state names the old color active again and the release steps are undone, newest first,
    from the outcomes journaled by the original release.
    """
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
    state = ReleaseState(
        plan,
        phase=ReleasePhase.ROLLING_BACK,
        step_index=len(plan.steps) - 1,
        applied_steps=plan.release_steps,
        promotion_written=True,
        reason=f"rollback of promoted release {latest.id} requested by {holder()}",
    )
    original = journal.release(latest.id).plan
    migration = original.get("migration")
    request = Request(
        stack,
        service,
        plan.version,
        plan.release_steps,
        migration=migration,
        config_version=original.get("config_version"),
    )
    backends = build_backends(stack, settings, request)
    with journal.acquire(stack, holder(), force=force):
        release_id = journal.start_release(
            stack,
            service,
            plan.old_version,
            {"state": state.to_dict(), "reverts": latest.id, "migration": migration},
        )
        engine = _engine(
            backends,
            settings,
            journal,
            release_id,
            request,
            plan,
            clock,
            on_turn,
            applied_from=latest.id,
        )
        return engine.run(state), release_id


def _engine(
    backends: Backends,
    settings: StackSettings,
    journal: Journal,
    release_id: str,
    request: Request,
    plan: ReleasePlan,
    clock: Clock | None,
    on_turn: OnTurn | None,
    applied_from: str | None = None,
) -> Engine:
    new_color = plan.new_color
    context = StepContext(
        stack=request.stack,
        service=request.service,
        version=request.version,
        old_color=new_color.other,
        new_color=new_color,
        options=step_options(settings)
        | {"migration": request.migration, "config_version": request.config_version},
    )
    applied = applied_outcome(journal, applied_from or release_id)
    versions = {plan.old_color: plan.old_version, plan.new_color: plan.version}
    performer = Performer(backends, context, applied, versions)
    return Engine(journal, release_id, performer, clock, on_turn)


def build_backends(stack: str, settings: StackSettings, request: Request) -> Backends:
    """The router, metrics, driver, notifier and release steps the stack's settings name."""
    driver = DRIVERS.create(driver_for(settings), stack=stack, settings=settings)
    ref = settings.notifications.webhook_url
    notifier = notifier_for(driver.resolve_secret(ref) if ref else None)
    steps = {name: STEPS.create(name) for name in request.steps}
    return Backends(
        router=ROUTERS.create(settings.router, **router_options(settings)),
        metrics=METRICS.create(settings.rollout.metrics.provider, **metric_options(settings)),
        driver=driver,
        notifier=notifier,
        steps=steps,
    )


def router_options(settings: StackSettings) -> dict[str, Any]:
    """Keyword options of the stack's router."""
    if settings.router == "haproxy" and settings.substrate is Substrate.LOCAL:
        return {"socket_path": _local(settings).admin_socket}
    if settings.router == "kubernetes" and settings.kubernetes is not None:
        return {"namespace": settings.kubernetes.namespace}
    return {}


def metric_options(settings: StackSettings) -> dict[str, Any]:
    """Keyword options of the stack's metric provider."""
    metrics = settings.rollout.metrics
    if metrics.provider == "prometheus":
        url = metrics.url or (
            _local(settings).prometheus_url if settings.substrate is Substrate.LOCAL else None
        )
        if url is None:
            raise BadInput(
                "rollout.metrics.url is required for the prometheus provider",
                hint="set trading-platform:rollout.metrics.url in the stack file",
            )
        return {
            "url": url,
            "queries": metrics.queries,
            "min_window_seconds": metrics.min_window_seconds,
        }
    if metrics.provider == "haproxy" and settings.substrate is Substrate.LOCAL:
        return {"socket_path": _local(settings).admin_socket}
    return {"url": metrics.url} if metrics.url else {}


def step_options(settings: StackSettings) -> dict[str, Any]:
    """Endpoints and options the release steps read (local stack: its servers)."""
    policy = settings.rollout.migrations
    migrations = {
        "migrations_dir": os.environ.get("RUNBOOK_MIGRATIONS_DIR") or str(_MIGRATIONS),
        "pg_version": settings.database.postgres_version,
        "lock_timeout_seconds": policy.lock_timeout_seconds,
        "lock_retries": policy.lock_retries,
        "statement_timeout_seconds": policy.statement_timeout_seconds,
    }
    if settings.substrate is not Substrate.LOCAL:
        namespace = settings.kubernetes.namespace if settings.kubernetes else "trading"
        return migrations | {
            # The database of a cloud stack is reached through a DSN the operator provides.
            "postgres_dsn": os.environ.get("RUNBOOK_DATABASE_DSN"),
            # The brokers (stack output streaming.bootstrapBrokers) likewise; on aws stacks
            # the canary signs in with MSK IAM as the operator's AWS identity.
            "bootstrap_servers": os.environ.get("RUNBOOK_KAFKA_BOOTSTRAP"),
            "kafka_security": security_of(str(settings.substrate), settings.streaming.auth),
            "aws_region": settings.aws.region if settings.aws else None,
            "backup_dir": os.environ.get("RUNBOOK_BACKUP_DIR") or str(_BACKUPS),
            "edge_backend": "cloudfront",
            # config step: the ConfigMap each color's Deployment mounts
            "config_backend": "kubernetes",
            "kubernetes_namespace": namespace,
        }
    local = _local(settings)
    return migrations | {
        "postgres_dsn": local.postgres_dsn,
        "redis_url": local.redis_url,
        "edge_url": local.edge_url,
        "edge_backend": "varnish",
        "bootstrap_servers": local.bootstrap_servers,
        "backup_dir": str(local.state_dir / "backups"),
        # config step: the file each color loads, and the process to send SIGHUP
        "config_backend": "local",
        "local_state_dir": str(local.state_dir),
    }


def deployer(settings: StackSettings, request: Request) -> Callable[[str, Color, str], None]:
    """How a version is put on the idle color: a process (local) or the stack config."""
    if settings.substrate is not Substrate.LOCAL:
        # Kubernetes stacks: the driver's config write-back declares the version; the
        # Deployment of that color rolls when the stack is next deployed.
        return lambda service, color, version: None
    from runbooks.local.services import deploy_color
    from samples.options import Faults

    faults = Faults(**(request.faults or {}))

    def deploy(service: str, color: Color, version: str) -> None:
        try:
            deploy_color(settings, None, service, color, version, faults)
        except OSError as err:
            raise RunbookError(f"could not start {service} {version} on {color}: {err}") from err

    return deploy


def _local(settings: StackSettings) -> Any:
    from runbooks.local.endpoints import endpoints

    return endpoints(settings)
