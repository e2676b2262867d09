"""RDS snapshot and instance identifier rules (pure: no AWS call)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runbooks.migrations.rds_snapshot import (
    MAX_INSTANCE_ID,
    MAX_SNAPSHOT_ID,
    is_valid_identifier,
    snapshot_identifier,
)

NOW = datetime(2026, 11, 26, 19, 40, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ident", "valid"),
    [
        ("staging-trading-writer", True),
        ("a", True),
        ("a1-b2", True),
        ("1abc", False),  # a letter first
        ("-abc", False),
        ("abc-", False),  # no trailing hyphen
        ("ab--c", False),  # no double hyphen
        ("ab_c", False),
        ("ab.c", False),
        ("Abc", False),  # RDS stores identifiers lowercase
        ("", False),
        ("a" * MAX_SNAPSHOT_ID, True),
        ("a" * (MAX_SNAPSHOT_ID + 1), False),
    ],
)
def test_snapshot_identifier_rule(ident: str, valid: bool) -> None:
    assert is_valid_identifier(ident) is valid


def test_instance_identifiers_are_at_most_63() -> None:
    assert is_valid_identifier("a" * MAX_INSTANCE_ID, MAX_INSTANCE_ID)
    assert not is_valid_identifier("a" * (MAX_INSTANCE_ID + 1), MAX_INSTANCE_ID)


def test_identifier_names_instance_release_and_time() -> None:
    ident = snapshot_identifier("staging-trading-writer", "1.4.0", NOW)

    head, _, random_hex = ident.rpartition("-")
    assert head == "release-staging-trading-writer-1-4-0-20261126t194005z"
    assert len(random_hex) == 8 and int(random_hex, 16) >= 0
    assert is_valid_identifier(ident)


@pytest.mark.parametrize(
    "label",
    ["1.4.0+build.7", "--v2__RC1--", "release/2026 11 26", "ünïcode", "...", "", "x" * 400],
)
def test_any_label_gives_a_valid_identifier(label: str) -> None:
    ident = snapshot_identifier("staging-trading-writer", label, NOW)

    assert is_valid_identifier(ident), ident
    assert len(ident) <= MAX_SNAPSHOT_ID


def test_identifiers_are_unique_for_the_same_release_and_second() -> None:
    made = {snapshot_identifier("w", "1.0.0", NOW) for _ in range(50)}

    assert len(made) == 50


def test_label_characters_are_sanitized() -> None:
    assert "-1-4-0-build-7-" in snapshot_identifier("w", "1.4.0+build.7", NOW)
    assert "-v2-rc1-" in snapshot_identifier("w", "--v2__RC1--", NOW)
