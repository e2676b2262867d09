"""Promotion: a rollout on a target stack that carries a source stack's evidence.

`admit(...)` runs every check and returns an `Admission`, whose failed checks say exactly
what is missing; `runbook rollout --from` refuses (BadInput, exit 2) unless all pass:
- evidence: given (--evidence) or exported on the fly from the source's journal; valid
  (digest and signature), for the service asked, from the source named, and not void;
- soak: the source has run the version at least the target's `requiredSoakSeconds` since
  it promoted it;
- approvals: at least the target's `approvals` distinct approvers of the service's version
  (`runbook approve`, kept in `<target's state dir>/approvals.json`);
- policies: the target's offline plan passes its policy pack (a local target has no Pulumi
  plan: that check is skipped, and says so);
- parity: the two stacks have the same shape (`runbook plan --parity`; two local stacks
  compare their stack files' shapes; a local and a Pulumi stack differ by substrate).
A stack whose file has `promotion.requireEvidenceFrom` accepts no rollout without `--from`
that stack. The outcome is kept as a decision record (JSON) for CI.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runbooks.evidence.export import export_document, reachable_source
from runbooks.evidence.identity import actor, file_shape, shape_differences
from runbooks.evidence.signing import signing_key, verify_key
from runbooks.evidence.verify import read_document, verify_document
from runbooks.session import runbook_state_dir
from stackspec.errors import BadInput
from stackspec.model import Promotion, StackSettings, Substrate
from stackspec.safeload import load_json
from stackspec.stackfile import load_stack

APPROVALS_FILE = "approvals.json"
DECISION_SCHEMA = "runbook.promotion-decision/1"


@dataclass(frozen=True)
class Check:
    """One condition of a promotion: its name, whether it holds, and why."""

    name: str
    ok: bool
    detail: str


@dataclass
class Admission:
    """Everything the checks found; `ok` when a rollout may start."""

    target: str
    source: str | None
    service: str
    version: str | None = None
    evidence_digest: str | None = None
    evidence_file: str | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    checked_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """Every check holds."""
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record the result of one check."""
        self.checks.append(Check(name, ok, detail))

    def refusal(self) -> BadInput:
        """The error naming every failed check, one per line."""
        failed = [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]
        missing = f" {failed[0]}" if len(failed) == 1 else "".join(f"\n  - {f}" for f in failed)
        what = f"{self.service} {self.version}" if self.version else self.service
        return BadInput(
            f"promotion of {what} to stack '{self.target}' refused:{missing}",
            hint="nothing was started; fix the items above and run the rollout again",
        )


def requirement(settings: StackSettings) -> Promotion | None:
    """The stack's promotion policy, if it requires evidence from another stack."""
    policy = settings.promotion
    return policy if policy and policy.require_evidence_from else None


def admit(
    target: str,
    service: str,
    source: str | None,
    evidence: Path | None = None,
    version: str | None = None,
    now: float | None = None,
) -> Admission:
    """Check a promotion of `service` from `source` to `target` (see the module docstring)."""
    settings = load_stack(target)
    policy = settings.promotion or Promotion()
    admission = Admission(target, source, service, checked_at=now or time.time())
    required = policy.require_evidence_from
    if source is None:
        admission.add(
            "evidence",
            False,
            f"stack '{target}' requires evidence from '{required}': "
            f"run `runbook rollout --stack {target} --service {service} --from {required}`",
        )
        return admission
    if required and source != required:
        admission.add(
            "source",
            False,
            f"stack '{target}' takes evidence from '{required}' only, not '{source}'",
        )
        return admission
    body = _check_evidence(admission, evidence, version)
    if body is not None:
        _check_soak(admission, body, policy.required_soak_seconds)
        _check_approvals(admission, policy.approvals)
    _check_policies(admission, settings)
    _check_parity(admission, source, settings)
    return admission


def _check_evidence(
    admission: Admission, path: Path | None, version: str | None
) -> dict[str, Any] | None:
    source, service = admission.source or "", admission.service
    try:
        key = verify_key()
        if path is not None:
            document = read_document(path)
            admission.evidence_file = str(path)
        elif reachable_source(source) is None:
            admission.add(
                "evidence",
                False,
                f"no --evidence file, and stack '{source}' has no journal here to export it from",
            )
            return None
        else:
            document = export_document(
                source, service, _newest_promoted(source, service, version), signing_key()
            )
    except BadInput as err:
        admission.add("evidence", False, err.message + (f" ({err.hint})" if err.hint else ""))
        return None
    result = verify_document(document, key, reachable_source(source))
    admission.evidence_digest = result.digest
    if not result.ok:
        admission.add("evidence", False, "; ".join(result.problems + result.void))
        return None
    body: dict[str, Any] = document["evidence"]
    stack, said = body["stack"]["name"], body["service"]
    admission.version = body["version"]
    wrong = [
        f"it is evidence from stack '{stack}', not '{source}'" if stack != source else "",
        f"it is evidence of service '{said}', not '{service}'" if said != service else "",
        f"it is evidence of version {body['version']}, not {version}"
        if version and version != body["version"]
        else "",
    ]
    problems = [w for w in wrong if w]
    checked = (
        "re-verified against the source's journal"
        if result.against_source
        else "source journal not reachable: not re-verified"
    )
    admission.add(
        "evidence",
        not problems,
        "; ".join(problems) or f"{result.digest} valid, not void ({checked})",
    )
    return body if not problems else None


