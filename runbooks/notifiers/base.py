"""The notifier plug-in area: tell people what a release is doing.

A notification is best effort: `notify` never raises and never fails or slows a release
beyond its short timeout; a failure is logged (without the destination, which is a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class EventKind(StrEnum):
    """What happened to a release."""

    STARTED = "started"
    STEP = "step"
    PAUSED = "paused"
    RESUMED = "resumed"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    FAILED = "failed"


@dataclass(frozen=True)
class ReleaseEvent:
    """One notification: what happened to which release, in a sentence, with details."""

    kind: EventKind
    stack: str
    service: str
    version: str
    message: str
    fields: Mapping[str, str | int | float] = field(default_factory=dict)


class Notifier(Protocol):
    """Delivers release events somewhere people look. Never raises."""

    def notify(self, event: ReleaseEvent) -> None: ...
