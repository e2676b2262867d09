"""The canonical form of an evidence body: what its digest and its signature cover.

JSON with keys sorted at every level, no insignificant whitespace, UTF-8, no NaN or
infinity; floats as Python's shortest round-trip repr. The same value always gives the
same bytes, whichever process wrote the file or in which order its keys were read.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from stackspec.errors import BadInput

DIGEST_PREFIX = "sha256:"


def canonical(value: Any) -> bytes:
    """`value` as canonical JSON bytes; BadInput if it holds something JSON cannot."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise BadInput(f"evidence holds a value JSON cannot carry: {err}") from None
    return text.encode("utf-8")


def digest(value: Any) -> str:
    """`sha256:<hex>` of the canonical form of `value`."""
    return DIGEST_PREFIX + hashlib.sha256(canonical(value)).hexdigest()
