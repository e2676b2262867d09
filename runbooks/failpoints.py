"""Failpoints: a pause between an action's effect and its journal record, for the drills.

A crash drill must kill the engine *inside* an action: after its effect (the cache key
bumped, the stack state written) and before the journal says it is done. Most actions take
milliseconds, less than a kill aimed from outside can hit. So, as etcd's gofail and
CockroachDB's testing knobs do, the engine can be told to hold there:

    RUNBOOK_FAILPOINTS="ApplyReleaseStep:cache-bump=5,WriteStackState=5"

makes `runbook rollout` sleep 5 s after performing an action whose type (or `type:name`,
for release steps) is named, before journaling its end (resume and rollback never hold).
Unset, as in every normal run, nothing holds. A malformed value, or one set for a stack
that is not local, is refused (BadInput) before the release starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from stackspec.errors import BadInput

ENV = "RUNBOOK_FAILPOINTS"
MAX_HOLD_SECONDS = 600.0
FORM = "TYPE[:NAME]=SECONDS[,...] (e.g. ApplyReleaseStep:cache-bump=5)"


def parse(text: str) -> dict[str, float]:
    """`{"Type" or "Type:name": seconds}` from the variable's text; BadInput naming it."""
    holds: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = (part.strip() for part in item.partition("="))
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not sep or not key or not 0 <= seconds <= MAX_HOLD_SECONDS:
            raise BadInput(
                f"{ENV}: {item[:80]!r} is not a failpoint",
                hint=f"{FORM}; seconds 0-{MAX_HOLD_SECONDS:g}",
            )
        holds[key] = seconds
    return holds


def from_environment(env: Mapping[str, str] | None = None, local: bool = True) -> dict[str, float]:
    """The failpoints `RUNBOOK_FAILPOINTS` sets (none when unset or empty); BadInput when
    any is set for a stack that is not `local` (a drill knob never holds a real release)."""
    holds = parse((os.environ if env is None else env).get(ENV, ""))
    if holds and not local:
        raise BadInput(f"{ENV} is for drills on the local stack only", hint=f"unset {ENV}")
    return holds


def hold(holds: Mapping[str, float], action_type: str, name: str | None) -> None:
    """Sleep as long as `holds` says for this action (`type:name` first, then `type`)."""
    seconds = holds.get(f"{action_type}:{name}") if name else None
    if seconds is None:
        seconds = holds.get(action_type)
    if seconds:
        time.sleep(seconds)  # the failpoint itself: a drill kills the engine meanwhile
