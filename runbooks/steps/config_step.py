"""Release step `config`: the new color runs the release's configuration version.

`apply` reads which version the old color runs now, gives the new color the release's
version (local: file + SIGHUP; Kubernetes: the version's ConfigMap, see
`runbooks.config.targets`) and journals both; `undo` gives the new color back the old
color's version, read from the journaled data, so another process can undo after a crash.
Undo is idempotent: giving a color the version it already runs changes nothing. A crash
before `apply` was journaled leaves no data: `undo` then reads the old color's version live.

Options (StepContext.options):
- `config_version`: the version the release carries; default the newest `v<N>.yaml`;
- `config_dir`: where `<service>/v<N>.yaml` live; default `$RUNBOOK_CONFIG_DIR` or config/;
- `config_backend`: "local" (default) or "kubernetes";
- `local_state_dir` (local, required): the local stack's state dir (pids.json, config/);
- `kubernetes_namespace` (kubernetes): default "trading"; `kubernetes_context`: the
  kubeconfig context (default: the current one);
- `config_timeout_seconds`: how long a color may take to report the version; default 30
  (local) or 240 (kubernetes), well inside the 300 s rollback target.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from runbooks.config import files
from runbooks.config.registry import SCHEMAS
from runbooks.config.targets import ConfigTarget, KubernetesTarget, LocalTarget
from runbooks.steps.base import StepContext, StepOutcome
from stackspec.errors import BadInput, RunbookError
from stackspec.model import Color

# Expected failures, reported as ok=False: a bad or missing file, a process that refused
# the file or did not answer in time, an API that said no.
_ERRORS: tuple[type[Exception], ...] = (RunbookError, httpx.HTTPError, OSError, ValueError)


class ConfigStep:
    """Gives the new color the release's configuration; undo gives it the old color's."""

    name = "config"

    def __init__(self, target: Callable[[StepContext], ConfigTarget] | None = None) -> None:
        """`target` builds the substrate's ConfigTarget; default: from the options."""
        self._target = target or target_for

    def apply(self, ctx: StepContext) -> StepOutcome:
        """Data: service, color, version, restore_version (the old color's), replaced_version."""
        try:
            target = self._target(ctx)
            root = _root(ctx)
            version = int(ctx.option("config_version") or files.newest(ctx.service, root))
            files.load_version(ctx.service, version, root)  # refuse a bad file before acting
            restore = target.running(ctx.old_color)
            replaced = target.running(ctx.new_color)
        except _ERRORS as err:
            return StepOutcome.failure(self.name, f"{ctx.service}: nothing changed: {err}")
        if restore is None:
            return StepOutcome.failure(
                self.name,
                f"{ctx.service}: cannot tell which configuration {ctx.old_color} runs, so a "
                f"rollback could not restore it; {ctx.new_color} left as is",
            )
        data = {
            "service": ctx.service,
            "color": ctx.new_color.value,
            "version": version,
            "restore_version": restore,
            "replaced_version": replaced,
        }
        try:
            done = target.give(ctx.new_color, version)
        except _ERRORS as err:
            return StepOutcome.failure(self.name, f"{ctx.service}: {err}", **data)
        return StepOutcome.success(self.name, f"{done} ({ctx.old_color} runs v{restore})", **data)

    def undo(self, ctx: StepContext, applied: StepOutcome) -> StepOutcome:
        """Give the new color `restore_version` again (read live if apply left no data)."""
        color = Color(applied.data.get("color", ctx.new_color.value))
        try:
            target = self._target(ctx)
            restore = applied.data.get("restore_version") or target.running(color.other)
            if restore is None:
                return StepOutcome.failure(
                    self.name, f"{ctx.service}: no version to restore {color} to"
                )
            done = target.give(color, int(restore))
        except _ERRORS as err:
            return StepOutcome.failure(self.name, f"{ctx.service}: undo failed: {err}")
        return StepOutcome.success(self.name, done, color=color.value, version=int(restore))

    def verify(self, ctx: StepContext) -> StepOutcome:
        """The new color runs a valid configuration version and reports it."""
        try:
            running = self._target(ctx).running(ctx.new_color)
        except _ERRORS as err:
            return StepOutcome.failure(self.name, f"{ctx.service}: {err}")
        if running is None:
            return StepOutcome.failure(
                self.name, f"{ctx.service} {ctx.new_color} reports no configuration version"
            )
        return StepOutcome.success(
            self.name, f"{ctx.service} {ctx.new_color} runs v{running}", version=running
        )

    def contract(self, ctx: StepContext) -> StepOutcome:
        """Nothing to clean up: every version's file (and ConfigMap) is kept for rollback."""
        return StepOutcome.success(self.name, "nothing to contract")


def _root(ctx: StepContext) -> Path | None:
    value = ctx.option("config_dir")
    return Path(value) if value else None


def target_for(ctx: StepContext) -> ConfigTarget:
    """The ConfigTarget `ctx.options` name (`config_backend`); BadInput if it cannot be."""
    if ctx.service not in SCHEMAS:
        raise BadInput(f"service '{ctx.service}' has no versioned configuration")
    backend = ctx.option("config_backend", "local")
    if backend == "local":
        state = ctx.option("local_state_dir")
        if not state:
            raise BadInput("option local_state_dir is not set")
        timeout = float(ctx.option("config_timeout_seconds", 30))
        return LocalTarget(Path(state), ctx.service, timeout, _root(ctx))
    if backend == "kubernetes":
        namespace = ctx.option("kubernetes_namespace", "trading")
        timeout = float(ctx.option("config_timeout_seconds", 240))
        context = ctx.option("kubernetes_context")
        return KubernetesTarget(namespace, ctx.service, timeout, context=context)
    raise BadInput(f"unknown config_backend '{backend}'; choose local or kubernetes")
