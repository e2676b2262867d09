"""When evidence stops counting, and the durable record that keeps it void.

Evidence of a release is void when
- the source stack's journal shows its version rolled back after the release's promotion
  (a revert release of any release of that version, started after the promotion), or
- a re-verification failed: a validly signed record no longer matches the source's journal.
  That failure is written to `<state dir of the source>/evidence-void.json`, keyed by
  release id, so the release's evidence stays void whatever is checked or exported later.
  (Kargo's "stale verified": a failed re-verification must not leave "verified" in place.)
Only a record whose signature checks can void a release: a forged file voids nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runbooks.evidence.record import FACTS, HISTORY_LIMIT, release_facts
from runbooks.journal.base import Journal
from stackspec.errors import JournalError

VOID_FILE = "evidence-void.json"


def void_path(state_dir: Path) -> Path:
    """The file of voided releases in a stack's state dir."""
    return state_dir / VOID_FILE


def voided(state_dir: Path) -> dict[str, dict[str, Any]]:
    """Release id -> {at, reason, digest} of every release whose evidence was voided."""
    try:
        data = json.loads(void_path(state_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise JournalError(
            f"the evidence void list {void_path(state_dir)} is unreadable: {err}",
            hint="restore it from a backup; deleting it would make void evidence valid again",
        ) from None
    return dict(data.get("releases", {}))


def record_void(state_dir: Path, release_id: str, reason: str, evidence_digest: str) -> None:
    """Durably mark the evidence of `release_id` void (the first reason is kept)."""
    entries = voided(state_dir)
    if release_id in entries:
        return
    entries[release_id] = {"at": time.time(), "reason": reason, "digest": evidence_digest}
    state_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"releases": entries}, indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".evidence-void-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, void_path(state_dir))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rolled_back_since(
    journal: Journal, stack: str, service: str, version: str, promoted_at: float
) -> str | None:
    """Why `version` counts as rolled back on `stack` since `promoted_at`, or None."""
    for record in journal.history(stack, service, limit=HISTORY_LIMIT):
        reverted_id = record.plan.get("reverts")
        if not reverted_id or record.started_at < promoted_at:
            continue
        reverted = journal.release(str(reverted_id))
        if reverted.version == version:
            return (
                f"{service} {version} was rolled back on stack '{stack}' by release "
                f"{record.id} at {_when(record.started_at)} ({record.outcome or 'running'}), "
                "after the evidence's promotion"
            )
    return None


def mismatches(journal: Journal, body: Mapping[str, Any]) -> list[str]:
    """The parts of `body` that no longer match what the source's journal says."""
    release_id = str(body.get("release", {}).get("id", ""))
    try:
        record = journal.release(release_id)
    except JournalError:
        return [f"release {release_id} is not in the source's journal"]
    facts = release_facts(record, journal.events(release_id))
    return [f"{key} differs from the journal" for key in FACTS if body.get(key) != facts[key]]


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
