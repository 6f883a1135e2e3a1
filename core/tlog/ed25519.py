"""Ed25519 (RFC 8032) signing and verification on the ledger's hot paths, by libsodium through PyNaCl.

Keys are still generated, sealed and stored through ``cryptography`` (:mod:`core.identity.keys`); this module only does
the
arithmetic that appending and verifying hundreds of thousands of entries repeat. Ed25519 signatures are
deterministic (RFC 8032 §5.1.6), so libsodium signs exactly the bytes OpenSSL signs for the same key and message —
the two are interchangeable, and ``tests/core/test_ed25519.py`` checks it. libsodium is used here because on our
machines it signs ≈ 1.4× and verifies ≈ 1.7× faster than the OpenSSL build that ships with ``cryptography``
(``docs/benchmarks.md``).

Verification is libsodium's strict ``crypto_sign_verify_detached``: it rejects a non-canonical ``S`` (≥ L),
small-order or non-canonical public keys and small-order ``R`` — a stricter subset of what OpenSSL accepts, so a
signature accepted here is also accepted by the stand-alone verifier shipped in evidence bundles (which uses
``cryptography``). PyNaCl releases the GIL inside libsodium, so threads and processes both scale.
"""

from __future__ import annotations

from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError, ValueError as NaclValueError

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32


class SigningKey:
    """An Ed25519 private key held in libsodium's 64-byte form (seed || public key)."""

    __slots__ = ("_secret", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise ValueError(f"an Ed25519 seed is {SEED_SIZE} bytes, not {len(seed)}")
        public_key, secret = crypto_sign_seed_keypair(bytes(seed))
        self.public_key: bytes = public_key
        self._secret = secret

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed (RFC 8032 §5.1.5), for handing the key to a worker process."""
        return self._secret[:SEED_SIZE]

    def sign(self, message: bytes) -> bytes:
        """The 64-byte RFC 8032 signature of ``message``."""
        return crypto_sign(message, self._secret)[:SIGNATURE_SIZE]

    def __repr__(self) -> str:
        return f"SigningKey(public_key={self.public_key.hex()})"


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` under ``public_key``."""
    if len(signature) != SIGNATURE_SIZE or len(public_key) != PUBLIC_KEY_SIZE:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except (BadSignatureError, NaclValueError):
        return False
    return True


def sign_many(seed: bytes, messages: list[bytes]) -> bytes:
    """Signatures of ``messages`` under the key with ``seed``, concatenated (64 bytes each, in order).

    A module-level function over plain bytes so that a worker process (:mod:`core.ledger.parallel`) can run it.
    """
    key = SigningKey(seed)
    return b"".join([key.sign(message) for message in messages])
