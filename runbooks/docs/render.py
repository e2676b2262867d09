"""Render a stack's on-call runbook, and find the rendered runbooks that are stale.

`render(stack)` loads the stack file (`stackspec.stackfile.load_stack`, so a bad file is
the usual StackFileError, exit 2) and fills `templates/runbook.md.j2` with `facts(...)`:
the stack's names (services, namespace, router, metrics provider, journal and state dirs),
its policy values, the release steps' undos, the exit codes from `ExitCode` and, on aws
stacks, the RDS snapshot restore plan of `runbooks.migrations.rds_snapshot` with the
writer's real identifier. The output depends on nothing but the stack file and the
templates (no clock, no host, no absolute path), so rendering twice gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from stackspec.errors import ExitCode
from stackspec.model import EnvRef, SecretRef, StackSettings, Substrate
from stackspec.stackfile import PROJECT_ROOT, load_stack, stack_path

DOCS_DIR = PROJECT_ROOT / "docs" / "runbooks"
TEMPLATES = Path(__file__).parent / "templates"
BACKUP_PLACEHOLDER = "<backup-id>"

# What undoing each release step does (summaries of the steps' own docstrings in
# runbooks/steps/; a unit test checks every registered step has one).
UNDO: dict[str, str] = {
    "db-migration": "runs the migration's declared revert, which drops only what the "
    "expand added: every row written by either color is kept. A contracted migration "
    "cannot be reverted (the undo fails, saying so): fix forward, or restore a backup.",
    "cache-bump": "puts the previous cache key version back, only if the key still holds "
    "the one the release wrote (a later bump by someone else is never clobbered).",
    "config": "gives the new color back the old color's configuration version "
    "(read from the journal; safe to repeat).",
    "edge-purge": "purges the edge cache again, so no page the new version cached is served.",
    "nop": "nothing.",
}

# How each traffic router moves requests (from runbooks/routers/*.py).
ROUTERS: dict[str, str] = {
    "haproxy": "HAProxy's runtime API: backend `be_<service>`, servers `blue` and `green`; "
    "a color at 0 is drained, so in-flight requests finish",
    "kubernetes": "the Gateway API: HTTPRoute `<service>` weighs backendRefs "
    "`<service>-blue` / `<service>-green`; the Service `<service>` follows the color at 100",
    "aws-alb": "the ALB listener of each service forwards to its blue and green target "
    "groups with weights, changed in one call and read back",
    "nop": "nothing moves traffic (a stack without a router)",
    "kafka-partitions": "consumer services: the new color's share of each topic's partitions, "
    "handed over in two phases through the shared offset group (Redis record "
    "`runbook:partitions:<service>`); nothing is owned by two colors",
}


@dataclass(frozen=True)
class Threshold:
    """One policy value as on-call staff read it: its stack-file key, value and meaning."""

    key: str
    value: str
    meaning: str


def number(value: float | int | None) -> str:
    """A policy number as a person writes it: `5`, `0.1`, `2.5`; `null` for None."""
    return "null" if value is None else f"{value:g}"


def duration(seconds: float) -> str:
    """`45 s`, `10 min`, `1 h 30 min` (whole seconds above a minute are kept)."""
    whole = int(seconds)
    if seconds < 60 or whole % 60:
        return f"{number(seconds)} s"
    minutes = whole // 60
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def thresholds(settings: StackSettings) -> list[Threshold]:
    """The policy's judging and rollback values with what each means, in this stack."""
    policy = settings.rollout
    t = policy.thresholds
    interval = duration(policy.analysis_interval_seconds)
    rows = [
        ("rollout.analysisIntervalSeconds", interval, "how often both colors are measured"),
        (
            "rollout.thresholds.errorRateIncreasePp",
            f"{number(t.error_rate_increase_pp)} pp",
            "the new color's error rate may exceed the old color's by less than this",
        ),
        (
            "rollout.thresholds.p95LatencyIncreasePercent",
            f"{number(t.p95_latency_increase_percent)} %",
            "the new color's p95 latency may exceed the old color's by less than this",
        ),
        (
            "rollout.thresholds.p95LatencyFloorMs",
            f"{number(t.p95_latency_floor_ms)} ms",
            "latencies under this count as this; both p95s under it: 'not judged'",
        ),
        (
            "rollout.thresholds.availabilityPercent",
            f"{number(t.availability_percent)} %",
            "the new color's share of good requests must stay above this",
        ),
        (
            "rollout.thresholds.minRequests",
            number(t.min_requests),
            "fewer new-color requests in a window: inconclusive, never a pass",
        ),
        (
            "rollout.thresholds.maxConsumerLag",
            f"{number(t.max_consumer_lag)} records",
            "consumers: records behind on the new color's worst partition; above this and the "
            "next row's margin over the old color's lag: fails",
        ),
        (
            "rollout.thresholds.consumerLagIncreasePercent",
            f"{number(t.consumer_lag_increase_percent)} %",
            "consumers: the new color's lag must also be this much above the old color's to fail "
            "(both behind: the stream, not the release)",
        ),
        (
            "rollout.thresholds.confidencePercent",
            f"{number(t.confidence_percent)} %",
            "how sure a test must be of a regression before a window fails",
        ),
        (
            "rollout.failureLimit",
            number(policy.failure_limit),
            "more failed windows than this: rolled back at once",
        ),
        (
            "rollout.consecutiveErrorLimit",
            number(policy.consecutive_error_limit),
            "more measurement errors in a row (metrics down): rolled back",
        ),
        (
            "rollout.inconclusiveLimit",
            number(policy.inconclusive_limit),
            "more inconclusive windows than this: paused for a human",
        ),
        (
            "rollout.consecutiveSuccessLimit",
            number(policy.consecutive_success_limit),
            "a step ends only on this many good windows in a row",
        ),
        (
            "rollout.scaleDownDelaySeconds",
            duration(policy.scale_down_delay_seconds),
            "after promotion the old color stays warm this long: a rollback is a weight change",
        ),
        (
            "rollout.manualPromotion",
            "yes" if policy.manual_promotion else "no",
            "the release waits before its last step for `runbook promote`",
        ),
    ]
    return [Threshold(*row) for row in rows]


