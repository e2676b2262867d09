"""Keys from the environment: Ed25519 (PEM or base64 raw) and HMAC, never shown."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runbooks.evidence.signing import (
    ED25519,
    HMAC_SHA256,
    SIGN_ENV,
    VERIFY_ENV,
    signing_key,
    verify_key,
)
from stackspec.errors import BadInput, ExitCode

DATA = b'{"version":"1.5.0"}'
SECRET = "hmac:a-secret-of-some-length-42"


def _pem(private: Ed25519PrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(private: Ed25519PrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_ed25519_pem_signs_and_its_derived_key_verifies() -> None:
    private = Ed25519PrivateKey.generate()
    key = signing_key({SIGN_ENV: _pem(private)})
    signature = key.sign(DATA)
    assert key.alg == ED25519
    assert verify_key({SIGN_ENV: _pem(private)}).verify(DATA, signature)
    assert not verify_key({SIGN_ENV: _pem(private)}).verify(DATA + b" ", signature)


def test_the_public_key_alone_verifies_pem_or_base64_raw() -> None:
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signer = signing_key({SIGN_ENV: base64.b64encode(raw_private).decode()})
    signature = signer.sign(DATA)
    by_pem = verify_key({VERIFY_ENV: _public_pem(private)})
    by_raw = verify_key({VERIFY_ENV: base64.b64encode(raw_public).decode()})
    assert by_pem.verify(DATA, signature) and by_raw.verify(DATA, signature)
    assert by_pem.key_id == by_raw.key_id == signer.key_id


def test_another_ed25519_key_does_not_verify() -> None:
    signature = signing_key({SIGN_ENV: _pem(Ed25519PrivateKey.generate())}).sign(DATA)
    other = verify_key({SIGN_ENV: _pem(Ed25519PrivateKey.generate())})
    assert not other.verify(DATA, signature)


def test_hmac_signs_and_verifies_and_another_secret_does_not() -> None:
    key = signing_key({SIGN_ENV: SECRET})
    signature = key.sign(DATA)
    assert key.alg == HMAC_SHA256
    assert verify_key({VERIFY_ENV: SECRET}).verify(DATA, signature)
    assert not verify_key({VERIFY_ENV: SECRET + "x"}).verify(DATA, signature)
    assert not verify_key({VERIFY_ENV: SECRET}).verify(DATA, "not base64!")


def test_the_secret_never_shows_in_key_id_or_repr() -> None:
    key = signing_key({SIGN_ENV: SECRET})
    shown = f"{key!r} {key.key_id} {key.verifying()!r}"
    assert "a-secret-of-some-length" not in shown
    assert key.key_id.startswith("hmac:")


def test_a_missing_key_is_bad_input_naming_the_variable() -> None:
    with pytest.raises(BadInput, match=SIGN_ENV) as err:
        signing_key({})
    assert err.value.exit_code == ExitCode.BAD_INPUT
    with pytest.raises(BadInput, match=VERIFY_ENV):
        verify_key({})


@pytest.mark.parametrize(
    "text", ["not-a-key-at-all-9f8e7d", "-----BEGIN PRIVATE KEY-----\nbogus-9f8e7d\n-----END"]
)
def test_an_unreadable_key_is_refused_without_showing_it(text: str) -> None:
    with pytest.raises(BadInput) as err:
        signing_key({SIGN_ENV: text})
    assert "9f8e7d" not in str(err.value)
    assert SIGN_ENV in str(err.value)


def test_a_short_hmac_secret_is_refused() -> None:
    with pytest.raises(BadInput, match="shorter than 16"):
        signing_key({SIGN_ENV: "hmac:short"})
