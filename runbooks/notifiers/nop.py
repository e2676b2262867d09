"""The notifier that tells no one (no webhook configured), keeping what it was given."""

from __future__ import annotations

from runbooks.notifiers.base import ReleaseEvent


class NopNotifier:
    """Drops every event; `sent` keeps them, for tests and dry runs."""

    def __init__(self) -> None:
        self.sent: list[ReleaseEvent] = []

    def notify(self, event: ReleaseEvent) -> None:
        self.sent.append(event)
