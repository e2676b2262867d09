"""The canonical serialisation that digests and signatures cover."""

from __future__ import annotations

import hashlib
import math

import pytest

from runbooks.evidence.canonical import canonical, digest
from stackspec.errors import BadInput


def test_same_value_same_bytes_whatever_the_key_order() -> None:
    # given two dicts equal in value, built in different orders
    a = {"b": 1, "a": {"y": [1.5, None], "x": True}}
    b = {"a": {"x": True, "y": [1.5, None]}, "b": 1}
    # then their canonical forms are byte for byte the same
    assert canonical(a) == canonical(b) == b'{"a":{"x":true,"y":[1.5,null]},"b":1}'


def test_text_is_utf8_not_escaped() -> None:
    assert canonical({"who": "Zoë"}) == '{"who":"Zoë"}'.encode()


def test_digest_is_sha256_of_the_canonical_bytes() -> None:
    value = {"version": "1.5.0", "windows": [0.25]}
    expected = hashlib.sha256(b'{"version":"1.5.0","windows":[0.25]}').hexdigest()
    assert digest(value) == f"sha256:{expected}"


def test_a_changed_value_changes_the_digest() -> None:
    assert digest({"value": 0.01}) != digest({"value": 0.010000001})


@pytest.mark.parametrize("bad", [math.nan, math.inf, object()])
def test_values_json_cannot_carry_are_refused(bad: object) -> None:
    with pytest.raises(BadInput, match="JSON cannot carry"):
        canonical({"value": bad})
