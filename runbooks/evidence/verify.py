"""Checking an evidence file: shape, digest, signature, then whether it is void.

A file is `valid` when its body's canonical form has the recorded digest and the
signature over that form checks with the verification key; `void` reasons come after (see
`runbooks.evidence.voids`). With the source stack's journal at hand, a valid record is also
re-verified against it, and a failure is recorded durably before it is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbooks.evidence.canonical import canonical, digest
from runbooks.evidence.record import SCHEMA
from runbooks.evidence.signing import VerifyKey
from runbooks.evidence.voids import mismatches, record_void, rolled_back_since, voided
from runbooks.journal.base import Journal
from stackspec.errors import BadInput
from stackspec.safeload import load_json


@dataclass(frozen=True)
class Source:
    """The source stack's journal and state dir, to check evidence against."""

    stack: str
    journal: Journal
    state_dir: Path


@dataclass(frozen=True)
class Verification:
    """What checking one evidence document found."""

    digest: str | None
    problems: list[str] = field(default_factory=list)  # invalid: do not trust the body
    void: list[str] = field(default_factory=list)  # valid, but no longer counts
    against_source: bool = False  # re-verified against the source's journal

    @property
    def ok(self) -> bool:
        """Valid and not void."""
        return not self.problems and not self.void

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "digest": self.digest,
            "problems": self.problems,
            "void": self.void,
            "againstSource": self.against_source,
        }


def read_document(path: Path) -> dict[str, Any]:
    """The evidence file at `path` as a dict; BadInput if it is missing or not JSON."""
    try:
        data = load_json(path, "evidence file")
    except FileNotFoundError:
        raise BadInput(
            f"no evidence file {path}", hint="export it with `runbook evidence export`"
        ) from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not an evidence file (a JSON object is expected)")
    return data


def verify_document(
    document: Mapping[str, Any], key: VerifyKey, source: Source | None = None
) -> Verification:
    """Check `document` with `key`; against `source` (its journal and void list) if given."""
    problems = _shape_problems(document)
    if problems:
        return Verification(None, problems)
    body = document["evidence"]
    found = digest(body)
    if found != document["digest"]:
        problems.append(
            f"digest mismatch: the record says {document['digest']}, its content is {found} "
            "(changed after it was signed)"
        )
    signature = document["signature"]
    if signature.get("alg") != key.alg:
        problems.append(
            f"signed with {signature.get('alg')}, but the verification key is {key.alg}"
        )
    elif not key.verify(canonical(body), str(signature.get("value", ""))):
        problems.append(
            f"signature does not check with key {key.key_id} (the record was changed, or "
            f"signed with another key: {signature.get('keyId')})"
        )
    if problems or source is None:
        return Verification(found, problems)
    return Verification(found, [], _void_reasons(body, found, source), against_source=True)


def _void_reasons(body: Mapping[str, Any], found: str, source: Source) -> list[str]:
    release = body["release"]
    reasons = []
    earlier = voided(source.state_dir).get(str(release["id"]))
    if earlier:
        reasons.append(f"evidence of release {release['id']} was voided: {earlier['reason']}")
    rolled = rolled_back_since(
        source.journal,
        source.stack,
        str(body["service"]),
        str(body["version"]),
        float(release["promotedAt"]),
    )
    if rolled:
        reasons.append(rolled)
    differ = mismatches(source.journal, body)
    if differ and not earlier:
        reason = "re-verification against the source's journal failed: " + "; ".join(differ)
        record_void(source.state_dir, str(release["id"]), reason, found)
        reasons.append(reason)
    return reasons


def _shape_problems(document: Mapping[str, Any]) -> list[str]:
    body = document.get("evidence")
    signature = document.get("signature")
    if not isinstance(body, dict) or not isinstance(document.get("digest"), str):
        return ["not an evidence record: `evidence` (object) and `digest` (string) are required"]
    if not isinstance(signature, dict):
        return ["the record is not signed: `signature` is missing"]
    if body.get("schema") != SCHEMA:
        return [f"unknown evidence schema {body.get('schema')!r}; this tool reads {SCHEMA}"]
    release = body.get("release")
    if not isinstance(release, dict) or not isinstance(release.get("promotedAt"), int | float):
        return ["the record names no promoted release (`release.promotedAt`)"]
    return []
