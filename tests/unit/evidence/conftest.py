"""A journal holding one promoted release of the local stack's trading-api, as the engine
writes it: decisions whose states carry each step's analysis windows, a db-migration
applied with its backup id, and `release.finished` promoted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbooks.core.model import Measurement, Phase
from runbooks.core.plan import build_plan
from runbooks.core.state import ReleasePhase, ReleaseState
from runbooks.engine import ACTION_DONE, DECISION
from runbooks.evidence.signing import SigningKey, signing_key
from runbooks.evidence.verify import Source
from runbooks.journal.sqlite import SqliteJournal
from stackspec.stackfile import PROJECT_ROOT, load_stack

STACK = "local"
SERVICE = "trading-api"
HMAC_ENV = {"RUNBOOK_EVIDENCE_KEY": "hmac:unit-test-secret-0123456789abcdef"}
T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Released:
    """The journal, its state dir and the promoted release's id and version."""

    journal: SqliteJournal
    state_dir: Path
    release_id: str
    version: str

    @property
    def source(self) -> Source:
        return Source(STACK, self.journal, self.state_dir)


def window(metric: str, phase: Phase, value: float, at: float) -> Measurement:
    return Measurement(metric, phase, value, 0.5, at, f"{metric} {value}", baseline=0.1)


def journal_promoted(
    journal: SqliteJournal, version: str, stack: str = STACK, t0: float = T0
) -> str:
    """Journal a promoted release of `version` on `stack` (two windows on step 0, one on
    step 1), planned from the project's local stack file."""
    settings = load_stack("local", PROJECT_ROOT / "stacks")
    plan = build_plan(settings, SERVICE, version, ("db-migration",))
    state = ReleaseState(plan)
    release_id = journal.start_release(stack, SERVICE, version, {"state": state.to_dict()})
    step = {"type": "ApplyReleaseStep", "name": "db-migration"}
    outcome = {
        "name": "db-migration",
        "ok": True,
        "message": "expanded",
        "data": {"backup_id": "bk-42"},
    }
    journal.append(release_id, ACTION_DONE, {"index": 0, "action": step, "step": outcome})
    first = [window("error-rate", Phase.SUCCESSFUL, 0.01, t0 + 2)]
    states = [
        state.evolve(phase=ReleasePhase.PROGRESSING, step_started_at=t0, history=tuple(first)),
        state.evolve(
            phase=ReleasePhase.PROGRESSING,
            step_started_at=t0,
            history=(*first, window("error-rate", Phase.SUCCESSFUL, 0.02, t0 + 4)),
        ),
        state.evolve(
            phase=ReleasePhase.PROGRESSING,
            step_index=1,
            step_started_at=t0 + 5,
            history=(window("p95", Phase.SUCCESSFUL, 12.0, t0 + 7),),
        ),
        state.evolve(phase=ReleasePhase.PROMOTING, step_index=1, step_started_at=t0 + 5),
    ]
    for each in states:
        journal.append(release_id, DECISION, {"state": each.to_dict(), "actions": []})
    journal.finish(release_id, "promoted")
    return release_id


@pytest.fixture
def released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Released]:
    """The local stack's state dir (under RUNBOOK_STATE_DIR=tmp_path) whose journal holds
    one promoted release of trading-api 9.1.0."""
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("RUNBOOK_JOURNAL_DSN", raising=False)
    state_dir = tmp_path / STACK
    journal = SqliteJournal.in_state_dir(state_dir)
    yield Released(journal, state_dir, journal_promoted(journal, "9.1.0"), "9.1.0")


@pytest.fixture
def hmac_key() -> SigningKey:
    """An HMAC signing key (the secret is the test's own)."""
    return signing_key(HMAC_ENV)
