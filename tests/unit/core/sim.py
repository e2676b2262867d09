"""A fake engine around decide(): fake clock, scripted traffic, scripted failures, operator.

No I/O: it runs actions by recording them, so decide() can be driven to the end in a loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from runbooks.core.decide import decide
from runbooks.core.model import Sample, Weights
from runbooks.core.state import (
    Action,
    ActionResult,
    Analyse,
    Finish,
    Intent,
    Observation,
    ReleaseState,
    SamplePair,
    SetWeights,
    Verb,
    Wait,
)
from stackspec.model import Color

Rate = Callable[[int], float]  # window number (0-based, over the release) -> value


@dataclass
class Traffic:
    """Requests per window split by weight; the new color's health scripted per window."""

    per_window: float = 2000
    probes: float = 5  # what reaches a color without weight (health probes)
    old_leftover: float = 0  # what a whole-step window still counts on the old color at 0%
    old_error_rate: float = 0.001
    old_p95: float = 0.050
    new_error_rate: Rate = lambda n: 0.001
    new_p95: Rate = lambda n: 0.050
    new_stray_errors: Rate = lambda n: 0


@dataclass
class Operator:
    """Records `verb` once, the first time `when(state, now)` holds."""

    verb: Verb
    when: Callable[[ReleaseState, float], bool]
    done: bool = False


@dataclass
class Sim:
    """Runs decide() like the engine will; `log` holds (time, action) in order."""

    traffic: Traffic = field(default_factory=Traffic)
    operators: list[Operator] = field(default_factory=list)
    fails: Callable[[Action], str | None] = lambda a: None
    now: float = 1000.0
    weights: Weights | None = None
    windows: int = 0
    intents: list[Intent] = field(default_factory=list)
    log: list[tuple[float, Action]] = field(default_factory=list)
    states: list[ReleaseState] = field(default_factory=list)

    def run(self, state: ReleaseState, until: float = 1e9, max_calls: int = 5000) -> ReleaseState:
        """Drive decide() until Finish, time `until`, or `max_calls` (then fail loudly)."""
        observation = Observation(now=self.now)
        for _ in range(max_calls):
            self._hear_operators(state)
            decision = decide(state, observation, tuple(self.intents))
            state = decision.state
            self.states.append(state)
            observation, finished = self._perform(state, decision.actions)
            if finished or self.now >= until:
                return state
        raise AssertionError(f"no end after {max_calls} calls; phase {state.phase}")

    def _hear_operators(self, state: ReleaseState) -> None:
        for op in self.operators:
            if not op.done and op.when(state, self.now):
                op.done = True
                self.intents.append(Intent(len(self.intents) + 1, op.verb, "test"))

    def _perform(
        self, state: ReleaseState, actions: tuple[Action, ...]
    ) -> tuple[Observation, bool]:
        results: list[ActionResult] = []
        samples: SamplePair | None = None
        for action in actions:
            self.log.append((self.now, action))
            failure = self.fails(action)
            results.append(ActionResult(action, failure is None, failure or ""))
            if failure is not None:
                break
            if isinstance(action, SetWeights):
                self.weights = action.weights
            if isinstance(action, Analyse):
                samples = self._samples(action)
            if isinstance(action, Wait):
                self.now = max(self.now, action.until)
            if isinstance(action, Finish):
                return Observation(now=self.now), True
        return Observation(now=self.now, samples=samples, results=tuple(results)), False

    def _samples(self, action: Analyse) -> SamplePair:
        n, t, w = self.windows, self.traffic, self.weights or Weights(blue=100, green=0)
        self.windows += 1
        old_share, new_share = w.of(action.baseline), w.of(action.canary)
        old_requests = max(t.per_window * old_share / 100, t.old_leftover)
        new_requests = max(t.per_window * new_share / 100, t.probes)
        baseline = Sample(
            action.baseline,
            old_requests,
            round(old_requests * t.old_error_rate),
            t.old_p95 if old_requests else None,
            self.now,
        )
        canary = Sample(
            action.canary,
            new_requests,
            round(new_requests * t.new_error_rate(n)) + t.new_stray_errors(n),
            t.new_p95(n),
            self.now,
        )
        return SamplePair(baseline, canary)

    # -- views of the log ------------------------------------------------------------------

    def actions(self, kind: type[Action]) -> list[Action]:
        return [a for _, a in self.log if isinstance(a, kind)]

    def new_color_weights(self, new: Color) -> list[int]:
        return [a.weights.of(new) for a in self.actions(SetWeights) if isinstance(a, SetWeights)]

    def index(self, action: Action) -> int:
        return [a for _, a in self.log].index(action)
