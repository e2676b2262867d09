"""Command-line options shared by the sample services, each with an environment fallback.

Faults for drills are set at start: `--error-rate 0.2` answers that share of requests with
500, `--added-latency-ms` delays every request, `--fail-health` makes /health answer 503,
`--crash-on-start` exits with status 1 before listening.

`--config FILE` is the service's runtime configuration (see `samples.live_config`); it is
re-read on SIGHUP.

`--kafka-security msk-iam` (with `--aws-region`, default `$AWS_REGION`) connects to MSK
with IAM over SASL_SSL, as pods on aws stacks do with their IRSA role; the default
`plaintext` is for the local and in-cluster brokers.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from runbooks.kafka_client import SECURITIES, KafkaConnection, Security


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
    postgres_dsn: str
    redis_url: str
    bootstrap_servers: str
    cache_key_version: int
    quote_max_age: int
    faults: Faults
    config_path: Path | None = None
    kafka_security: str = "plaintext"
    aws_region: str | None = None

    @property
    def kafka(self) -> KafkaConnection:
        """How this service connects to the brokers (raises ValueError if unusable)."""
        security: Security = "msk-iam" if self.kafka_security == "msk-iam" else "plaintext"
        return KafkaConnection(self.bootstrap_servers, security, self.aws_region)


def _env(name: str, default: str) -> str:
    return os.environ.get(f"TRADING_{name}", default)


def parse(service: str, argv: list[str] | None = None) -> Options:
    """Parse the flags of `service`; unset flags fall back to `TRADING_<NAME>` variables."""
    parser = argparse.ArgumentParser(prog=f"python -m samples.{service.replace('-', '_')}")
    add = parser.add_argument
    add("--color", choices=["blue", "green"], default=_env("COLOR", "blue"))
    add("--version", default=_env("VERSION", "0.0.0"))
    add("--port", type=int, default=int(_env("PORT", "8080")))
    add("--postgres-dsn", default=_env("POSTGRES_DSN", "postgresql://postgres@127.0.0.1/trading"))
    add("--redis-url", default=_env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    add("--bootstrap-servers", default=_env("BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    add("--kafka-security", choices=SECURITIES, default=_env("KAFKA_SECURITY", "plaintext"))
    add("--aws-region", default=os.environ.get("AWS_REGION") or None)
    add("--cache-key-version", type=int, default=int(_env("CACHE_KEY_VERSION", "1")))
    add("--quote-max-age", type=int, default=int(_env("QUOTE_MAX_AGE", "1")))
    add("--config", default=_env("CONFIG", "") or None, help="runtime configuration file")
    add("--error-rate", type=float, default=float(_env("ERROR_RATE", "0")))
    add("--added-latency-ms", type=int, default=int(_env("ADDED_LATENCY_MS", "0")))
    add("--fail-health", action="store_true", default=_env("FAIL_HEALTH", "") == "1")
    add("--crash-on-start", action="store_true", default=_env("CRASH_ON_START", "") == "1")
    ns = parser.parse_args(argv)
    if not 0 <= ns.error_rate <= 1:
        parser.error(f"--error-rate must be within 0..1; got {ns.error_rate}")
    faults = Faults(ns.error_rate, ns.added_latency_ms, ns.fail_health, ns.crash_on_start)
    return Options(
        ns.color,
        ns.version,
        ns.port,
        ns.postgres_dsn,
        ns.redis_url,
        ns.bootstrap_servers,
        ns.cache_key_version,
        ns.quote_max_age,
        faults,
        Path(ns.config) if ns.config else None,
        ns.kafka_security,
        ns.aws_region,
    )
