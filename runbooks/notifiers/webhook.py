"""Release events to a Slack-compatible incoming webhook, posted with httpx.

The body is `{"text": ..., "attachments": [{"color": ..., "fields": [...]}]}`, which Slack
and Mattermost render with a colored bar per kind. Each post has a short timeout and is
retried a few times (tenacity) on connection errors, 429 and 5xx. A notification that still
fails is logged as a warning and dropped: it never fails the release.

The URL is a secret (it carries the webhook's token): it never appears in our log lines, and
a filter redacts it from the `httpx`/`httpcore` loggers, which log request URLs.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from runbooks.notifiers.base import EventKind, ReleaseEvent

log = logging.getLogger(__name__)

COLORS = {
    EventKind.STARTED: "#439FE0",
    EventKind.STEP: "#439FE0",
    EventKind.RESUMED: "#439FE0",
    EventKind.PAUSED: "warning",
    EventKind.PROMOTED: "good",
    EventKind.ROLLED_BACK: "danger",
    EventKind.ABORTED: "danger",
    EventKind.FAILED: "danger",
}
REDACTED = "[webhook url]"


def payload(event: ReleaseEvent) -> dict[str, Any]:
    """The Slack-compatible JSON body for `event`."""
    title = f"[{event.stack}] {event.service} {event.version}: {event.kind.value.replace('_', ' ')}"
    fields = [
        {"title": "stack", "value": event.stack, "short": True},
        {"title": "service", "value": event.service, "short": True},
    ]
    fields += [{"title": k, "value": str(v), "short": True} for k, v in event.fields.items()]
    return {
        "text": f"{title} — {event.message}",
        "attachments": [
            {
                "color": COLORS[event.kind],
                "title": title,
                "text": event.message,
                "fields": fields,
                "footer": "runbooks",
            }
        ],
    }


class WebhookNotifier:
    """Posts each event to `url`; `transport` lets tests swap httpx's network layer."""

    def __init__(
        self,
        url: str,
        timeout_seconds: float = 2.0,
        attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._attempts = attempts
        self._transport = transport
        _REDACTOR.add(url)

    def __repr__(self) -> str:
        return f"WebhookNotifier({REDACTED})"

    def notify(self, event: ReleaseEvent) -> None:
        try:
            self._post(payload(event))
        except Exception as err:  # best effort: a notification never fails a release
            log.warning(
                "release notification '%s' for %s/%s was not delivered after %d attempt(s): %s",
                event.kind.value,
                event.stack,
                event.service,
                self._attempts,
                _reason(err),
            )

    def _post(self, body: dict[str, Any]) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.2, max=1.0),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
            for attempt in retrying:
                with attempt:
                    client.post(self._url, json=body).raise_for_status()


def _retryable(err: BaseException) -> bool:
    if isinstance(err, httpx.HTTPStatusError):
        return err.response.status_code == 429 or err.response.status_code >= 500
    return isinstance(err, httpx.TransportError)


def _reason(err: Exception) -> str:
    """Why a post failed, without the URL (httpx puts it in status errors' text)."""
    if isinstance(err, httpx.HTTPStatusError):
        return f"HTTP {err.response.status_code}"
    return type(err).__name__


class _Redactor(logging.Filter):
    """Replaces webhook URLs (and their paths, which hold the token) in log records."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, url: str) -> None:
        """Redact `url` from now on, and its path when it has one (`/services/T/B/token`)."""
        self.secrets.add(url)
        try:
            path = httpx.URL(url).raw_path.decode("ascii", "replace")
        except httpx.InvalidURL:
            return
        if len(path) > 1:
            self.secrets.add(path)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for secret in sorted(self.secrets, key=len, reverse=True):
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_REDACTOR = _Redactor()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_REDACTOR)
