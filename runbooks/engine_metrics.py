"""The engine's own metrics for dashboards: a Prometheus textfile per service, every turn.

After each decision the engine's `on_turn` observer writes `<state dir>/metrics/<service>.prom`
in the node_exporter textfile-collector format (prometheus_client's `write_to_textfile`,
which writes a temporary file and renames it, so a scrape never reads half a file). Point
node_exporter's `--collector.textfile.directory` at that directory; `runbook export grafana`
and `runbook export alerts` are built on the names below.

Every series carries `stack` and `service`:
- `runbook_release_info{release, version, old_version, strategy, new_color, old_color}` 1;
- `runbook_release_phase{phase}`: 1 for the release's phase, 0 for every other;
- `runbook_release_step` (1-based) and `runbook_release_steps` (how many);
- `runbook_release_weight_percent{color}`: the split the engine last set;
- `runbook_release_check_verdict{check, verdict}`: 1 for each check's latest verdict (spelt
  as every output spells it: successful, failed, inconclusive, error) in the
  current step, 0 for the others; `runbook_release_check_value{check}` and
  `runbook_release_check_threshold{check}` beside it (absent while a check has no value);
- `runbook_release_started_timestamp_seconds`, `runbook_release_last_turn_timestamp_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from runbooks.core.model import Phase, Weights
from runbooks.core.state import TERMINAL, Action, ReleasePhase, ReleaseState, SetWeights

OnTurn = Callable[[ReleaseState, Sequence[Action]], None]

INFO = "runbook_release_info"
PHASE = "runbook_release_phase"
STEP = "runbook_release_step"
STEPS = "runbook_release_steps"
WEIGHT = "runbook_release_weight_percent"
VERDICT = "runbook_release_check_verdict"
VALUE = "runbook_release_check_value"
THRESHOLD = "runbook_release_check_threshold"
STARTED = "runbook_release_started_timestamp_seconds"
LAST_TURN = "runbook_release_last_turn_timestamp_seconds"
EXPORTED = (INFO, PHASE, STEP, STEPS, WEIGHT, VERDICT, VALUE, THRESHOLD, STARTED, LAST_TURN)
"""Every metric name the textfile holds (the dashboard and the alert rules use only these)."""

LABELS = ("stack", "service")
TERMINAL_PHASES = tuple(sorted(p.value for p in TERMINAL))


def metrics_dir(state_dir: Path) -> Path:
    """The directory node_exporter's textfile collector should read for this stack."""
    return state_dir / "metrics"


def weights_of(state: ReleaseState) -> Weights:
    """The split the state implies when no SetWeights was seen (a resumed release)."""
    plan = state.plan
    if state.weights_restored or state.phase in (
        ReleasePhase.PENDING,
        ReleasePhase.DEPLOYING,
        ReleasePhase.APPLYING_STEPS,
        ReleasePhase.ROLLED_BACK,
    ):
        return plan.old_weights
    if state.phase in (ReleasePhase.PROMOTING, ReleasePhase.PROMOTED):
        return plan.weights_at(100)
    return plan.weights_at(state.step.weight)


class TextfileWriter:
    """An `on_turn` observer writing the release's metrics after every decision.

    Best effort: a metrics file that cannot be written must never stop a release, so an
    OSError is swallowed (and the next turn tries again).
    """

    def __init__(
        self,
        directory: Path,
        stack: str,
        release_id: str,
        started_at: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.stack = stack
        self.release_id = release_id
        self.started_at = started_at
        self.now = now
        self.weights: dict[str, Weights] = {}  # per service: on_turn is called per member

    def path(self, service: str) -> Path:
        """The textfile of `service`."""
        return self.directory / f"{service}.prom"

    def __call__(self, state: ReleaseState, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, SetWeights):
                self.weights[action.service] = action.weights
        registry = self.registry(state)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(self.path(state.plan.service)), registry)
        except OSError:
            return  # best effort (see the class docstring)

    def registry(self, state: ReleaseState) -> CollectorRegistry:
        """The metrics of one turn, in a registry of their own."""
        registry = CollectorRegistry()
        plan = state.plan
        base = {"stack": self.stack, "service": plan.service}

        def gauge(name: str, doc: str, *extra: str) -> Gauge:
            return Gauge(name, doc, [*LABELS, *extra], registry=registry)

        info = gauge(
            INFO,
            "The release in progress or last run",
            "release",
            "version",
            "old_version",
            "strategy",
            "new_color",
            "old_color",
        )
        info.labels(
            **base,
            release=self.release_id,
            version=plan.version,
            old_version=plan.old_version,
            strategy=plan.strategy.value,
            new_color=plan.new_color.value,
            old_color=plan.old_color.value,
        ).set(1)
        phase = gauge(PHASE, "1 for the release's phase, 0 for the others", "phase")
        for value in ReleasePhase:
            phase.labels(**base, phase=value.value).set(1 if value is state.phase else 0)
        gauge(STEP, "The traffic step the release is on (1-based)").labels(**base).set(
            state.step_index + 1
        )
        gauge(STEPS, "How many traffic steps the release has").labels(**base).set(len(plan.steps))
        weights = self.weights.get(plan.service) or weights_of(state)
        weight = gauge(WEIGHT, "Percent of traffic the engine last set on each color", "color")
        weight.labels(**base, color="blue").set(weights.blue)
        weight.labels(**base, color="green").set(weights.green)
        self._checks(state, registry, base)
        gauge(STARTED, "When the release started (epoch seconds)").labels(**base).set(
            self.started_at
        )
        gauge(LAST_TURN, "When the engine last decided (epoch seconds)").labels(**base).set(
            self.now()
        )
        return registry

    def _checks(
        self, state: ReleaseState, registry: CollectorRegistry, base: dict[str, str]
    ) -> None:
        verdict = Gauge(
            VERDICT,
            "1 for each check's latest verdict",
            [*LABELS, "check", "verdict"],
            registry=registry,
        )
        value = Gauge(VALUE, "Each check's latest value", [*LABELS, "check"], registry=registry)
        threshold = Gauge(
            THRESHOLD, "Each check's threshold", [*LABELS, "check"], registry=registry
        )
        latest = {m.metric: m for m in state.history}
        for check, measured in latest.items():
            for phase in Phase:
                verdict.labels(**base, check=check, verdict=phase.value.lower()).set(
                    1 if phase is measured.phase else 0
                )
            if measured.value is not None:
                value.labels(**base, check=check).set(measured.value)
            if measured.threshold is not None:
                threshold.labels(**base, check=check).set(measured.threshold)


def with_textfile(
    on_turn: OnTurn | None, state_dir: Path, stack: str, release_id: str, started_at: float
) -> OnTurn:
    """`on_turn` (if any) followed by the textfile writer of this release."""
    writer = TextfileWriter(metrics_dir(state_dir), stack, release_id, started_at)

    def both(state: ReleaseState, actions: Sequence[Action]) -> None:
        if on_turn is not None:
            on_turn(state, actions)
        writer(state, actions)

    return both