def _newest_promoted(source: str, service: str, version: str | None) -> str:
    if version:
        return version
    found = reachable_source(source)
    assert found is not None  # checked by the caller
    for record in found.journal.history(source, service, limit=50):
        if record.outcome == "promoted":
            return record.version
    raise BadInput(f"no promoted release of {service} on stack '{source}' to export evidence of")


def _check_soak(admission: Admission, body: dict[str, Any], required: float) -> None:
    promoted_at = float(body["release"]["promotedAt"])
    soaked = admission.checked_at - promoted_at
    ready = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(promoted_at + required))
    admission.add(
        "soak",
        soaked >= required,
        f"{admission.source} has run {body['version']} for {soaked:.0f}s since its promotion; "
        f"requiredSoakSeconds is {required:g}"
        + ("" if soaked >= required else f" (not before {ready})"),
    )


def _check_approvals(admission: Admission, required: int) -> None:
    found = approvals(admission.target, admission.service, admission.version or "")
    admission.approvals = found
    names = ", ".join(a["by"] for a in found) or "none"
    admission.add(
        "approvals",
        len(found) >= required,
        f"{len(found)} of {required} required (by: {names}); record one with `runbook approve "
        f"--stack {admission.target} --service {admission.service} --version {admission.version}`",
    )


def _check_policies(admission: Admission, settings: StackSettings) -> None:
    if settings.substrate is Substrate.LOCAL:
        admission.add("policies", True, "skipped: a local stack has no Pulumi plan to check")
        return
    from infra.policycheck import blocking, check_stack  # the Pulumi program: only when needed

    try:
        stopping = blocking(check_stack(admission.target))
    except BadInput as err:
        admission.add("policies", False, err.message)
        return
    shown = "; ".join(f"{f.policy} on {f.resource}" for f in stopping[:5])
    admission.add(
        "policies",
        not stopping,
        f"{len(stopping)} mandatory violation(s) in the offline plan: {shown}"
        if stopping
        else "the offline plan passes the policy pack",
    )


def _check_parity(admission: Admission, source: str, target_settings: StackSettings) -> None:
    target = admission.target
    try:
        source_settings = load_stack(source)
    except BadInput as err:
        admission.add("parity", False, err.message)
        return
    kinds = {source_settings.substrate, target_settings.substrate}
    if kinds == {Substrate.LOCAL}:
        lines = shape_differences(file_shape(source), file_shape(target))
    elif Substrate.LOCAL in kinds:
        lines = [f"substrate: {source_settings.substrate} vs {target_settings.substrate}"]
    else:
        from infra.offline import parity, plan_stack  # the Pulumi program: only when needed

        diffs = parity(plan_stack(source), plan_stack(target), (source, target))
        lines = [str(d) for d in diffs]
    shown = "; ".join(lines[:5]) + (f" (and {len(lines) - 5} more)" if len(lines) > 5 else "")
    admission.add(
        "parity",
        not lines,
        f"{source} and {target} differ in shape: {shown} (see `runbook plan --parity "
        f"{source} {target}`)"
        if lines
        else f"{source} and {target} have the same shape",
    )


def approvals_path(stack: str) -> Path:
    """Where the approvals of promotions to `stack` are kept."""
    return runbook_state_dir(stack) / APPROVALS_FILE


def approvals(stack: str, service: str, version: str) -> list[dict[str, Any]]:
    """The approvals of `service` `version` on `stack`, one per approver, oldest first."""
    try:
        data = load_json(approvals_path(stack), "approvals file")
    except FileNotFoundError:
        return []
    return [
        a for a in data.get("approvals", []) if a["service"] == service and a["version"] == version
    ]


def approve(stack: str, service: str, version: str, by: str) -> tuple[dict[str, Any], bool]:
    """Record `by`'s approval; returns it and whether it is new (an approver counts once)."""
    existing = next((a for a in approvals(stack, service, version) if a["by"] == by), None)
    if existing is not None:
        return existing, False
    path = approvals_path(stack)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {"approvals": []}
    entry = {"service": service, "version": version, "by": by, "at": time.time(), **_ci()}
    data["approvals"].append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return entry, True


def _ci() -> dict[str, Any]:
    ci = actor()["ci"]
    return {"ci": ci} if ci else {}


def decision_record(
    admission: Admission,
    release_id: str | None,
    outcome: str,
    started_at: float | None = None,
    finished_at: float | None = None,
) -> dict[str, Any]:
    """The decision record CI keeps: what, the evidence digest, approvals, times, outcome."""
    return {
        "schema": DECISION_SCHEMA,
        "what": {
            "service": admission.service,
            "version": admission.version,
            "from": admission.source,
            "to": admission.target,
        },
        "evidence": {"digest": admission.evidence_digest, "file": admission.evidence_file},
        "approvals": admission.approvals,
        "checks": [asdict(c) for c in admission.checks],
        "times": {"checked": admission.checked_at, "started": started_at, "finished": finished_at},
        "release": release_id,
        "outcome": outcome,
        "decidedBy": actor(),
    }


def write_decision(record: dict[str, Any], path: Path | None, target: str) -> Path:
    """Write the record to `path`, or to `<target's state dir>/decisions/`; returns where."""
    if path is None:
        what = record["what"]
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(record["times"]["checked"]))
        name = f"{stamp}-{what['service']}-{what['version']}.json"
        path = runbook_state_dir(target) / "decisions" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
