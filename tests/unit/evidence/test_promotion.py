"""Admission of a promotion between two local stack files (no servers: the checks only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from runbooks.cli.rollout import _promotion
from runbooks.evidence.export import export_document, write_document
from runbooks.evidence.signing import SigningKey
from runbooks.journal.sqlite import SqliteJournal
from runbooks.promotion import Check, admit, approvals, approve, decision_record, write_decision
from stackspec.errors import BadInput
from stackspec.stackfile import PROJECT, StackFileError, load_stack, stack_path
from tests.unit.evidence.conftest import HMAC_ENV, SERVICE, journal_promoted

SOURCE, TARGET = "source", "target"
VERSION = "9.1.0"


def _write_stack(stacks: Path, name: str, promotion: dict[str, object] | None) -> None:
    document = yaml.safe_load(stack_path("local").read_text(encoding="utf-8"))
    if promotion is not None:
        document["config"][f"{PROJECT}:promotion"] = promotion
    (stacks / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`source` and `target` (requiring evidence from source, 0 s soak, one approval), and
    a promoted release of trading-api 9.1.0 in the source's journal."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    _write_stack(stacks, SOURCE, None)
    policy = {"requireEvidenceFrom": SOURCE, "requiredSoakSeconds": 0, "approvals": 1}
    _write_stack(stacks, TARGET, policy)
    for name, value in {
        "RUNBOOK_STACKS_DIR": str(stacks),
        "RUNBOOK_STATE_DIR": str(tmp_path / "state"),
        **HMAC_ENV,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RUNBOOK_JOURNAL_DSN", raising=False)
    monkeypatch.delenv("RUNBOOK_EVIDENCE_VERIFY_KEY", raising=False)
    journal_promoted(SqliteJournal.in_state_dir(tmp_path / "state" / SOURCE), VERSION, SOURCE)
    return stacks


def _failed(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if not c.ok}


def test_the_promotion_block_is_validated(tmp_path: Path) -> None:
    _write_stack(tmp_path, "bad", {"requireEvidenceFrom": "staging", "approvals": -1})
    with pytest.raises(StackFileError, match=r"promotion\.approvals"):
        load_stack("bad", tmp_path)
    production = load_stack("production").promotion
    assert production is not None and production.require_evidence_from == "staging"


def test_a_plain_rollout_on_a_stack_requiring_evidence_is_refused(stacks: Path) -> None:
    with pytest.raises(BadInput, match="requires evidence from 'source'"):
        _promotion(TARGET, SERVICE, VERSION, None, None, None, load_stack(TARGET))


def test_evidence_from_another_stack_than_required_is_refused(stacks: Path) -> None:
    admission = admit(TARGET, SERVICE, "elsewhere")
    assert "from 'source' only" in _failed(admission.checks)["source"]


def test_every_missing_item_is_named(stacks: Path, hmac_key: SigningKey) -> None:
    # given real evidence exported on the fly, but no approval yet
    admission = admit(TARGET, SERVICE, SOURCE)
    failed = _failed(admission.checks)
    # then only the approval is missing, and the refusal says how to give one
    assert list(failed) == ["approvals"], failed
    assert admission.version == VERSION and admission.evidence_digest
    message = str(admission.refusal())
    assert "approvals: 0 of 1 required" in message and "runbook approve" in message
    policies = next(c for c in admission.checks if c.name == "policies")
    assert policies.ok and "skipped" in policies.detail


def test_approved_evidence_is_admitted_and_the_record_holds_its_digest(
    stacks: Path, hmac_key: SigningKey, tmp_path: Path
) -> None:
    approve(TARGET, SERVICE, VERSION, "alice")
    assert approve(TARGET, SERVICE, VERSION, "alice")[1] is False  # an approver counts once
    assert len(approvals(TARGET, SERVICE, VERSION)) == 1
    evidence = tmp_path / "evidence.json"
    write_document(export_document(SOURCE, SERVICE, VERSION, hmac_key), evidence)
    admission = admit(TARGET, SERVICE, SOURCE, evidence)
    assert admission.ok, admission.checks
    path = write_decision(decision_record(admission, "r-1", "promoted"), None, TARGET)
    record = json.loads(path.read_text())
    assert record["evidence"]["digest"] == json.loads(evidence.read_text())["digest"]
    assert record["approvals"][0]["by"] == "alice" and record["outcome"] == "promoted"


def test_soak_shape_and_version_are_checked(stacks: Path) -> None:
    approve(TARGET, SERVICE, VERSION, "alice")
    document = yaml.safe_load((stacks / "Pulumi.target.yaml").read_text())
    document["config"][f"{PROJECT}:promotion"]["requiredSoakSeconds"] = 86400
    document["config"][f"{PROJECT}:edge"]["enabled"] = False
    (stacks / "Pulumi.target.yaml").write_text(yaml.safe_dump(document))
    failed = _failed(admit(TARGET, SERVICE, SOURCE, version="9.0.0").checks)
    assert "no promoted release of trading-api 9.0.0" in failed["evidence"]
    failed = _failed(admit(TARGET, SERVICE, SOURCE).checks)
    assert "requiredSoakSeconds is 86400" in failed["soak"]
    assert "edge.enabled" in failed["parity"]
