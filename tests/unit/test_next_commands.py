"""Refusals name the exact next command, stack and service included (as gh and kubectl do):
at 3 a.m. `runbook status` alone is one more thing to work out. Found: "run `runbook
status`, then `runbook resume` or `runbook rollback`" without -s or --service."""

from __future__ import annotations

import pytest

from runbooks.journal.base import ReleaseRecord
from runbooks.journal.records import nothing_in_progress, still_open
from runbooks.preflight import nothing_unfinished
from runbooks.session import Request
from stackspec.errors import BadInput

STACK, SERVICE = "staging", "trading-api"
EXACT = (
    f"`runbook status -s {STACK} --service {SERVICE}`",
    f"`runbook resume -s {STACK} --service {SERVICE}`",
    f"`runbook rollback -s {STACK} --service {SERVICE}`",
)


class Running:
    """A journal with one release of the service in progress."""

    def current(self, stack: str, service: str) -> ReleaseRecord | None:
        return ReleaseRecord("r1", stack, service, "2.0.0", {}, 0.0)


def test_an_unfinished_release_names_status_resume_and_rollback() -> None:
    with pytest.raises(BadInput) as refused:
        nothing_unfinished(Running(), Request(STACK, SERVICE, "2.1.0"))  # type: ignore[arg-type]
    assert all(command in str(refused.value) for command in EXACT)
    opened = still_open(ReleaseRecord("r1", STACK, SERVICE, "2.0.0", {}, 0.0))
    assert all(command in str(opened) for command in EXACT)


def test_an_intent_with_nothing_in_progress_names_the_status_command() -> None:
    assert EXACT[0] in str(nothing_in_progress(STACK, SERVICE, "abort"))


def test_a_release_of_several_services_is_named_by_one_of_them() -> None:
    """`--service trading-api+market-data` would be refused; any member names the release."""
    opened = still_open(ReleaseRecord("r1", STACK, f"{SERVICE}+market-data", "2.0.0", {}, 0.0))
    assert all(command in str(opened) for command in EXACT)
    assert "--service trading-api+market-data" not in str(opened)
