"""Command-line options shared by the sample services, each with an environment fallback.

Faults for drills are set at start: `--error-rate 0.2` answers that share of requests with
500, `--added-latency-ms` delays every request, `--fail-health` makes /health answer 503,
`--crash-on-start` exits with status 1 before listening.

`--config FILE` is the service's runtime configuration (see `samples.live_config`); it is
re-read on SIGHUP.

`--kafka-security msk-iam` (with `--aws-region`, default `$AWS_REGION`) connects to MSK
with IAM over SASL_SSL, as pods on aws stacks do with their IRSA role; the default
`plaintext` is for the local and in-cluster brokers.

`--postgres-dsn-file FILE` / `--redis-url-file FILE` (`TRADING_POSTGRES_DSN_FILE`,
`TRADING_REDIS_URL_FILE`) take the connection string from a file instead, as pods on aws
stacks do: the strings hold the password and token, rendered by External Secrets Operator
into files under /etc/trading/credentials (infra.secrets), so they never sit in argv or the
environment. Each is exclusive with its plain option (flag or variable). The file is read
at start: a missing, unreadable, non-UTF-8, empty or multi-line file stops the service
with one line on stderr naming the option and the file, never its content, and exit
status 2 (a usage error, as argparse's own). The services read it again for every new
connection (`samples.credential_files`), so a rotated password or token is picked up
without a restart.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from runbooks.faults import check_faults
from runbooks.kafka_client import SECURITIES, KafkaConnection, Security
from samples.credential_files import DsnFile, SecretFileError, read_one_line
from stackspec.errors import BadInput


@dataclass(frozen=True)
class Faults:
    """Faults injected into a sample service for a drill."""

    error_rate: float = 0.0
    added_latency_ms: int = 0
    fail_health: bool = False
    crash_on_start: bool = False

    def as_flags(self) -> list[str]:
        """The command-line flags that set these faults."""
        flags = [f"--error-rate={self.error_rate}", f"--added-latency-ms={self.added_latency_ms}"]
        flags += ["--fail-health"] if self.fail_health else []
        return flags + (["--crash-on-start"] if self.crash_on_start else [])


@dataclass(frozen=True)
class Options:
    """Everything a sample service is started with."""

    color: str
    version: str
    port: int
    postgres_dsn: str = field(repr=False)  # may hold a password
    redis_url: str = field(repr=False)  # may hold the AUTH token
    bootstrap_servers: str
    cache_key_version: int
    quote_max_age: int
    faults: Faults
    config_path: Path | None = None
    kafka_security: str = "plaintext"
    aws_region: str | None = None
    postgres_dsn_file: Path | None = None  # postgres_dsn was read from it at start
    redis_url_file: Path | None = None  # redis_url was read from it at start

    @property
    def postgres_conninfo(self) -> str | DsnFile:
        """What the pool connects with: the DSN file, read per new connection, if given."""
        return DsnFile(self.postgres_dsn_file) if self.postgres_dsn_file else self.postgres_dsn

    @property
    def kafka(self) -> KafkaConnection:
        """How this service connects to the brokers (raises ValueError if unusable)."""
        security: Security = "msk-iam" if self.kafka_security == "msk-iam" else "plaintext"
        return KafkaConnection(self.bootstrap_servers, security, self.aws_region)


def _env(name: str, default: str) -> str:
    return os.environ.get(f"TRADING_{name}", default)


LOCAL_POSTGRES_DSN = "postgresql://postgres@127.0.0.1/trading"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def read_secret_file(prog: str, option: str, path: str) -> str:
    """The one-line value in `path`, stripped; on any problem print one line naming
    `option` and `path` (never the content) to stderr and exit 2."""
    try:
        return read_one_line(option, path)
    except SecretFileError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def _connection(
    parser: argparse.ArgumentParser, name: str, plain: str | None, file: str | None, default: str
) -> str:
    """The plain value, the file's, or the local default; both given is a usage error."""
    flag = "--" + name.lower().replace("_", "-")
    if plain is not None and file is not None:
        parser.error(
            f"{flag} (or TRADING_{name}) and {flag}-file (or TRADING_{name}_FILE) "
            "are exclusive; give one"
        )
    if file is not None:
        return read_secret_file(parser.prog, f"{flag}-file", file)
    return plain if plain is not None else default


def _faults(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> Faults:
    """The fault flags (or TRADING_* variables) checked against runbooks.faults' ranges;
    a usage error (exit 2) naming the flag and its allowed values otherwise."""
    names = ("error_rate", "added_latency_ms", "fail_health", "crash_on_start")
    try:
        checked = check_faults({name: getattr(ns, name) for name in names}, prefix="--")
    except BadInput as err:
        parser.error(f"{err.message}; {err.hint}")
    return Faults(
        checked.error_rate, checked.added_latency_ms, checked.fail_health, checked.crash_on_start
    )


def parse(service: str, argv: list[str] | None = None) -> Options:
    """Parse the flags of `service`; unset flags fall back to `TRADING_<NAME>` variables."""
    parser = argparse.ArgumentParser(prog=f"python -m samples.{service.replace('-', '_')}")
    add = parser.add_argument
    add("--color", choices=["blue", "green"], default=_env("COLOR", "blue"))
    add("--version", default=_env("VERSION", "0.0.0"))
    add("--port", type=int, default=int(_env("PORT", "8080")))
    add("--postgres-dsn", default=_env("POSTGRES_DSN", "") or None)
    add("--postgres-dsn-file", default=_env("POSTGRES_DSN_FILE", "") or None, metavar="FILE")
    add("--redis-url", default=_env("REDIS_URL", "") or None)
    add("--redis-url-file", default=_env("REDIS_URL_FILE", "") or None, metavar="FILE")
    add("--bootstrap-servers", default=_env("BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    add("--kafka-security", choices=SECURITIES, default=_env("KAFKA_SECURITY", "plaintext"))
    add("--aws-region", default=os.environ.get("AWS_REGION") or None)
    add("--cache-key-version", type=int, default=int(_env("CACHE_KEY_VERSION", "1")))
    add("--quote-max-age", type=int, default=int(_env("QUOTE_MAX_AGE", "1")))
    add("--config", default=_env("CONFIG", "") or None, help="runtime configuration file")
    # Fault values are checked by runbooks.faults (the schema `runbook rollout --fault` uses).
    add("--error-rate", default=_env("ERROR_RATE", "0"))
    add("--added-latency-ms", default=_env("ADDED_LATENCY_MS", "0"))
    add("--fail-health", action="store_true", default=_env("FAIL_HEALTH", "false"))
    add("--crash-on-start", action="store_true", default=_env("CRASH_ON_START", "false"))
    ns = parser.parse_args(argv)
    faults = _faults(parser, ns)
    dsn = _connection(
        parser, "POSTGRES_DSN", ns.postgres_dsn, ns.postgres_dsn_file, LOCAL_POSTGRES_DSN
    )
    redis_url = _connection(parser, "REDIS_URL", ns.redis_url, ns.redis_url_file, LOCAL_REDIS_URL)
    return Options(
        ns.color,
        ns.version,
        ns.port,
        dsn,
        redis_url,
        ns.bootstrap_servers,
        ns.cache_key_version,
        ns.quote_max_age,
        faults,
        Path(ns.config) if ns.config else None,
        ns.kafka_security,
        ns.aws_region,
        Path(ns.postgres_dsn_file) if ns.postgres_dsn_file else None,
        Path(ns.redis_url_file) if ns.redis_url_file else None,
    )
