"""Keys from the environment, and signing and checking evidence with them.

    RUNBOOK_EVIDENCE_KEY          signs: an Ed25519 private key (PEM, or its 32 raw bytes in
                                  base64), or `hmac:<secret>` for HMAC-SHA256
    RUNBOOK_EVIDENCE_VERIFY_KEY   checks: the Ed25519 public key (PEM or base64 raw), or
                                  `hmac:<secret>`; when unset, derived from the signing key

A key is read from the environment only and never appears in output, messages or files:
what identifies it is `key_id`, a fingerprint (sha256 of the public key; for HMAC, an HMAC
of a fixed label, so the secret cannot be recovered from it). A missing or unreadable key
is a BadInput (exit 2) naming the variable, never its value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stackspec.errors import BadInput

SIGN_ENV = "RUNBOOK_EVIDENCE_KEY"
VERIFY_ENV = "RUNBOOK_EVIDENCE_VERIFY_KEY"
HMAC_PREFIX = "hmac:"
ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
KEY_ID_LABEL = b"runbook-evidence-key-id"
KEY_FORMS = (
    "an Ed25519 key in PEM, its 32 raw bytes in base64, or hmac:<secret> "
    "(generate one: `openssl genpkey -algorithm ed25519`)"
)


@dataclass(frozen=True)
class SigningKey:
    """A key that signs: `alg`, `key_id`, and `sign(data) -> base64 signature`."""

    alg: str
    key_id: str
    _ed25519: Ed25519PrivateKey | None = None
    _secret: bytes = b""

    def sign(self, data: bytes) -> str:
        """The base64 signature of `data`."""
        if self._ed25519 is not None:
            raw = self._ed25519.sign(data)
        else:
            raw = hmac.new(self._secret, data, hashlib.sha256).digest()
        return base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:  # the secret never reaches a log through repr()
        return f"SigningKey(alg={self.alg!r}, key_id={self.key_id!r})"

    def verifying(self) -> VerifyKey:
        """The key that checks this key's signatures."""
        if self._ed25519 is not None:
            return _ed25519_verify_key(self._ed25519.public_key())
        return VerifyKey(HMAC_SHA256, self.key_id, _secret=self._secret)


@dataclass(frozen=True)
class VerifyKey:
    """A key that checks signatures: `alg`, `key_id`, `verify(data, signature) -> bool`."""

    alg: str
    key_id: str
    _ed25519: Ed25519PublicKey | None = None
    _secret: bytes = b""

    def verify(self, data: bytes, signature: str) -> bool:
        """Whether `signature` (base64) is this key's signature of `data`."""
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        if self._ed25519 is not None:
            try:
                self._ed25519.verify(raw, data)
            except InvalidSignature:
                return False
            return True
        expected = hmac.new(self._secret, data, hashlib.sha256).digest()
        return hmac.compare_digest(expected, raw)

    def __repr__(self) -> str:
        return f"VerifyKey(alg={self.alg!r}, key_id={self.key_id!r})"


def signing_key(env: Mapping[str, str] | None = None) -> SigningKey:
    """The signing key in RUNBOOK_EVIDENCE_KEY; BadInput if it is unset or unreadable."""
    text = (env if env is not None else os.environ).get(SIGN_ENV, "").strip()
    if not text:
        raise BadInput(
            f"no evidence signing key: {SIGN_ENV} is not set",
            hint=f"set {SIGN_ENV} from the CI's secret store to {KEY_FORMS}",
        )
    if text.startswith(HMAC_PREFIX):
        secret = _hmac_secret(text, SIGN_ENV)
        return SigningKey(HMAC_SHA256, _hmac_key_id(secret), _secret=secret)
    private = _ed25519_private(text)
    return SigningKey(ED25519, _ed25519_verify_key(private.public_key()).key_id, private)


def verify_key(env: Mapping[str, str] | None = None) -> VerifyKey:
    """The key in RUNBOOK_EVIDENCE_VERIFY_KEY, else the one RUNBOOK_EVIDENCE_KEY implies;
    BadInput if neither is set or the one set is unreadable."""
    source = env if env is not None else os.environ
    text = source.get(VERIFY_ENV, "").strip()
    if not text:
        if not source.get(SIGN_ENV, "").strip():
            raise BadInput(
                f"no evidence verification key: neither {VERIFY_ENV} nor {SIGN_ENV} is set",
                hint=f"set {VERIFY_ENV} to the Ed25519 public key (PEM or base64) or hmac:<secret>",
            )
        return signing_key(source).verifying()
    if text.startswith(HMAC_PREFIX):
        secret = _hmac_secret(text, VERIFY_ENV)
        return VerifyKey(HMAC_SHA256, _hmac_key_id(secret), _secret=secret)
    return _ed25519_verify_key(_ed25519_public(text))


def _hmac_secret(text: str, variable: str) -> bytes:
    secret = text[len(HMAC_PREFIX) :].encode("utf-8")
    if len(secret) < 16:
        raise BadInput(
            f"the HMAC secret in {variable} is shorter than 16 bytes",
            hint="use a random secret of 32 bytes or more (`openssl rand -base64 32`)",
        )
    return secret


def _hmac_key_id(secret: bytes) -> str:
    return "hmac:" + hmac.new(secret, KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def _ed25519_private(text: str) -> Ed25519PrivateKey:
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError):
            key = None
        if isinstance(key, Ed25519PrivateKey):
            return key
    else:
        raw = _raw32(text)
        if raw is not None:
            return Ed25519PrivateKey.from_private_bytes(raw)
    raise BadInput(f"{SIGN_ENV} is not a signing key this tool reads", hint=f"use {KEY_FORMS}")


def _ed25519_public(text: str) -> Ed25519PublicKey:
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError):
            key = None
        if isinstance(key, Ed25519PublicKey):
            return key
    else:
        raw = _raw32(text)
        if raw is not None:
            return Ed25519PublicKey.from_public_bytes(raw)
    raise BadInput(
        f"{VERIFY_ENV} is not a verification key this tool reads",
        hint="use the Ed25519 public key in PEM or its 32 raw bytes in base64, or hmac:<secret>",
    )


def _raw32(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _ed25519_verify_key(public: Ed25519PublicKey) -> VerifyKey:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return VerifyKey(ED25519, "ed25519:" + hashlib.sha256(raw).hexdigest()[:16], public)
