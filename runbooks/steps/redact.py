"""Keep secrets out of messages: passwords in DSNs and URLs are replaced by '***'."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# user:password@ in URLs (postgresql://, redis://, http://, ...)
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)@")
# password=... in key=value connection strings
_KV_PASSWORD = re.compile(r"(?P<head>password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask_url(text: str) -> str:
    """`text` with every password inside a URL or a key=value DSN replaced by '***'."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def dsn_password(dsn: str) -> str | None:
    """The password a PostgreSQL DSN carries, if any (None for an unparsable DSN)."""
    import psycopg.conninfo  # only here: mask_url runs on every error the CLI shows

    try:
        return psycopg.conninfo.conninfo_to_dict(dsn).get("password")  # type: ignore[return-value]
    except psycopg.ProgrammingError:
        return None


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with URL/DSN passwords masked and every literal secret in `secrets` masked too."""
    text = mask_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
