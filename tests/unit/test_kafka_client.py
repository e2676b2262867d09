"""The Kafka client settings builder: plaintext locally, MSK IAM over SASL_SSL on aws.

No broker and no AWS call: the token source is a plain function standing in for
MSKAuthTokenProvider.generate_auth_token.
"""

from __future__ import annotations

import time

import pytest

from runbooks.kafka_client import KafkaConnection, client_config, security_of

BROKERS = "b-1.trading.kafka.us-east-1.amazonaws.com:9098"


def test_plaintext_is_bootstrap_and_plaintext_only() -> None:
    config = client_config(KafkaConnection("127.0.0.1:19092"))
    assert config == {"bootstrap.servers": "127.0.0.1:19092", "security.protocol": "PLAINTEXT"}


def test_msk_iam_is_sasl_ssl_oauthbearer_with_a_signed_token() -> None:
    asked: list[str] = []

    def source(region: str) -> tuple[str, float]:
        asked.append(region)
        return "signed-url-token", 1_700_000_900_000.0

    config = client_config(KafkaConnection(BROKERS, "msk-iam", "eu-west-1"), source)

    assert config["bootstrap.servers"] == BROKERS
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanisms"] == "OAUTHBEARER"
    assert asked == []  # no token until the client connects
    token, expiry = config["oauth_cb"]("")
    assert (token, expiry) == ("signed-url-token", 1_700_000_900.0)  # seconds, not ms
    assert asked == ["eu-west-1"]


def test_confluent_kafka_takes_the_config_and_asks_for_a_token() -> None:
    """A real confluent-kafka client (no broker needed: it connects lazily) accepts the
    settings and fetches its token through oauth_cb when it starts."""
    from confluent_kafka.admin import AdminClient

    asked: list[str] = []

    def source(region: str) -> tuple[str, float]:
        asked.append(region)
        return "token", (time.time() + 900) * 1000

    AdminClient(client_config(KafkaConnection(BROKERS, "msk-iam", "us-east-1"), source))
    assert asked == ["us-east-1"]


def test_msk_iam_without_region_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the AWS region"):
        KafkaConnection(BROKERS, "msk-iam", None)


def test_unknown_security_and_missing_brokers_are_refused() -> None:
    with pytest.raises(ValueError, match="allowed: \\['plaintext', 'msk-iam'\\]"):
        KafkaConnection(BROKERS, "sasl-plain")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bootstrap servers are not set"):
        KafkaConnection("")


@pytest.mark.parametrize(
    ("substrate", "auth", "expected"),
    [
        ("aws", "iam", "msk-iam"),
        ("kubernetes", "none", "plaintext"),
        ("local", "none", "plaintext"),
    ],
)
def test_security_follows_the_substrate(substrate: str, auth: str, expected: str) -> None:
    assert security_of(substrate, auth) == expected


def test_aws_without_iam_is_refused() -> None:
    with pytest.raises(ValueError, match="MSK IAM"):
        security_of("aws", "none")


def test_the_real_token_source_is_the_msk_signer() -> None:
    """The default source calls aws-msk-iam-sasl-signer (pinned dependency) for the region."""
    from unittest import mock

    from runbooks.kafka_client import msk_token_source

    with mock.patch(
        "aws_msk_iam_sasl_signer.MSKAuthTokenProvider.generate_auth_token",
        return_value=("tok", 123000),
    ) as generate:
        assert msk_token_source("ap-south-1") == ("tok", 123000.0)
    generate.assert_called_once_with("ap-south-1")


def test_sample_services_take_msk_iam_from_their_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pods on aws stacks set TRADING_KAFKA_SECURITY=msk-iam and AWS_REGION."""
    from samples.options import parse

    monkeypatch.setenv("TRADING_KAFKA_SECURITY", "msk-iam")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("TRADING_BOOTSTRAP_SERVERS", BROKERS)
    connection = parse("market-data", []).kafka
    assert connection == KafkaConnection(BROKERS, "msk-iam", "eu-central-1")
    monkeypatch.delenv("TRADING_KAFKA_SECURITY")
    assert parse("market-data", []).kafka.security == "plaintext"
