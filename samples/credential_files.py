"""Connection strings read from files, again for every new connection.

On aws stacks the PostgreSQL DSN and the Redis URL hold the RDS master password and the
ElastiCache AUTH token; External Secrets Operator keeps the Secret they are mounted from in
step with Secrets Manager, and the kubelet rewrites the mounted files. RDS rotates the
password every 7 days, so a string read once at start stops opening connections a week
later. Here the file is read each time a connection is opened instead:

- `DsnFile` is a psycopg_pool `conninfo` callable (psycopg_pool >= 3.3): the pool calls it
  before each new connection, so the whole DSN (host too) follows the file.
- `RedisUrlCredentials` is redis-py's own `CredentialProvider`: each new Redis connection
  asks it for the username and token in the file's URL. Only the credentials follow the
  file; host, port, TLS and database are taken from the URL at start.

Connections already open stay as they are (PostgreSQL and Redis authenticate only when a
connection opens). A file that cannot be used fails only the connection being opened,
with `SecretFileError` (or, for Redis, an `AuthenticationError` carrying its message)
naming the option and the path; the content is never shown, logged or put in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis
from redis.connection import parse_url
from redis.credentials import CredentialProvider

from stackspec.errors import BadInput


class SecretFileError(BadInput):
    """A credentials file that cannot be used: `option`, `path` and what is wrong with it."""

    def __init__(self, option: str, path: Path | str, problem: str) -> None:
        super().__init__(f"{option} {path}: {problem}")
        self.option, self.path, self.problem = option, Path(path), problem


def read_one_line(option: str, path: Path | str) -> str:
    """The one-line value in `path`, stripped; SecretFileError if it is missing, unreadable,
    not UTF-8, empty or more than one line."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise SecretFileError(option, path, "not UTF-8 text") from None
    except OSError as exc:
        raise SecretFileError(option, path, exc.strerror or type(exc).__name__) from None
    if not text:
        raise SecretFileError(option, path, "empty")
    if "\n" in text:
        raise SecretFileError(option, path, "more than one line")
    return text


@dataclass(frozen=True)
class DsnFile:
    """A PostgreSQL DSN kept in `path`; calling it reads the file now."""

    path: Path
    option: str = "--postgres-dsn-file"

    def __call__(self) -> str:
        """The DSN in the file now; SecretFileError if the file or the DSN is unusable."""
        dsn = read_one_line(self.option, self.path)
        try:
            psycopg.conninfo.conninfo_to_dict(dsn)
        except psycopg.Error:
            # libpq's message quotes the text it could not parse, which may be the password.
            raise SecretFileError(self.option, self.path, "not a PostgreSQL DSN") from None
        return dsn


@dataclass(frozen=True)
class RedisUrlCredentials(CredentialProvider):
    """The username and token of the Redis URL kept in `path`, read on every new connection.

    A URL with a username gives (username, token), as Redis ACL users need; one without,
    (token,), the ElastiCache AUTH token. A file that cannot be used, or whose URL holds no
    token, is an `redis.AuthenticationError`: redis-py then closes that connection and the
    command that needed it fails with this message."""

    path: Path
    option: str = "--redis-url-file"

    def get_credentials(self) -> tuple[str] | tuple[str, str]:
        try:
            url = _parse_url(read_one_line(self.option, self.path))
        except SecretFileError as err:
            raise redis.AuthenticationError(str(err)) from None
        except ValueError:
            # The message may quote the URL; say only what is wrong.
            raise redis.AuthenticationError(
                str(SecretFileError(self.option, self.path, "not a Redis URL"))
            ) from None
        username, token = url.get("username"), url.get("password")
        if not token:
            raise redis.AuthenticationError(
                str(SecretFileError(self.option, self.path, "the URL holds no token"))
            )
        return (str(username), str(token)) if username else (str(token),)


def _parse_url(url: str) -> dict[str, Any]:
    """redis-py's reading of a URL into connection keyword arguments (ValueError if bad)."""
    options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]  # untyped upstream
    return options


def redis_client(url: str, url_file: Path | None = None, **kwargs: object) -> redis.Redis:
    """A client for `url` (extra `kwargs` as `redis.Redis.from_url` takes them). With
    `url_file`, the file `url` was read from at start, every new connection takes its
    username and token from the file as it is then; a URL that held no token at start is
    used as it is."""
    options = _parse_url(url)
    if url_file is None or not options.get("password"):
        return redis.Redis.from_url(url, **kwargs)
    options.pop("username", None)
    options.pop("password")
    provider = RedisUrlCredentials(url_file)
    return redis.Redis.from_pool(
        redis.ConnectionPool(**{**kwargs, **options}, credential_provider=provider)
    )