def exit_codes() -> list[dict[str, Any]]:
    """Every ExitCode with its meaning, as `runbook --help` shows them."""
    return [{"code": code.value, "name": code.name, "meaning": code.meaning} for code in ExitCode]


def notifications(settings: StackSettings) -> str:
    """Where release events go, naming the secret's source but never its value."""
    hook = settings.notifications.webhook_url
    if isinstance(hook, EnvRef):
        return f"a webhook whose URL is read from the environment variable `{hook.env}`"
    if isinstance(hook, SecretRef):
        return "a webhook whose URL is a Pulumi secret of the stack"
    return "no webhook (`notifications.webhookUrl` is not set): watch `runbook status`"


def rds_writer(stack: str, settings: StackSettings) -> str | None:
    """The RDS writer's identifier on an aws stack (as infra.database names it), else None."""
    if settings.substrate is not Substrate.AWS:
        return None
    from infra.database import instance_identifier  # imports pulumi_aws: aws stacks only

    return instance_identifier(stack, settings.database.name, "writer")


def rds_restore_plan(writer: str | None, settings: StackSettings) -> str | None:
    """The operator's steps to restore an RDS snapshot of `writer`, with real names."""
    if writer is None or settings.aws is None:
        return None
    from runbooks.migrations.rds_snapshot import RdsSnapshots

    # restore_plan only formats text: no AWS client is built or called.
    snapshots = RdsSnapshots(writer, settings.aws.region, client=object())
    return snapshots.restore_plan(BACKUP_PLACEHOLDER)


def facts(stack: str, settings: StackSettings) -> dict[str, Any]:
    """Everything the templates show about `stack`."""
    policy = settings.rollout
    promotion = getattr(settings, "promotion", None)  # set by stacks that require evidence
    writer = rds_writer(stack, settings)
    return {
        "stack": stack,
        "stack_file": f"stacks/{stack_path(stack).name}",
        "settings": settings,
        "substrate": settings.substrate.value,
        "services": settings.services,
        "example": settings.services[0].name,
        "namespace": settings.kubernetes.namespace if settings.kubernetes else None,
        "router": settings.router,
        "router_does": ROUTERS.get(settings.router, settings.router),
        "metrics": policy.metrics,
        "journal_dir": f".runbook/{stack}/",
        "state_dir": settings.local.state_dir if settings.local else None,
        "region": settings.aws.region if settings.aws else None,
        "steps": policy.steps,
        "thresholds": thresholds(settings),
        "targets": policy.rollback_targets,
        "undo": UNDO,
        "contract_after": policy.migrations.contract_after_seconds,
        "exit_codes": exit_codes(),
        "notifications": notifications(settings),
        "rds_writer": writer,
        "rds_plan": rds_restore_plan(writer, settings),
        "promotion": promotion,
    }


def environment() -> jinja2.Environment:
    """The templates' environment: strict (an unknown name is an error), Markdown output."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = number
    env.filters["duration"] = duration
    return env


def render(stack: str, stacks_dir: Path | None = None) -> str:
    """The on-call runbook of `stack`, as Markdown. Raises StackFileError for a bad file."""
    settings = load_stack(stack, stacks_dir)
    return environment().get_template("runbook.md.j2").render(facts(stack, settings))


def stack_names(stacks_dir: Path | None = None) -> list[str]:
    """Every stack with a file in the stacks directory, sorted."""
    folder = stack_path("x", stacks_dir).parent
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in folder.glob("Pulumi.*.yaml")
    )


def stale(stacks: list[str], out_dir: Path, stacks_dir: Path | None = None) -> list[Path]:
    """The runbooks under `out_dir` that differ from what `stacks` render now (a missing
    one included), and, when every stack is checked, runbooks of stacks that no longer exist."""
    found = [
        out_dir / f"{stack}.md"
        for stack in stacks
        if _read(out_dir / f"{stack}.md") != render(stack, stacks_dir)
    ]
    if set(stacks) == set(stack_names(stacks_dir)):
        found += sorted(p for p in out_dir.glob("*.md") if p.stem not in stacks)
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
