"""The drill faults a sample service can be started with, and their allowed values: one
schema read by `runbook rollout --fault` and by the sample services' own flags.

    error-rate=0.2          share of requests answered 500: a number from 0 to 1
    added-latency-ms=50     delay of every request: a whole number from 0 to 60000
    fail-health[=true]      /health answers 503: true/false (yes/no, on/off, 1/0)
    crash-on-start[=true]   the process exits 1 before listening: as fail-health

Anything else is refused with BadInput (exit 2) naming the fault and its allowed values,
before anything is recorded: `error-rate=5`, `-1` and `nan` used to start a release that
crashed, `fail-health=no` was read as true and `added-latency-ms=-50` ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from stackspec.errors import BadInput
from stackspec.safeload import shorten

MAX_LATENCY_MS = 60_000
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class FaultSet(BaseModel):
    """Validated faults (field names in snake case, as `samples.options.Faults`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    added_latency_ms: Annotated[int, Field(ge=0, le=MAX_LATENCY_MS)] = 0
    fail_health: StrictBool = False
    crash_on_start: StrictBool = False

    @field_validator("fail_health", "crash_on_start", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        return value


ALLOWED = {
    "error-rate": "a number from 0 to 1 (e.g. 0.2)",
    "added-latency-ms": f"a whole number of milliseconds from 0 to {MAX_LATENCY_MS}",
    "fail-health": "no value, or true/false (yes/no, on/off, 1/0)",
    "crash-on-start": "no value, or true/false (yes/no, on/off, 1/0)",
}
_FLAGS = ("fail-health", "crash-on-start")


def parse_faults(items: Sequence[str]) -> dict[str, Any]:
    """`error-rate=0.2` style items as FaultSet keyword arguments (only those given);
    BadInput naming the fault and its allowed values for anything else."""
    given: dict[str, Any] = {}
    for item in items:
        name, has_value, raw = item.partition("=")
        if name not in ALLOWED:
            raise BadInput(
                f"unknown fault {shorten(name, 40)!r}", hint=f"allowed: {', '.join(ALLOWED)}"
            )
        if name in given:
            raise BadInput(f"fault {name} given twice", hint="give each fault once")
        given[name] = raw if has_value or name not in _FLAGS else "true"
    faults = check_faults({name.replace("-", "_"): value for name, value in given.items()})
    return faults.model_dump(include={name.replace("-", "_") for name in given})


def check_faults(values: dict[str, Any], prefix: str = "fault ") -> FaultSet:
    """`values` (snake-case keys) as a FaultSet, or BadInput naming the first bad one."""
    try:
        return FaultSet.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]).replace("_", "-") if first["loc"] else "?"
        got = shorten(str(first.get("input")), 40)
        raise BadInput(
            f"{prefix}{name}={got} is not allowed",
            hint=f"allowed: {ALLOWED.get(name, ', '.join(ALLOWED))}",
        ) from None
