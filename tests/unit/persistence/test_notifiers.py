"""Notifier payloads and the notifier registry (no network)."""

from __future__ import annotations

import pytest

from runbooks.notifiers.base import EventKind, ReleaseEvent
from runbooks.notifiers.nop import NopNotifier
from runbooks.notifiers.registry import NOTIFIERS, notifier_for
from runbooks.notifiers.webhook import WebhookNotifier, payload
from stackspec.errors import BadInput, UnknownName


@pytest.mark.parametrize(
    ("kind", "color", "said"),
    [
        (EventKind.STARTED, "#439FE0", "started"),
        (EventKind.PAUSED, "warning", "paused"),
        (EventKind.PROMOTED, "good", "promoted"),
        (EventKind.ROLLED_BACK, "danger", "rolled back"),
        (EventKind.ABORTED, "danger", "aborted"),
        (EventKind.FAILED, "danger", "failed"),
    ],
)
def test_each_kind_has_its_color_and_words(kind: EventKind, color: str, said: str) -> None:
    body = payload(ReleaseEvent(kind, "production", "market-data", "2.0.0", "why"))

    assert body["text"] == f"[production] market-data 2.0.0: {said} — why"
    assert body["attachments"][0]["color"] == color


def test_every_kind_can_be_sent() -> None:
    for kind in EventKind:
        assert payload(ReleaseEvent(kind, "s", "svc", "1", "m"))["attachments"]


def test_the_registry_builds_notifiers_and_never_prints_the_url() -> None:
    hook = NOTIFIERS.create("webhook", url="https://hooks.example.test/services/T/B/secret")
    assert isinstance(hook, WebhookNotifier) and "secret" not in repr(hook)
    assert isinstance(notifier_for(None), NopNotifier)
    with pytest.raises(BadInput, match="needs a URL"):
        NOTIFIERS.create("webhook", url="")
    with pytest.raises(UnknownName, match="unknown notifier 'pager'"):
        NOTIFIERS.create("pager")


def test_nop_keeps_what_it_was_given() -> None:
    nop = NopNotifier()
    event = ReleaseEvent(EventKind.STARTED, "s", "svc", "1", "m")
    nop.notify(event)
    assert nop.sent == [event]
