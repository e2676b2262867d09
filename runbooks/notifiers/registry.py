"""The notifiers by name: `NOTIFIERS.create("webhook", url=...)` or `("nop")`.
Unknown names raise UnknownName. A stack with `notifications.webhookUrl` notifies through
the webhook, else through nop (`notifier_name`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbooks.drivers.base import WEBHOOK_KEY
from runbooks.notifiers.base import Notifier
from runbooks.notifiers.nop import NopNotifier
from runbooks.registry import Factory, Registry
from stackspec.errors import BadInput

if TYPE_CHECKING:
    from runbooks.outputs import StackOutputs
    from stackspec.model import StackSettings


def _webhook(url: str | None = None, timeout_seconds: float = 2.0, attempts: int = 3) -> Notifier:
    if not url:
        raise BadInput(
            "the webhook notifier needs a URL",
            hint="set notifications.webhookUrl in the stack file ({env: VAR} or a Pulumi secret)",
        )
    from runbooks.notifiers.webhook import WebhookNotifier  # its HTTP client only when used

    return WebhookNotifier(url, timeout_seconds, attempts)


def _webhook_from_stack(settings: StackSettings, outputs: StackOutputs) -> Notifier:
    """The webhook at `notifications.webhookUrl`, its secret resolved by the stack driver;
    nop when the reference resolves to nothing (an `{env: VAR}` whose VAR is unset)."""
    ref = settings.notifications.webhook_url
    url = outputs.secret(ref, WEBHOOK_KEY) if ref is not None else None
    return _webhook(url) if url else NopNotifier()


def _nop() -> Notifier:
    return NopNotifier()


def _nop_from_stack(settings: StackSettings, outputs: StackOutputs) -> Notifier:
    return NopNotifier()


NOTIFIERS: Registry[Notifier] = Registry(
    "notifier",
    {"webhook": Factory(_webhook, _webhook_from_stack), "nop": Factory(_nop, _nop_from_stack)},
)


def notifier_name(settings: StackSettings) -> str:
    """`webhook` when the stack names a webhook URL, else `nop`."""
    return "webhook" if settings.notifications.webhook_url is not None else "nop"


def notifier_for(url: str | None) -> Notifier:
    """The webhook notifier when a URL is configured (resolved), else the nop one."""
    return NOTIFIERS.create("webhook", url=url) if url else NOTIFIERS.create("nop")
