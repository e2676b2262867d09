"""Signed evidence of a promoted release, and the rules that make it void.

- `canonical`: the one serialisation that is digested and signed (sorted keys, no spaces).
- `signing`: keys from the environment only (Ed25519 or `hmac:`), sign and check.
- `record`: the evidence of one release, read from the source stack's journal.
- `voids`: when evidence no longer counts (the version rolled back on the source since, or
  a re-verification failed, which is recorded durably so it stays void).
- `verify`: the checks of a file, in order: shape, digest, signature, voidness.
"""
