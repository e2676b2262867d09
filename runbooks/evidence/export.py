"""Exporting a promoted release's evidence, and finding the journal to check it against."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runbooks.evidence.canonical import canonical, digest
from runbooks.evidence.identity import actor, shape_digest
from runbooks.evidence.record import build_body, promoted_release, release_facts, started_by
from runbooks.evidence.signing import SigningKey
from runbooks.evidence.verify import Source
from runbooks.evidence.voids import rolled_back_since, voided
from runbooks.journal.sqlite import JOURNAL_FILE
from runbooks.session import open_journal, runbook_state_dir
from stackspec.errors import BadInput
from stackspec.stackfile import load_stack


def reachable_source(stack: str) -> Source | None:
    """The journal of `stack` if there is one to read (PostgreSQL, or an existing SQLite
    file in its state dir); None otherwise. Never creates a journal."""
    state_dir = runbook_state_dir(stack)
    if os.environ.get("RUNBOOK_JOURNAL_DSN") or (state_dir / JOURNAL_FILE).exists():
        return Source(stack, open_journal(stack), state_dir)
    return None


def export_document(
    stack: str, service: str, version: str, key: SigningKey, now: float | None = None
) -> dict[str, Any]:
    """The signed evidence of the newest promoted release of `service` at `version` on
    `stack`. BadInput when there is none, or its version was rolled back since, or its
    evidence was voided."""
    settings = load_stack(stack)
    source = reachable_source(stack)
    if source is None:
        raise BadInput(
            f"stack '{stack}' has no journal at {runbook_state_dir(stack)}",
            hint="export on the machine (or with the RUNBOOK_STATE_DIR / RUNBOOK_JOURNAL_DSN) "
            "that ran its releases",
        )
    record = promoted_release(source.journal, stack, service, version)
    events = source.journal.events(record.id)
    facts = release_facts(record, events)
    promoted_at = float(facts["release"]["promotedAt"])
    rolled = rolled_back_since(source.journal, stack, service, version, promoted_at)
    earlier = voided(source.state_dir).get(record.id)
    if rolled or earlier:
        raise BadInput(
            f"the evidence of release {record.id} is void: "
            + (rolled or f"a re-verification failed ({earlier and earlier['reason']})"),
            hint="release the version again; void evidence cannot be exported",
        )
    identity = {
        "name": stack,
        "substrate": settings.substrate.value,
        "shapeDigest": shape_digest(stack),
    }
    body = build_body(identity, facts, started_by(events), actor(), now)
    return {
        "evidence": body,
        "digest": digest(body),
        "signature": {"alg": key.alg, "keyId": key.key_id, "value": key.sign(canonical(body))},
    }


def write_document(document: dict[str, Any], path: Path) -> None:
    """Write an evidence document as indented JSON (the body is checked in canonical form,
    so the file's layout does not matter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def default_path(stack: str, service: str, version: str) -> Path:
    """Where evidence goes without --out: `<state dir>/evidence/<service>-<version>.json`."""
    return runbook_state_dir(stack) / "evidence" / f"{service}-{version}.json"
