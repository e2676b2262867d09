"""How a running release is shown: a live view on a terminal, a plain log when piped, or
JSON events for CI (`--output text|json|jsonl`).

Every output is fed the same public events (runbooks.cli.events), read from the release's
journal after each engine turn, so what the view, the log and CI see cannot disagree:

- text on a terminal: a rich Live panel, redrawn four times a second: the steps with
  done/current/pending marks, the weights (of traffic, or of partitions for a consumer),
  each check against its threshold with the old color's value, a countdown to the next
  check and to the end of the bake, and what to run next when the release waits;
- text otherwise: the plain log of runbooks.cli.view (a line only when something changed);
- jsonl: one event a line as it happens, flushed; json: the events in the final document.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runbooks.cli.common import console
from runbooks.cli.events import (
    Check,
    Decision,
    Ended,
    ReleaseEvent,
    ReleaseStarted,
    StepApplied,
    StepStarted,
    StreamContext,
    Translator,
    WeightsSet,
    WindowJudged,
)
from runbooks.cli.public import MARKS, Output, OutputOption, output_of
from runbooks.cli.view import PlainLog, next_lines, step_change_line, weights_line
from runbooks.core.state import Action, ReleaseState
from runbooks.journal.base import Journal

__all__ = ["Follower", "LiveModel", "Output", "OutputOption", "follow", "output_of"]

VERDICT_STYLE = {
    "successful": "green",
    "failed": "red",
    "error": "red",
    "inconclusive": "yellow",
    "running": "cyan",
}
REFRESHES_PER_SECOND = 4


class Follower:
    """Reads the release's new journal events after each engine turn and hands their
    public events to `sink`; keeps them all for a final document."""

    def __init__(
        self,
        journal: Journal,
        context: StreamContext,
        sink: Callable[[ReleaseEvent], None],
        find: Callable[[], str | None],
    ) -> None:
        self.journal, self.sink, self.find = journal, sink, find
        self.translator = Translator(context)
        self.release_id: str | None = None
        self.seen = 0
        self.events: list[ReleaseEvent] = []

    def on_turn(self, state: ReleaseState, actions: Sequence[Action]) -> None:
        """An engine turn was journaled: show what is new (the engine's `on_turn`)."""
        if self.release_id is None:
            self.release_id = self.find()
        self.pump()

    def finish(self, release_id: str) -> None:
        """The engine returned: show the rest (the last actions and the outcome)."""
        self.release_id = self.release_id or release_id
        self.pump()

    def pump(self) -> None:
        """Translate and hand on every journal event not seen yet."""
        if self.release_id is None:
            return
        for event in self.journal.events(self.release_id):
            if event.seq <= self.seen:
                continue
            self.seen = event.seq
            for public in self.translator.feed(event):
                self.events.append(public)
                self.sink(public)


@contextmanager
def follow(
    output: Output,
    journal: Journal,
    context: StreamContext,
    find: Callable[[], str | None],
    interactive: bool | None = None,
) -> Iterator[Follower]:
    """A Follower whose events go to `output`: a live view while the block runs when text
    goes to a terminal (`interactive`, default: stdout is a TTY), else the plain log, JSON
    lines, or nothing until the final document (json)."""
    if output is Output.JSONL:
        yield Follower(journal, context, print_jsonl, find)
        return
    if output is Output.JSON:
        yield Follower(journal, context, lambda _: None, find)
        return
    if not (sys.stdout.isatty() if interactive is None else interactive):
        yield Follower(journal, context, PlainLog(plain), find)
        return
    model = LiveModel()
    with Live(
        console=console,
        get_renderable=model.render,
        refresh_per_second=REFRESHES_PER_SECOND,
    ):
        yield Follower(journal, context, model.apply, find)


def print_jsonl(event: ReleaseEvent) -> None:
    """One event as one JSON line on stdout, flushed (CI reads it as it comes)."""
    sys.stdout.write(json.dumps(event.as_json(), sort_keys=True) + "\n")
    sys.stdout.flush()


def plain(line: str) -> None:
    """A log line as it is (reasons may hold brackets: no markup)."""
    console.print(line, markup=False, highlight=False)


@dataclass
class LiveModel:
    """The picture of a release the live view draws, folded from its events: one section
    per service (several for a multi-service release), then how it ended."""

    now: Callable[[], float] = time.time
    services: dict[str, ServiceView] = field(default_factory=dict)
    ended: Ended | None = None

    def apply(self, event: ReleaseEvent) -> None:
        """Fold one event into the picture."""
        if isinstance(event, Ended):
            self.ended = event
            for view in self.services.values():
                view.apply(event)
            return
        view = self.services.setdefault(event.service, ServiceView(self.now))
        view.apply(event)

    def render(self) -> RenderableType:
        """The view now (countdowns from the clock)."""
        if not self.services:
            return Text("waiting for the release to start...")
        parts = [view.render() for view in self.services.values()]
        if self.ended is not None:
            parts.append(Text(f"release {self.ended.release} {self.ended.outcome}"))
        return Group(*parts)


@dataclass
class ServiceView:
    """One service's part of the live view: its steps, weights, checks and countdowns."""

    now: Callable[[], float] = time.time
    started: ReleaseStarted | None = None
    current: int | None = None  # index of the running step (0-based)
    phase: str = "pending"
    weights: WeightsSet | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    verdict: str = ""
    next_check_at: float | None = None
    bake_ends_at: float | None = None
    reason: str = ""
    next: tuple[str, ...] = ()
    release_steps: list[str] = field(default_factory=list)

    def apply(self, event: ReleaseEvent) -> None:
        """Fold one of the service's events into its picture."""
        if isinstance(event, ReleaseStarted):
            self.started = event
        elif isinstance(event, StepStarted):
            self.current, self.checks, self.verdict = event.index - 1, {}, ""
            self.bake_ends_at, self.next_check_at = event.bake_ends_at, event.next_check_at
        elif isinstance(event, WeightsSet):
            self.weights = event if event.ok else self.weights
        elif isinstance(event, WindowJudged):
            self.checks |= {c.name: c for c in event.checks}
            self.verdict, self.next_check_at = event.verdict, event.next_check_at
        elif isinstance(event, Decision):
            self.phase, self.reason, self.next = event.phase, event.reason, event.next
        elif isinstance(event, StepApplied):
            self.release_steps.append(step_change_line(event))
        elif isinstance(event, Ended):
            self.phase = event.outcome

    def render(self) -> RenderableType:
        """The service's part now (countdowns from the clock)."""
        if self.started is None:
            return Text("")
        parts: list[RenderableType] = [self._header(self.started), self._steps(self.started)]
        if self.weights is not None:
            parts.append(Text(weights_line(self.weights)))
        parts.extend(Text(f"  {line}") for line in self.release_steps[-4:])
        if self.checks:
            parts.append(self._checks())
        parts.extend(self._footer())
        return Group(*parts)

    def _header(self, s: ReleaseStarted) -> Text:
        what = f"rollback of {s.reverts}" if s.reverts else f"release {s.release}"
        head = Text(f"{what}  {s.service} {s.old_version} ({s.old_color}) -> ")
        head.append(f"{s.version} ({s.new_color})", style="bold")
        head.append(f"  {s.strategy}  phase: ")
        head.append(self.phase, style=_phase_style(self.phase))
        return head

    def _steps(self, s: ReleaseStarted) -> Table:
        table = Table.grid(padding=(0, 2))
        for index, step in enumerate(s.steps):
            mark = self._mark(index)
            table.add_row(
                f" {MARKS[mark]}",
                f"{index + 1}/{len(s.steps)} {step.name}",
                f"{step.weight}% to {s.new_color}",
                f"bake {step.bake_seconds:g}s",
                self._countdown(index),
            )
        return table

    def _mark(self, index: int) -> str:
        if self.current is None or index > self.current:
            return "pending"
        if index < self.current or self.phase in ("promoting", "promoted"):
            return "done"
        if self.phase in ("rolling-back", "rolled-back", "aborted"):
            return "abandoned"
        return "current"

    def _countdown(self, index: int) -> str:
        mark = self._mark(index)
        if mark == "abandoned" and self.started is not None:
            # The plan's split of this step is no longer live: say what is.
            return f"{self.phase}: traffic back to {self.started.old_color}"
        if mark != "current":
            return ""
        now = self.now()
        parts = []
        if self.next_check_at is not None:
            parts.append(f"next check in {max(0.0, self.next_check_at - now):.0f}s")
        if self.phase == "progressing" and self.bake_ends_at is not None:
            parts.append(f"bake ends in {max(0.0, self.bake_ends_at - now):.0f}s")
        return ", ".join(parts) or self.phase

    def _checks(self) -> Group:
        table = Table.grid(padding=(0, 2))
        for check in self.checks.values():
            verdict = Text(check.verdict, style=VERDICT_STYLE.get(check.verdict, ""))
            table.add_row(f"  {check.name}", verdict, check.text)
        head = Text("checks (the step so far: ")
        head.append(self.verdict, style=VERDICT_STYLE.get(self.verdict, ""))
        return Group(head + Text(")"), table)

    def _footer(self) -> list[RenderableType]:
        lines: list[RenderableType] = []
        if self.reason:
            lines.append(Text(f"{self.phase}: {self.reason}", style=_phase_style(self.phase)))
        if self.next:
            lines.append(Text("\n".join(next_lines(self.next))))
        return lines


def _phase_style(phase: str) -> str:
    if phase in ("promoted", "promoting"):
        return "green"
    if phase in ("rolling-back", "rolled-back", "aborted"):
        return "red"
    return "yellow" if phase in ("paused", "awaiting-promotion") else "cyan"
