"""What a gate returns: per stack, the resources it checked, its findings and its blind spots."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One rule a resource breaks: `resource` is `PlannedResource.label` (`<type> <name>`),
    `rule` an id or a key path.

    Not `stackspec.stackfile.Problem`, though both are three strings: a Problem is a bad value in
    a file the operator edits (key, value found, what is allowed) and is raised before
    anything is planned; a Finding is a validator's verdict on a planned resource, collected
    into a GateResult and reported, never raised.
    """

    resource: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: [{self.rule}] {self.message}"


@dataclass
class GateResult:
    """The outcome of one gate on one stack. It passes when nothing failed.

    `unchecked` lists what the gate could not judge, each with the reason: reported, never
    counted as passed, and not a failure by itself.
    """

    gate: str
    stack: str
    checked: int = 0
    failures: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    note: str = ""  # what the gate checked against, e.g. the Kubernetes release

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        parts = [f"{self.checked} checked", f"{len(self.failures)} failed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.unchecked:
            parts.append(f"{len(self.unchecked)} unchecked")
        note = f" ({self.note})" if self.note else ""
        return f"{verdict} {self.gate:<10} {self.stack:<11} " + ", ".join(parts) + note
