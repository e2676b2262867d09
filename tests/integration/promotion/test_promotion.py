"""Promotion from a source local stack to a target local stack, both real and up.

Given the target's file requires evidence from the source (an hour's soak, one approval),
a rollout on the target is refused (exit 2, naming what is missing) without evidence, with
a tampered record, with evidence of a version the source has since rolled back, and before
the soak time; it is accepted with the source's real evidence, and the decision record
holds the evidence's digest. Releases are kept few: each takes ~15 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooks.core.model import Weights
from runbooks.evidence.canonical import digest
from runbooks.local.load import steady_load
from tests.integration.engine.harness import SERVICE
from tests.integration.promotion.conftest import (
    LOAD_RATE,
    SOURCE,
    TARGET,
    Pair,
    evidence_digest,
)

GOOD, REGRETTED = "1.1.0", "1.2.0"


def _promote(pair: Pair, *extra: str) -> tuple[int, str]:
    done = pair.run("rollout", "-s", TARGET, "--service", SERVICE, "--from", SOURCE, *extra)
    return done.returncode, done.stdout + done.stderr


def _export(pair: Pair, version: str, out: Path) -> Path:
    done = pair.run(
        "evidence", "export", "-s", SOURCE, "--service", SERVICE, "--version", version,
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def good_evidence(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GOOD promoted on the source, and its evidence exported."""
    done = pair.release(SOURCE, GOOD)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return _export(pair, GOOD, tmp_path_factory.mktemp("evidence") / "good.json")


def test_a_plain_rollout_on_the_target_is_refused(pair: Pair) -> None:
    done = pair.run("rollout", "-s", TARGET, "--service", SERVICE, "--version", "9.9.9")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "requires evidence from 'source'" in done.stderr
    assert pair.journal(TARGET).latest(TARGET, SERVICE) is None  # nothing was started


def test_refused_without_evidence(pair: Pair, tmp_path: Path) -> None:
    # given the source has promoted nothing yet
    code, output = _promote(pair)
    assert code == 2 and "stack 'source' has no journal here to export it from" in output
    code, output = _promote(pair, "--evidence", str(tmp_path / "missing.json"))
    assert code == 2 and "no evidence file" in output
    assert pair.journal(TARGET).latest(TARGET, SERVICE) is None


def test_refused_with_a_tampered_record(pair: Pair, good_evidence: Path, tmp_path: Path) -> None:
    document = json.loads(good_evidence.read_text())
    window = document["evidence"]["windows"][0]
    window["value"] = (window.get("value") or 0.0) + 1.5  # a change, whatever it was
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    code, output = _promote(pair, "--evidence", str(tampered))
    assert code == 2 and "digest mismatch" in output, output
    document["digest"] = digest(document["evidence"])  # a forger recomputes the digest
    tampered.write_text(json.dumps(document))
    code, output = _promote(pair, "--evidence", str(tampered))
    assert code == 2 and "signature does not check" in output, output


def test_refused_before_the_soak_time(pair: Pair, good_evidence: Path) -> None:
    code, output = _promote(pair, "--evidence", str(good_evidence))
    assert code == 2, output
    assert "soak:" in output and "requiredSoakSeconds is 3600" in output
    assert "approvals: 0 of 1 required" in output  # every missing item is named
    assert pair.journal(TARGET).latest(TARGET, SERVICE) is None


def test_refused_with_evidence_of_a_version_since_rolled_back(
    pair: Pair, good_evidence: Path, tmp_path: Path
) -> None:
    # given REGRETTED promoted on the source, its evidence exported, then rolled back
    done = pair.release(SOURCE, REGRETTED)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    evidence = _export(pair, REGRETTED, tmp_path / "regretted.json")
    rolled = pair.run("rollback", "-s", SOURCE, "--service", SERVICE, "--yes")
    assert rolled.returncode == 0, rolled.stdout[-3000:] + rolled.stderr[-3000:]
    # when it is promoted to the target, even with soak and approvals satisfied
    pair.set_promotion(requiredSoakSeconds=0)
    assert (
        pair.run("approve", "-s", TARGET, "--service", SERVICE, "--version", REGRETTED).returncode
        == 0
    )
    code, output = _promote(pair, "--evidence", str(evidence))
    pair.set_promotion(requiredSoakSeconds=3600)
    # then it is refused: the evidence is void
    assert code == 2, output
    assert "was rolled back on stack 'source'" in output
    verified = pair.run("evidence", "verify", str(evidence), "--stack", SOURCE)
    assert verified.returncode == 1 and "void:" in verified.stdout


def test_accepted_with_real_evidence(pair: Pair, good_evidence: Path, tmp_path: Path) -> None:
    # given the source's soak is enough and one approval is recorded
    pair.set_promotion(requiredSoakSeconds=1)
    approved = pair.run(
        "approve", "-s", TARGET, "--service", SERVICE, "--version", GOOD, "--by", "ci-bot"
    )
    assert approved.returncode == 0, approved.stderr
    record_path = tmp_path / "decision.json"
    old = pair.active(TARGET)
    # when the target is promoted from the source's evidence (no --version: it comes from it)
    with steady_load(pair.target.load_url, LOAD_RATE):
        code, output = _promote(
            pair, "--evidence", str(good_evidence), "--decision-record", str(record_path)
        )
    # then the target runs GOOD, and the decision record holds the evidence's digest
    assert code == 0, output[-4000:]
    assert f"decision record: {record_path}" in output
    record = json.loads(record_path.read_text())
    assert record["evidence"]["digest"] == evidence_digest(good_evidence)
    assert record["what"] == {"service": SERVICE, "version": GOOD, "from": SOURCE, "to": TARGET}
    assert record["outcome"] == "promoted" and record["release"]
    assert [a["by"] for a in record["approvals"]] == ["ci-bot"]
    latest = pair.journal(TARGET).latest(TARGET, SERVICE)
    assert latest is not None and (latest.version, latest.outcome) == (GOOD, "promoted")
    origin = next(e for e in pair.journal(TARGET).events(latest.id) if e.kind == "release.origin")
    assert origin.data["promotion"]["evidence"] == record["evidence"]["digest"]
    assert pair.weights(TARGET) == Weights.all_on(old.other)
    assert pair.active(TARGET) is old.other
