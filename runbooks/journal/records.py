"""What the SQL backends share: release ids, JSON encoding, row decoding, input checks."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.journal.base import INTENTS, Intent, LockHolder, ReleaseRecord
from stackspec.errors import BadInput, JournalError

RELEASE_COLUMNS = "id, stack, service, version, plan, started_at, finished_at, outcome"
INTENT_COLUMNS = "id, release_id, intent, requested_by, at"
LOCK_COLUMNS = "holder, host, pid, since"
# A service's releases include the multi-service releases it is a member of: their service
# column names the members joined by "+" (`trading-api+market-data`).
SERVICE_MATCH = "(service = ? OR ('+' || service || '+') LIKE ?)"


def service_args(service: str) -> tuple[str, str]:
    """The parameters of SERVICE_MATCH for `service`."""
    return service, f"%+{service}+%"


def new_release_id(now: float) -> str:
    """A unique id that sorts by start time and reads well: `20250101T120000-3f9a1c`."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "-" + secrets.token_hex(3)


def encode(data: Mapping[str, Any] | None, what: str) -> str:
    """`data` as JSON text; JournalError (before anything is written) if it is not JSON."""
    try:
        return json.dumps(dict(data or {}), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise JournalError(
            f"the {what} cannot be journaled: {err}",
            hint="pass only JSON values (str, int, float, bool, None, lists, dicts)",
        ) from None


def decode(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """A JSON column back as a dict (PostgreSQL's jsonb arrives decoded already)."""
    return dict(json.loads(value) if isinstance(value, str) else value)


def release_from_row(row: Sequence[Any]) -> ReleaseRecord:
    """A `RELEASE_COLUMNS` row as a record."""
    rid, stack, service, version, plan, started, finished, outcome = row
    return ReleaseRecord(
        id=rid,
        stack=stack,
        service=service,
        version=version,
        plan=decode(plan),
        started_at=float(started),
        finished_at=None if finished is None else float(finished),
        outcome=outcome,
    )


def intent_from_row(row: Sequence[Any]) -> Intent:
    """An `INTENT_COLUMNS` row as an intent."""
    iid, release_id, intent, by, at = row
    return Intent(id=int(iid), release_id=release_id, intent=intent, by=by, at=float(at))


def holder_from_row(row: Sequence[Any]) -> LockHolder:
    """A `LOCK_COLUMNS` row as a lock owner."""
    holder, host, pid, since = row
    return LockHolder(holder=holder, host=host, pid=int(pid), since=float(since))


def check_intent(intent: str) -> None:
    """BadInput unless `intent` is one the engine knows."""
    if intent not in INTENTS:
        raise BadInput(f"unknown intent '{intent}'", hint=f"choose one of: {', '.join(INTENTS)}")


def no_release(release_id: str) -> JournalError:
    """The error for an id the journal does not have."""
    return JournalError(
        f"no release '{release_id}' in the journal",
        hint="`runbook status` lists the stack's releases and their ids",
    )


def finished_release(record: ReleaseRecord) -> JournalError:
    """The error for writing to a release that has ended."""
    return JournalError(
        f"release '{record.id}' of {record.stack}/{record.service} already finished "
        f"({record.outcome})",
        hint="start a new release; a finished one is read-only",
    )


def still_open(record: ReleaseRecord) -> JournalError:
    """The error for starting a release while another of the same service is open."""
    named = f"-s {record.stack} --service {record.service.partition('+')[0]}"  # any member
    return JournalError(
        f"release '{record.id}' of {record.stack}/{record.service} ({record.version}) "
        "has not finished",
        hint=f"`runbook status {named}` shows where it stopped; then `runbook resume {named}` "
        f"or `runbook rollback {named}`",
    )


def nothing_in_progress(stack: str, service: str, intent: str) -> BadInput:
    """The error for an operator intent with no release to act on."""
    return BadInput(
        f"cannot {intent}: no release of {stack}/{service} is in progress",
        hint=f"`runbook status -s {stack} --service {service}` shows the latest release",
    )
