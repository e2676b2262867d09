"""The engine driving a release of two services as one: nop backends, a fake clock.

The metric provider is a plain function of (service, color); the router remembers weights
per service, so what each member's traffic ended on is read back from it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from runbooks.cli.events import (
    ReleaseStarted,
    StepStarted,
    StreamContext,
    WindowJudged,
    events_of,
)
from runbooks.cli.status import history_rows
from runbooks.core.decide import start_rollback
from runbooks.core.group import GroupState
from runbooks.core.model import Sample, Target, Weights
from runbooks.core.plan import build_plan
from runbooks.core.state import Outcome, ReleaseState, SetWeights
from runbooks.drivers.nop import NopDriver
from runbooks.engine import ACTION_STARTED, DECISION, Clock, Engine, snapshot
from runbooks.evidence.record import promoted_release
from runbooks.journal.sqlite import SqliteJournal
from runbooks.notifiers.nop import NopNotifier
from runbooks.performer import Backends, Performer
from runbooks.release import revert_promoted
from runbooks.report.facts import read_facts
from runbooks.routers.nop import NopRouter
from runbooks.session import Session
from runbooks.steps.base import StepContext
from stackspec.errors import BadInput
from stackspec.model import Color
from tests.clock import FakeClock
from tests.unit.core.test_group import API, FEED, settings

SERVICES = (API, FEED)


class Traffic:
    """Both colors busy; the green color of `faulty` fails 20 % of its requests."""

    def __init__(self, clock: FakeClock, faulty: str | None = None) -> None:
        self.clock, self.faulty = clock, faulty

    def sample(self, target: Target, window_seconds: float) -> Sample:
        bad = target.color is Color.GREEN and target.service == self.faulty
        return Sample(target.color, 1000, 200 if bad else 0, 0.01, self.clock.t)


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, nothing catches it."""


class KillingRouter(NopRouter):
    """Dies the first time `service` is given `green` percent."""

    def __init__(self, service: str, green: int) -> None:
        super().__init__()
        self.service, self.green, self.armed = service, green, True

    def set_weights(self, service: str, weights: Weights) -> None:
        if self.armed and service == self.service and weights.green == self.green:
            self.armed = False
            raise Killed
        super().set_weights(service, weights)


def engine_for(
    journal: SqliteJournal, release_id: str, router: NopRouter, clock: FakeClock, faulty: str | None
) -> Engine:
    backends = Backends(router, Traffic(clock, faulty), NopDriver(settings()), NopNotifier())
    performers = [
        Performer(
            backends, StepContext("local", s, "2.0.0", Color.BLUE, Color.GREEN), lambda n: None
        )
        for s in SERVICES
    ]
    return Engine(journal, release_id, performers, Clock(clock.now, clock.sleep))


def start(tmp_path: Path) -> tuple[SqliteJournal, str, GroupState]:
    group = GroupState.of([build_plan(settings(), s, "2.0.0") for s in SERVICES])
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    members = [{"service": s, "version": "2.0.0", "faults": {}} for s in SERVICES]
    release_id = journal.start_release("local", group.name, group.version, {"members": members})
    return journal, release_id, group


@pytest.mark.parametrize(
    ("faulty", "outcome", "color"),
    [(None, Outcome.PROMOTED, Color.GREEN), (FEED, Outcome.ROLLED_BACK, Color.BLUE)],
)
def test_two_services_end_together_in_one_journaled_release(
    tmp_path: Path, faulty: str | None, outcome: Outcome, color: Color
) -> None:
    journal, release_id, group = start(tmp_path)
    router = NopRouter()

    assert engine_for(journal, release_id, router, FakeClock(), faulty).run(group) is outcome

    assert all(router.get_weights(s) == Weights.all_on(color) for s in SERVICES)
    assert [r.service for r in journal.history("local")] == [f"{API}+{FEED}"]
    events = journal.events(release_id)
    decisions = [e.data for e in events if e.kind == DECISION]
    assert all(len(d["others"]) == 1 for d in decisions)
    assert {e.data.get("member") for e in events if e.kind == ACTION_STARTED} == {0, 1}
    assert journal.release(release_id).outcome == outcome.value


def test_killed_mid_step_then_rolled_back_leaves_both_services_on_the_old_color(
    tmp_path: Path,
) -> None:
    # Given an engine killed while moving the second service to its last step
    journal, release_id, group = start(tmp_path)
    clock = FakeClock()
    router = KillingRouter(FEED, green=100)
    with pytest.raises(Killed):
        engine_for(journal, release_id, router, clock, None).run(group)
    assert router.get_weights(API) == Weights.all_on(Color.GREEN)  # the first one moved

    # Then the journal gives each member its own unfinished actions
    shot = snapshot(journal, release_id)
    assert shot is not None
    assert not any(isinstance(a, SetWeights) for a in shot.pendings[0])
    assert any(isinstance(a, SetWeights) for a in shot.pendings[1])

    # When an operator rolls it back from the journal, in another engine
    journal.record_intent("local", FEED, "rollback", "on-call")
    again = engine_for(journal, release_id, router, clock, None)
    outcome = again.run(shot.group, shot.pendings)

    # Then both are rolled back, every request on blue again
    assert outcome is Outcome.ROLLED_BACK
    assert all(router.get_weights(s) == Weights.all_on(Color.BLUE) for s in SERVICES)


