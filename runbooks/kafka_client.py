"""How a Kafka client (confluent-kafka) connects: plaintext on loopback and in dev, MSK IAM
over SASL_SSL on aws stacks.

MSK with IAM client authentication takes SASL/OAUTHBEARER over TLS (port 9098): the bearer
token is a SigV4-signed URL made from the caller's AWS credentials (on Kubernetes, the pod's
IRSA role) by aws-msk-iam-sasl-signer-python. confluent-kafka asks for a token through
`oauth_cb(oauth_config) -> (token, expiry in epoch seconds)` when it connects and before
the token expires (15 minutes).

`client_config(connection)` is the one place that builds the settings every producer,
consumer and admin client starts from; callers add their own keys (`group.id`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Security = Literal["plaintext", "msk-iam"]
SECURITIES: tuple[Security, ...] = ("plaintext", "msk-iam")
# region -> (token, expiry in epoch milliseconds), as MSKAuthTokenProvider.generate_auth_token
TokenSource = Callable[[str], tuple[str, float]]


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to authenticate to them."""

    bootstrap_servers: str
    security: Security = "plaintext"
    region: str | None = None

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            raise ValueError("bootstrap servers are not set")
        if self.security not in SECURITIES:
            raise ValueError(f"kafka security {self.security!r}; allowed: {list(SECURITIES)}")
        if self.security == "msk-iam" and not self.region:
            raise ValueError("kafka security 'msk-iam' needs the AWS region of the cluster")


def security_of(substrate: str, auth: str) -> Security:
    """The client security a stack needs: MSK IAM on aws stacks with `streaming.auth: iam`,
    plaintext elsewhere (the local broker and the in-cluster dev broker)."""
    if substrate != "aws":
        return "plaintext"
    if auth != "iam":
        raise ValueError(f"aws stacks connect with MSK IAM; streaming.auth is {auth!r}")
    return "msk-iam"


def msk_token_source(region: str) -> tuple[str, float]:
    """A fresh MSK IAM token for `region` from the default AWS credential chain."""
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # type: ignore[import-untyped]

    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
    return str(token), float(expiry_ms)


def oauth_callback(region: str, source: TokenSource) -> Callable[[str], tuple[str, float]]:
    """confluent-kafka's `oauth_cb`: a token from `source`, its expiry in epoch seconds."""

    def callback(_oauth_config: str) -> tuple[str, float]:
        token, expiry_ms = source(region)
        return token, expiry_ms / 1000

    return callback


def client_config(
    connection: KafkaConnection, token_source: TokenSource = msk_token_source
) -> dict[str, Any]:
    """The confluent-kafka settings for `connection` (no network is touched here)."""
    config: dict[str, Any] = {"bootstrap.servers": connection.bootstrap_servers}
    if connection.security == "plaintext":
        return config | {"security.protocol": "PLAINTEXT"}
    assert connection.region is not None  # checked by KafkaConnection
    return config | {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "OAUTHBEARER",
        "oauth_cb": oauth_callback(connection.region, token_source),
    }
