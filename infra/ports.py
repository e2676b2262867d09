"""The data tier's ports, shared by the security groups (infra.network) and the
NetworkPolicies (infra.netpol). A module without Pulumi imports, so both can use it."""

from __future__ import annotations

from stackspec.model import Streaming

POSTGRES_PORT = 5432
REDIS_PORT = 6379
# MSK's bootstrap port per client authentication (plaintext only without TLS).
MSK_PORTS = {"iam": 9098, "sasl-scram": 9096, "none": 9094}


def msk_port(streaming: Streaming) -> int:
    """The broker port MSK serves the stack's client authentication on."""
    if streaming.auth == "none" and not streaming.tls:
        return 9092
    return MSK_PORTS[streaming.auth]
