"""The notifiers by name: `NOTIFIERS.create("webhook", url=...)` or `("nop")`.
Unknown names raise UnknownName."""

from __future__ import annotations

from runbooks.errors import BadInput
from runbooks.notifiers.base import Notifier
from runbooks.notifiers.nop import NopNotifier
from runbooks.notifiers.webhook import WebhookNotifier
from runbooks.registry import Registry


def _webhook(url: str | None = None, timeout_seconds: float = 2.0, attempts: int = 3) -> Notifier:
    if not url:
        raise BadInput(
            "the webhook notifier needs a URL",
            hint="set notifications.webhookUrl in the stack file ({env: VAR} or a Pulumi secret)",
        )
    return WebhookNotifier(url, timeout_seconds, attempts)


def _nop() -> Notifier:
    return NopNotifier()


NOTIFIERS: Registry[Notifier] = Registry("notifier", {"webhook": _webhook, "nop": _nop})


def notifier_for(url: str | None) -> Notifier:
    """The webhook notifier when a URL is configured (resolved), else the nop one."""
    return NOTIFIERS.create("webhook", url=url) if url else NOTIFIERS.create("nop")
