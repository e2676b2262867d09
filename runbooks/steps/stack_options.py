"""How each release step is built for a stack: its options from the settings and outputs.

A step's options are what it reaches (endpoints) and how it behaves (the policy); the
release's own values (`migration`, `config_version`) are added when it runs. What exists is
read from the stack's outputs, never from its substrate: a stack whose outputs carry
`local.edgeUrl` is purged through Varnish, one with `edge.distributionId` through CloudFront;
one with `database.writerIdentifier` (an RDS writer) is backed up by an RDS snapshot.
Secrets the outputs must not hold (a cloud database's DSN, a Redis URL with its token) come
from the operator's environment: RUNBOOK_DATABASE_DSN, RUNBOOK_REDIS_URL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from runbooks.outputs import StackOutputs
from runbooks.steps.base import ReleaseStep, StepContext, StepOutcome
from stackspec.errors import BadInput
from stackspec.model import StackSettings
from stackspec.stackfile import PROJECT_ROOT

Options = dict[str, Any]


class Configured:
    """A release step with the options its stack gave it (the release's own are added)."""

    def __init__(self, step: ReleaseStep, options: Mapping[str, Any]) -> None:
        self.step = step
        self.options = dict(options)
        self.name = step.name

    def apply(self, ctx: StepContext) -> StepOutcome:
        """The step's apply, with the stack's options."""
        return self.step.apply(self._with_options(ctx))

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """The step's undo, with the stack's options."""
        return self.step.undo(self._with_options(ctx), applied)

    def verify(self, ctx: StepContext) -> StepOutcome:
        """The step's verify, with the stack's options."""
        return self.step.verify(self._with_options(ctx))

    def contract(self, ctx: StepContext) -> StepOutcome:
        """The step's contract, with the stack's options."""
        return self.step.contract(self._with_options(ctx))

    def _with_options(self, ctx: StepContext) -> StepContext:
        return replace(ctx, options={**self.options, **ctx.options})


def migrations_dir() -> Path:
    """Where the migrations live: `$RUNBOOK_MIGRATIONS_DIR`, else the project's migrations/."""
    return Path(os.environ.get("RUNBOOK_MIGRATIONS_DIR") or PROJECT_ROOT / "migrations")


def database_options(settings: StackSettings, outputs: StackOutputs) -> Options:
    """db-migration: the database, the migrations, the policy's timeouts, where backups go."""
    policy = settings.rollout.migrations
    state_dir = outputs.get("local.stateDir")
    backups = os.environ.get("RUNBOOK_BACKUP_DIR") or str(PROJECT_ROOT / ".runbook" / "backups")
    return {
        "migrations_dir": str(migrations_dir()),
        "pg_version": settings.database.postgres_version,
        "lock_timeout_seconds": policy.lock_timeout_seconds,
        "lock_retries": policy.lock_retries,
        "statement_timeout_seconds": policy.statement_timeout_seconds,
        "postgres_dsn": outputs.get("local.postgresDsn") or os.environ.get("RUNBOOK_DATABASE_DSN"),
        "backup_dir": str(Path(state_dir) / "backups") if state_dir else backups,
    } | backup_options(settings, outputs)


def backup_options(settings: StackSettings, outputs: StackOutputs) -> Options:
    """An RDS snapshot of the writer when the stack has one (`database.writerIdentifier`,
    aws stacks), a pg_dump otherwise."""
    writer = outputs.get("database.writerIdentifier")
    if not writer:
        return {"backup_backend": "pg_dump"}
    if settings.aws is None:
        raise BadInput(
            f"stack '{outputs.stack}' has an RDS writer ({writer}) but no aws section",
            hint="set aws.region in the stack file (the region the RDS snapshot is taken in)",
        )
    return {
        "backup_backend": "rds-snapshot",
        "rds_instance_id": writer,
        "aws_region": settings.aws.region,
    }


def cache_options(settings: StackSettings, outputs: StackOutputs) -> Options:
    """cache-bump: the Redis the services read."""
    return {"redis_url": outputs.get("local.redisUrl") or os.environ.get("RUNBOOK_REDIS_URL")}


def config_options(settings: StackSettings, outputs: StackOutputs) -> Options:
    """config: the file each local color loads, or the ConfigMap each Deployment mounts."""
    state_dir = outputs.get("local.stateDir")
    if state_dir:
        return {"config_backend": "local", "local_state_dir": state_dir}
    cluster = settings.kubernetes
    return {
        "config_backend": "kubernetes",
        "kubernetes_namespace": cluster.namespace if cluster else "trading",
        "kubernetes_context": cluster.context if cluster else None,
    }


def edge_options(settings: StackSettings, outputs: StackOutputs) -> Options:
    """edge-purge: Varnish at `local.edgeUrl`, else CloudFront `edge.distributionId`."""
    edge_url = outputs.get("local.edgeUrl")
    if edge_url:
        return {"edge_backend": "varnish", "edge_url": edge_url}
    return {
        "edge_backend": "cloudfront",
        "cloudfront_distribution_id": outputs.get("edge.distributionId"),
        # CloudFront is global; its API is served from us-east-1 whatever the stack's region.
        "aws_region": "us-east-1",
    }


OPTIONS: dict[str, Callable[[StackSettings, StackOutputs], Options]] = {
    "db-migration": database_options,
    "cache-bump": cache_options,
    "config": config_options,
    "edge-purge": edge_options,
}
# The option each step cannot run without, and how an operator supplies it.
REQUIRED: dict[str, tuple[str, str]] = {
    "db-migration": ("postgres_dsn", "export RUNBOOK_DATABASE_DSN=postgresql://... (a secret)"),
    "cache-bump": ("redis_url", "export RUNBOOK_REDIS_URL=rediss://... (a secret)"),
}
REQUIRED_BY_BACKEND: dict[str, tuple[str, str]] = {
    "varnish": ("edge_url", "bring the local stack up (output local.edgeUrl)"),
    "cloudfront": ("cloudfront_distribution_id", "enable the edge and deploy the stack"),
}


def step_options(settings: StackSettings, outputs: StackOutputs) -> Options:
    """Every step's options in one mapping (for the `runbook db` verbs and benchmarks)."""
    merged: Options = {}
    for build in OPTIONS.values():
        merged |= build(settings, outputs)
    return merged


def configured(
    name: str, step: ReleaseStep
) -> Callable[[StackSettings, StackOutputs], ReleaseStep]:
    """The `from_stack` factory of step `name`: BadInput when a required option is missing."""

    def from_stack(settings: StackSettings, outputs: StackOutputs) -> ReleaseStep:
        build = OPTIONS.get(name)
        options = build(settings, outputs) if build is not None else {}
        backend = options.get("edge_backend", "")
        key, how = REQUIRED.get(name) or REQUIRED_BY_BACKEND.get(backend, ("", ""))
        if key and not options.get(key):
            raise BadInput(
                f"release step {name} needs {key}, which stack '{outputs.stack}' does not give",
                hint=how,
            )
        return Configured(step, options)

    return from_stack
