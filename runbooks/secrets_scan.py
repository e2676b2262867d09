"""Finding a stack's secret values where they must never be: logs, reports, journals,
evidence, decision records and captured output.

`stack_secrets(settings, outputs, env)` collects every secret value a stack uses:
- the release webhook URL (`notifications.webhookUrl`: an `{env: VAR}` reference is read
  from `env`; a `{secure: ...}` one (SecretRef) through `outputs.secret`, when `outputs` is
  the stack's StackOutputs and its driver resolves it), its path, its path and query
  string together, and each query value on its own (`/hook?token=...`),
- the evidence signing and verification keys (RUNBOOK_EVIDENCE_KEY / _VERIFY_KEY),
- the database password and the cache (Redis AUTH) token: the password part of every
  connection string the stack's runs read (RUNBOOK_DATABASE_DSN, RUNBOOK_JOURNAL_DSN,
  RUNBOOK_REDIS_URL, the local outputs' DSN/URL, the samples' TRADING_POSTGRES_DSN /
  TRADING_REDIS_URL and the files their `_FILE` variants name): a URL's user-info password
  (percent-decoded) and `?password=` value, a libpq keyword string's `password`, quoted or
  not (parsed by psycopg's `conninfo_to_dict`, libpq's own rules).

`scan(secrets, paths, texts)` looks for each value, as written, URL-encoded and
JSON-escaped, in every file under `paths` (binary files such as the SQLite journal
included) and in each named text; a Hit names the secret and where, never the value.
Values shorter than MIN_LENGTH are skipped: they would match by chance.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

from runbooks.drivers.base import WEBHOOK_KEY
from runbooks.outputs import StackOutputs
from stackspec.errors import RunbookError
from stackspec.model import EnvRef, SecretRef, StackSettings

MIN_LENGTH = 6
EVIDENCE_KEYS = ("RUNBOOK_EVIDENCE_KEY", "RUNBOOK_EVIDENCE_VERIFY_KEY")
CONNECTION_VARS = (
    "RUNBOOK_DATABASE_DSN",
    "RUNBOOK_JOURNAL_DSN",
    "RUNBOOK_REDIS_URL",
    "TRADING_POSTGRES_DSN",
    "TRADING_REDIS_URL",
)
CONNECTION_FILES = ("TRADING_POSTGRES_DSN_FILE", "TRADING_REDIS_URL_FILE")
CONNECTION_OUTPUTS = ("local.postgresDsn", "local.redisUrl")


@dataclass(frozen=True)
class Secret:
    """One secret value of the stack and what it is (the name is safe to print)."""

    name: str
    value: str

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, [{len(self.value)} characters])"

    def forms(self) -> set[bytes]:
        """The byte strings the value may appear as: raw, URL-encoded, JSON-escaped."""
        return {
            form.encode()
            for form in (self.value, quote(self.value, safe=""), json.dumps(self.value)[1:-1])
        }


@dataclass(frozen=True)
class Hit:
    """A secret found: which (by name) and where (a path or a text's label)."""

    secret: str
    where: str


def stack_secrets(
    settings: StackSettings,
    outputs: StackOutputs | Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Secret]:
    """Every secret value `settings` (with its `outputs`, in `env`) uses; see the module."""
    env = os.environ if env is None else env
    values = outputs.values if isinstance(outputs, StackOutputs) else (outputs or {})
    found: list[Secret] = []
    webhook = _webhook(settings, outputs, env)
    if webhook:
        found += _url_secrets("webhook URL", webhook)
    for name in EVIDENCE_KEYS:
        found += _key_secrets(name, env.get(name, ""))
    for name in CONNECTION_VARS:
        found += _password(name, env.get(name, ""))
    for name in CONNECTION_FILES:
        found += _password(name, _read(env.get(name, "")))
    for key in CONNECTION_OUTPUTS:
        value = values.get(key)
        found += _password(key, value if isinstance(value, str) else "")
    unique = {(s.name, s.value): s for s in found if len(s.value) >= MIN_LENGTH}
    return list(unique.values())


def _webhook(
    settings: StackSettings,
    outputs: StackOutputs | Mapping[str, object] | None,
    env: Mapping[str, str],
) -> str:
    """The webhook URL's plaintext, or "" when it is unset or cannot be resolved here."""
    ref = settings.notifications.webhook_url
    if isinstance(ref, EnvRef):
        return env.get(ref.env, "")
    if isinstance(ref, SecretRef) and isinstance(outputs, StackOutputs):
        try:
            return outputs.secret(ref, WEBHOOK_KEY) or ""
        except RunbookError:
            return ""
    return ""


def scan(
    secrets: Iterable[Secret],
    paths: Iterable[Path] = (),
    texts: Mapping[str, str] | None = None,
) -> list[Hit]:
    """Every place under `paths` (files, or folders walked) and in `texts` holding one of
    `secrets`, in any of its forms."""
    wanted = [(s.name, s.forms()) for s in secrets]
    hits: list[Hit] = []
    places = [(str(p), p.read_bytes()) for p in _files(paths)]
    places += [(label, text.encode()) for label, text in (texts or {}).items()]
    for where, data in places:
        hits += [Hit(name, where) for name, forms in wanted if any(f in data for f in forms)]
    return hits


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink())


def _url_secrets(name: str, url: str) -> list[Secret]:
    """A URL whose whole is secret (a webhook), and on their own: its password, its path,
    its path with the query string, and each query value."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    found = [Secret(name, url), *_password(name, url)]
    if len(path) >= MIN_LENGTH:
        found.append(Secret(f"{name} (path)", path))
    if parts.query:
        found.append(Secret(f"{name} (path and query)", f"{path}?{parts.query}"))
        found += [Secret(f"{name} (query {key})", value) for key, value in parse_qsl(parts.query)]
    return found


def _key_secrets(name: str, text: str) -> list[Secret]:
    """An evidence key as set, and its secret after `hmac:` on its own."""
    text = text.strip()
    if not text:
        return []
    found = [Secret(name, text)]
    if text.startswith("hmac:"):
        found.append(Secret(name, text.removeprefix("hmac:")))
    return found


def _password(name: str, connection: str) -> list[Secret]:
    """The password of a connection URL (`scheme://user:password@host/...?password=...`), or
    of a libpq keyword string (`password=...`, `password='with spaces \\' quotes'`)."""
    connection = connection.strip()
    if not connection:
        return []
    label = f"{name} password"
    if "://" in connection:
        parts = urlsplit(connection)
        given = [parts.password or "", *(v for k, v in parse_qsl(parts.query) if k == "password")]
        return [Secret(label, v) for p in given if p for v in {p, unquote(p)}]
    try:
        password = conninfo_to_dict(connection).get("password")
    except ProgrammingError:  # not a connection string libpq reads: nothing of it is used
        return []
    return [Secret(label, str(password))] if password else []


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip() if path else ""
    except (OSError, UnicodeDecodeError):
        return ""
