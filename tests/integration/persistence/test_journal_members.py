"""A multi-service release is found by each of its services (SQLite and PostgreSQL alike).

Its record names the members joined by "+"; current(), latest(), history() and intents of
one service find it, and a service whose name is a part of another's is not confused.
"""

from __future__ import annotations

import pytest

from runbooks.journal.base import Journal
from stackspec.errors import BadInput

GROUP = "trading-api+market-data"


def test_each_member_finds_the_release_and_others_do_not(journal: Journal) -> None:
    release = journal.start_release("local", GROUP, "1.2.0", {"members": []})

    for service in ("trading-api", "market-data", GROUP):
        current = journal.current("local", service)
        assert current is not None and current.id == release
        assert [r.id for r in journal.history("local", service)] == [release]
    for other in ("trading", "api", "market-data-replay", "web"):
        assert journal.current("local", other) is None
        assert journal.latest("local", other) is None


def test_an_intent_for_one_member_is_recorded_against_the_release(journal: Journal) -> None:
    release = journal.start_release("local", GROUP, "1.2.0", {})

    intent = journal.record_intent("local", "market-data", "pause", "ops")

    assert intent.release_id == release
    journal.finish(release, "rolled-back")
    with pytest.raises(BadInput, match="no release"):
        journal.record_intent("local", "trading-api", "pause", "ops")
    assert journal.latest("local", "trading-api") is not None
