"""Conversions between schema versions and document diffs, as literal tables."""

from __future__ import annotations

from typing import Any

import pytest

from runbooks.config.convert import Change, diff, flatten, migrate, round_trip_loss
from runbooks.config.files import validate_document
from runbooks.config.schema import ServiceSchemas
from runbooks.config.trading_api import TradingApiV1
from stackspec.errors import BadInput

V1 = {"schemaVersion": 1, "quoteTtlSeconds": 7, "maxOrderQuantity": 300, "ordersPageSize": 20}
V2_FLAG_OFF = {
    "schemaVersion": 2,
    "quotes": {"ttlSeconds": 7},
    "orders": {"maxQuantity": 300, "pageSize": 20},
    "features": {"bidAsk": False},
}
V2_FLAG_ON = {**V2_FLAG_OFF, "features": {"bidAsk": True}}


def test_up_regroups_every_setting() -> None:
    assert migrate("trading-api", V1, 1, 2) == V2_FLAG_OFF


def test_down_flattens_every_setting() -> None:
    assert migrate("trading-api", V2_FLAG_OFF, 2, 1) == V1


@pytest.mark.parametrize(
    ("document", "source", "target"),
    [(V1, 1, 2), (V2_FLAG_OFF, 2, 1), (V1, 1, 1), (V2_FLAG_ON, 2, 2)],
)
def test_lossless_round_trips(document: dict[str, Any], source: int, target: int) -> None:
    assert round_trip_loss("trading-api", document, source, target) == []
    there = migrate("trading-api", document, source, target)
    assert migrate("trading-api", there, target, source) == document


def test_down_with_a_flag_v1_cannot_hold_names_what_is_lost() -> None:
    assert round_trip_loss("trading-api", V2_FLAG_ON, 2, 1) == [
        Change("features.bidAsk", "changed", old=True, new=False)
    ]


def test_converted_documents_validate_against_their_schema() -> None:
    for document, source, target in ((V1, 1, 2), (V2_FLAG_ON, 2, 1)):
        converted = migrate("trading-api", document, source, target)
        assert validate_document(converted, "trading-api", "x").version == target


def test_an_unknown_version_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"schema versions: \[1, 2\]"):
        migrate("trading-api", V1, 1, 3)


DIFFS = [
    ({"a": 1}, {"a": 1}, []),
    ({"a": 1}, {"a": 2}, ["~ a: 1 -> 2"]),
    ({"a": {"b": 1}}, {"a": {"b": 1, "c": "x"}}, ['+ a.c: "x"']),
    ({"a": {"b": 1}, "z": True}, {"a": {"b": 1}}, ["- z: true"]),
    ({"b": 1, "a": [1]}, {"a": [2], "b": 1}, ["~ a: [1] -> [2]"]),
]


@pytest.mark.parametrize(("old", "new", "lines"), DIFFS)
def test_diff_is_key_by_key_and_readable(
    old: dict[str, Any], new: dict[str, Any], lines: list[str]
) -> None:
    assert [str(c) for c in diff(old, new)] == lines


def test_flatten_uses_dotted_keys() -> None:
    assert flatten(V2_FLAG_OFF)["orders.maxQuantity"] == 300


def test_a_schema_set_missing_a_conversion_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="down conversions must exist for"):
        ServiceSchemas("x", {1: TradingApiV1, 2: TradingApiV1}, up={1: dict}, down={})