def test_evidence_is_not_exported_for_one_service_of_a_release_of_several(
    tmp_path: Path,
) -> None:
    journal, release_id, group = start(tmp_path)
    engine = engine_for(journal, release_id, NopRouter(), FakeClock(), None)
    assert engine.run(group) is Outcome.PROMOTED

    with pytest.raises(BadInput, match=f"together with other services in release {release_id}"):
        promoted_release(journal, "local", FEED, "2.0.0")


def test_a_promoted_release_of_several_is_not_reverted_by_one_of_its_services(
    tmp_path: Path,
) -> None:
    journal, release_id, group = start(tmp_path)
    engine = engine_for(journal, release_id, NopRouter(), FakeClock(), None)
    assert engine.run(group) is Outcome.PROMOTED
    session = cast(Session, SimpleNamespace(stack="local"))

    with pytest.raises(BadInput, match="not rolled back by one service"):
        revert_promoted(FEED, session, journal, force=False)
    assert [r.id for r in journal.history("local")] == [release_id]  # nothing recorded


class RecordingRouter(NopRouter):
    """Remembers the services whose weights were set, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def set_weights(self, service: str, weights: Weights) -> None:
        self.order.append(service)
        super().set_weights(service, weights)


def test_a_resumed_rollback_runs_the_pending_actions_newest_member_first(tmp_path: Path) -> None:
    # Given a rollback interrupted before either member's traffic was put back on blue
    journal, release_id, group = start(tmp_path)
    states = [
        start_rollback(m, "a failed window").evolve(weights_restored=True, undo_held=i == 0)
        for i, m in enumerate(group.members)
    ]
    pendings = [[SetWeights(s, Weights.all_on(Color.BLUE))] for s in SERVICES]
    router = RecordingRouter()

    # When it is resumed
    engine = engine_for(journal, release_id, router, FakeClock(), None)
    outcome = engine.run(GroupState(tuple(states)), pendings)

    # Then the member declared last gets its traffic back first
    assert outcome is Outcome.ROLLED_BACK
    assert router.order[:2] == [FEED, API]


def promoted_single(tmp_path: Path, clock: FakeClock) -> tuple[SqliteJournal, str, Backends]:
    """A promoted release of API alone (journaled as `rollout` records one service)."""
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    state = ReleaseState(build_plan(settings(), API, "2.0.0"))
    recorded = {"state": state.to_dict(), "faults": {}, "migration": None, "config_version": None}
    release_id = journal.start_release("local", API, "2.0.0", recorded)
    backends = Backends(NopRouter(), Traffic(clock, None), NopDriver(settings()), NopNotifier())
    context = StepContext("local", API, "2.0.0", Color.BLUE, Color.GREEN)
    performer = Performer(backends, context, lambda n: None)
    engine = Engine(journal, release_id, performer, Clock(clock.now, clock.sleep))
    assert engine.run(state) is Outcome.PROMOTED
    return journal, release_id, backends


def test_an_operators_rollback_of_a_promoted_release_is_journaled_as_a_rollback(
    tmp_path: Path,
) -> None:
    # Given a promoted release of one service
    clock = FakeClock()
    journal, promoted, backends = promoted_single(tmp_path, clock)

    # When the operator rolls it back
    session = cast(Session, SimpleNamespace(stack="local", backends=lambda steps: backends))
    outcome, revert = revert_promoted(
        API, session, journal, force=False, clock=Clock(clock.now, clock.sleep)
    )

    # Then its release.started names the release it reverts, and the stream says so
    assert outcome is Outcome.ROLLED_BACK
    assert journal.events(revert)[0].data == {"version": "1.0.0", "reverts": promoted}
    started = [e for e in events_of(journal.events(revert), StreamContext("local"))]
    assert isinstance(started[0], ReleaseStarted) and started[0].reverts == promoted
    assert journal.events(promoted)[0].data == {"version": "2.0.0"}
    # and history shows each for what it is
    rows = {r["id"]: r for r in history_rows(journal, journal.history("local"))}
    assert rows[revert]["reverts"] == promoted and rows[promoted]["reverted_by"] == revert


def test_the_window_that_ends_each_step_reaches_the_event_stream_and_the_report(
    tmp_path: Path,
) -> None:
    # Given a promoted release of one service: each step ends in the decision that judged
    # the window proving it after its bake (no group gate to wait at)
    journal, release_id, _ = promoted_single(tmp_path, FakeClock())
    events = journal.events(release_id)
    stream = events_of(events, StreamContext("local"))

    # Then the report's windows of each step include one judged after its bake
    facts = read_facts(journal.release(release_id), events)
    steps = [e for e in stream if isinstance(e, StepStarted)]
    assert [s.name for s in steps] == ["canary-20", "canary-100"]
    for index, step in enumerate(steps):
        assert step.bake_ends_at is not None
        judged = [w for w in facts.windows if w.step == index]
        assert any(w.at >= step.bake_ends_at for w in judged)
        # and the event stream shows each of those windows, the last one successful
        shown = [e for e in stream if isinstance(e, WindowJudged) and e.step == step.name]
        assert len(shown) == len(judged)
        assert shown[-1].verdict.lower() == "successful"
