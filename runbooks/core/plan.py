"""The release plan: what a rollout of one service to one version will do, built from the
stack's rollout policy. Pure and frozen; it is carried inside the release state.

Canary: one plan step per policy step (weight to the new color, bake seconds); a policy
step of weight 0 has no analysis (the new color gets no traffic to judge).

Blue-green: two plan steps.
- ``pre-promotion``: the new color is up at 0 % traffic (preview) and baked for the first
  policy step's bake time; its analysis needs only one request (probes or preview traffic
  reach a color without weight), not ``minRequests``.
- ``post-promotion``: every request on the new color, baked for the last policy step's bake
  time and analysed against the last baseline seen with traffic.
Both strategies then keep the old color warm for ``scaleDownDelaySeconds``. Release steps
with a destructive second half (``CONTRACTING``: the database migration's contract) run it
``migrations.contractAfterSeconds`` after promotion, never before the old color is retired;
with that setting null, only by hand (``runbook db contract``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runbooks.core.analysis import Limits
from runbooks.core.model import Weights
from runbooks.partitions import share_problems
from stackspec.errors import BadInput
from stackspec.model import Color, Service, StackSettings, Thresholds
from stackspec.names import version as check_version

__all__ = ["CONTRACTING", "PlanStep", "ReleasePlan", "Strategy", "build_plan"]

# Release steps whose change has a destructive second half, run only after promotion.
CONTRACTING = frozenset({"db-migration"})


class Strategy(StrEnum):
    """How traffic moves to the new color."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"


@dataclass(frozen=True)
class PlanStep:
    """Send `weight` percent to the new color, then bake; `analysed` steps must also pass.

    `min_requests`, when set, replaces the thresholds' minRequests for this step.
    """

    name: str
    weight: int
    bake_seconds: float
    analysed: bool = True
    min_requests: int | None = None


@dataclass(frozen=True)
class ReleasePlan:
    """Everything the state machine needs to know about one release; no I/O handles."""

    service: str
    version: str
    old_version: str
    old_color: Color
    new_color: Color
    strategy: Strategy
    steps: tuple[PlanStep, ...]
    analysis_interval_seconds: float
    limits: Limits
    thresholds: Thresholds
    manual_promotion: bool
    scale_down_delay_seconds: float
    release_steps: tuple[str, ...] = ()
    contract_after_seconds: float | None = None  # None: contract only by hand
    config_version: int | None = None  # the new color's config version, if the release has one
    old_config_version: int | None = None  # the old color's config version then

    @property
    def contract_steps(self) -> tuple[str, ...]:
        """The release steps the engine contracts after promotion, in order of application."""
        if self.contract_after_seconds is None:
            return ()
        return tuple(s for s in self.release_steps if s in CONTRACTING)

    def weights_at(self, percent: int) -> Weights:
        """`percent` of traffic on the new color, the rest on the old one."""
        return Weights.to_new(self.new_color, percent)

    @property
    def old_weights(self) -> Weights:
        """Every request on the old color: the state a rollback restores first."""
        return Weights.all_on(self.old_color)

    def thresholds_for(self, step: PlanStep) -> Thresholds:
        """The thresholds a step is judged by (its own minRequests, if it has one)."""
        if step.min_requests is None:
            return self.thresholds
        return self.thresholds.model_copy(update={"min_requests": step.min_requests})


def build_plan(
    settings: StackSettings,
    service: str,
    version: str,
    release_steps: tuple[str, ...] = (),
    config_version: int | None = None,
) -> ReleasePlan:
    """The plan to release `version` of `service` into its idle color (with configuration
    version `config_version` for the new color, when the release carries one).

    Raises BadInput for an unknown service, a malformed version, the version already active,
    or a release step named twice.
    """
    svc = _service(settings, service)
    check_version(version)
    if version == svc.active_version:
        raise BadInput(
            f"{service} {version} is already active on {svc.active_color}",
            hint="pass the version you want to release",
        )
    if len(set(release_steps)) != len(release_steps):
        raise BadInput(f"release steps repeat a name: {list(release_steps)}", hint="name each once")
    policy = settings.rollout
    strategy = Strategy(policy.strategy)
    steps = _steps(settings, strategy)
    _check_partition_shares(settings, svc, steps)
    return ReleasePlan(
        service=service,
        version=version,
        old_version=svc.active_version,
        old_color=svc.active_color,
        new_color=svc.active_color.other,
        strategy=strategy,
        steps=steps,
        analysis_interval_seconds=policy.analysis_interval_seconds,
        limits=Limits(
            failure_limit=policy.failure_limit,
            consecutive_error_limit=policy.consecutive_error_limit,
            inconclusive_limit=policy.inconclusive_limit,
            consecutive_success_limit=policy.consecutive_success_limit,
        ),
        thresholds=policy.thresholds,
        manual_promotion=policy.manual_promotion,
        scale_down_delay_seconds=policy.scale_down_delay_seconds,
        release_steps=release_steps,
        contract_after_seconds=policy.migrations.contract_after_seconds,
        config_version=config_version,
        old_config_version=svc.config_versions.of(svc.active_color) if config_version else None,
    )


def _service(settings: StackSettings, name: str) -> Service:
    try:
        return settings.service(name)
    except KeyError:
        known = ", ".join(s.name for s in settings.services)
        raise BadInput(f"unknown service '{name}'", hint=f"choose one of: {known}") from None


def _check_partition_shares(
    settings: StackSettings, svc: Service, steps: tuple[PlanStep, ...]
) -> None:
    """A consumer service moves by partitions (runbooks.partitions): BadInput when a topic
    it consumes has too few for every step to move a share of its own."""
    if svc.kind != "consumer":
        return
    declared = {t.name: t.partitions for t in settings.streaming.topics}
    topics = {t: declared[t] for t in svc.consumes if t in declared}
    problems = share_problems(topics, [s.weight for s in steps])
    if problems:
        raise BadInput(
            f"{svc.name} is released by partition shares, and {'; '.join(problems)}",
            hint="raise the topic's partitions in streaming.topics, or use fewer rollout steps",
        )


def _steps(settings: StackSettings, strategy: Strategy) -> tuple[PlanStep, ...]:
    policy_steps = settings.rollout.steps
    if strategy is Strategy.BLUE_GREEN:
        return (
            PlanStep(
                "pre-promotion", 0, policy_steps[0].bake_seconds, analysed=True, min_requests=1
            ),
            PlanStep("post-promotion", 100, policy_steps[-1].bake_seconds),
        )
    return tuple(
        PlanStep(f"canary-{s.weight}", s.weight, s.bake_seconds, analysed=s.weight > 0)
        for s in policy_steps
    )
