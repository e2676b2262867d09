"""The step registry and secret masking: no servers needed."""

from __future__ import annotations

import pytest

from runbooks.steps.base import StepContext
from runbooks.steps.redact import redact
from runbooks.steps.registry import STEPS
from stackspec.errors import UnknownName
from stackspec.model import Color

CTX = StepContext(
    stack="local",
    service="trading-api",
    version="1.1.0",
    old_color=Color.BLUE,
    new_color=Color.GREEN,
    options={},
)


def test_registry_knows_the_five_steps_by_their_names() -> None:
    assert STEPS.names() == [
        "cache-bump",
        "config",
        "db-migration",
        "edge-purge",
        "nop",
    ]
    for name in STEPS.names():
        assert STEPS.create(name).name == name


def test_registry_rejects_an_unknown_step_listing_the_valid_ones() -> None:
    with pytest.raises(UnknownName, match="unknown release step 'flyway'") as err:
        STEPS.create("flyway")
    assert "db-migration" in err.value.hint


def test_nop_step_succeeds_at_everything() -> None:
    nop = STEPS.create("nop")
    applied = nop.apply(CTX)
    assert applied.ok and nop.undo(CTX, applied).ok and nop.verify(CTX).ok


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("postgresql://app:pw1@db:5432/t down", [], "postgresql://app:***@db:5432/t down"),
        ("redis://:pw2@cache:6379/0", [], "redis://:***@cache:6379/0"),
        ("host=db password=pw3 dbname=t", [], "host=db password=*** dbname=t"),
        ("auth failed for pw4", ["pw4"], "auth failed for ***"),
    ],
)
def test_redact_masks_passwords(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


def test_edge_purge_with_an_unknown_backend_is_a_failed_outcome() -> None:
    ctx = StepContext(**{**CTX.__dict__, "options": {"edge_backend": "akamai"}})
    outcome = STEPS.create("edge-purge").apply(ctx)
    assert not outcome.ok and "cloudfront, varnish" in outcome.message
