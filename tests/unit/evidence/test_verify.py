"""Evidence from a journal: what it holds, and the rules that make it invalid or void."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runbooks.evidence.canonical import canonical, digest
from runbooks.evidence.export import export_document
from runbooks.evidence.signing import SIGN_ENV, SigningKey, signing_key
from runbooks.evidence.verify import verify_document
from runbooks.evidence.voids import voided
from stackspec.errors import BadInput
from tests.unit.evidence.conftest import SERVICE, STACK, Released, journal_promoted


def _resign(document: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    body = document["evidence"]
    signature = {"alg": key.alg, "keyId": key.key_id, "value": key.sign(canonical(body))}
    return {"evidence": body, "digest": digest(body), "signature": signature}


def _revert(released: Released, version: str = "9.1.0") -> str:
    journal = released.journal
    reverted = journal.latest(STACK, SERVICE)
    assert reverted is not None and reverted.version == version
    rid = journal.start_release(STACK, SERVICE, "1.0.0", {"reverts": reverted.id})
    journal.finish(rid, "rolled_back")
    return rid


def test_exported_evidence_holds_the_release(released: Released, hmac_key: SigningKey) -> None:
    body = export_document(STACK, SERVICE, released.version, hmac_key)["evidence"]
    assert body["release"]["id"] == released.release_id
    assert body["release"]["outcome"] == "promoted"
    assert body["stack"]["name"] == STACK and body["stack"]["substrate"] == "local"
    assert body["stack"]["shapeDigest"].startswith("sha256:")
    # every window once, in order, with its step, value and verdict
    assert [(w["step"], w["metric"], w["value"], w["verdict"]) for w in body["windows"]] == [
        (0, "error-rate", 0.01, "Successful"),
        (0, "error-rate", 0.02, "Successful"),
        (1, "p95", 12.0, "Successful"),
    ]
    migration = body["releaseSteps"][0]
    assert migration["step"] == "db-migration" and migration["data"]["backup_id"] == "bk-42"
    assert body["bake"]["plannedSeconds"] == sum(s["bakeSeconds"] for s in body["steps"])
    assert body["soak"]["since"] == body["release"]["promotedAt"]
    assert body["exported"]["by"]


def test_valid_evidence_verifies_against_the_source(
    released: Released, hmac_key: SigningKey
) -> None:
    document = export_document(STACK, SERVICE, released.version, hmac_key)
    result = verify_document(document, hmac_key.verifying(), released.source)
    assert result.ok and result.against_source, result
    assert result.digest == document["digest"]


def test_a_changed_value_breaks_the_digest_and_voids_nothing(
    released: Released, hmac_key: SigningKey
) -> None:
    document = export_document(STACK, SERVICE, released.version, hmac_key)
    tampered = copy.deepcopy(document)
    tampered["evidence"]["windows"][0]["value"] = 0.0
    result = verify_document(tampered, hmac_key.verifying(), released.source)
    assert not result.ok and "digest mismatch" in result.problems[0]
    assert voided(released.state_dir) == {}  # a forged file cannot void a release


def test_a_changed_value_with_a_new_digest_breaks_the_signature(
    released: Released, hmac_key: SigningKey
) -> None:
    tampered = copy.deepcopy(export_document(STACK, SERVICE, released.version, hmac_key))
    tampered["evidence"]["version"] = "9.9.9"
    tampered["digest"] = digest(tampered["evidence"])
    result = verify_document(tampered, hmac_key.verifying())
    assert result.problems and "signature does not check" in result.problems[0]


def test_another_key_or_algorithm_does_not_verify(released: Released, hmac_key: SigningKey) -> None:
    document = export_document(STACK, SERVICE, released.version, hmac_key)
    other = signing_key({SIGN_ENV: "hmac:another-secret-entirely-000"}).verifying()
    assert "signature does not check" in verify_document(document, other).problems[0]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    ed = signing_key({SIGN_ENV: pem.decode()}).verifying()
    assert "verification key is ed25519" in verify_document(document, ed).problems[0]


def test_rolled_back_since_promotion_is_void_and_not_exportable(
    released: Released, hmac_key: SigningKey
) -> None:
    # given evidence exported while the version ran
    document = export_document(STACK, SERVICE, released.version, hmac_key)
    # when the source rolls the version back
    revert = _revert(released)
    # then the evidence is void, and no new evidence of it can be exported
    result = verify_document(document, hmac_key.verifying(), released.source)
    assert not result.problems and result.void and revert in result.void[0]
    with pytest.raises(BadInput, match="void"):
        export_document(STACK, SERVICE, released.version, hmac_key)


def test_a_rollback_of_another_version_does_not_void(
    released: Released, hmac_key: SigningKey
) -> None:
    document = export_document(STACK, SERVICE, released.version, hmac_key)
    journal_promoted(released.journal, "9.2.0")
    _revert(released, "9.2.0")
    assert verify_document(document, hmac_key.verifying(), released.source).ok


def test_a_failed_reverification_is_recorded_and_stays_void(
    released: Released, hmac_key: SigningKey
) -> None:
    # given a signed record whose windows are not what the source's journal says
    faithful = export_document(STACK, SERVICE, released.version, hmac_key)
    document = copy.deepcopy(faithful)
    document["evidence"]["windows"][0]["value"] = 0.001
    diverged = _resign(document, hmac_key)
    assert verify_document(diverged, hmac_key.verifying()).ok  # signed: valid on its own
    # when it is re-verified against the source
    first = verify_document(diverged, hmac_key.verifying(), released.source)
    # then it is void, durably: the faithful record of the same release is void too, and
    # no new evidence of it can be exported
    assert first.void and "windows differs" in first.void[0]
    assert released.release_id in voided(released.state_dir)
    again = verify_document(faithful, hmac_key.verifying(), released.source)
    assert not again.problems and "was voided" in again.void[0]
    with pytest.raises(BadInput, match="re-verification failed"):
        export_document(STACK, SERVICE, released.version, hmac_key)


def test_without_the_source_only_digest_and_signature_are_checked(
    released: Released, hmac_key: SigningKey
) -> None:
    document = export_document(STACK, SERVICE, released.version, hmac_key)
    _revert(released)
    result = verify_document(document, hmac_key.verifying(), None)
    assert result.ok and not result.against_source


def test_no_promoted_release_is_bad_input(released: Released, hmac_key: SigningKey) -> None:
    with pytest.raises(BadInput, match=r"no promoted release of trading-api 7\.0\.0"):
        export_document(STACK, SERVICE, "7.0.0", hmac_key)
