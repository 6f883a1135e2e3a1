"""libsodium (core.tlog.ed25519) and OpenSSL (cryptography) must be interchangeable for every signature we make."""

from __future__ import annotations

import os
import random

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.tlog import ed25519

# RFC 8032 §7.1, TEST 2: one-byte message.
RFC8032_SECRET = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
RFC8032_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
RFC8032_MESSAGE = bytes.fromhex("72")
RFC8032_SIGNATURE = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)


def test_rfc8032_vector() -> None:
    key = ed25519.SigningKey(RFC8032_SECRET)
    assert key.public_key == RFC8032_PUBLIC
    assert key.sign(RFC8032_MESSAGE) == RFC8032_SIGNATURE
    assert ed25519.verify(RFC8032_PUBLIC, RFC8032_SIGNATURE, RFC8032_MESSAGE)


@pytest.mark.parametrize("seed", range(25))
def test_libsodium_and_openssl_make_and_accept_the_same_signatures(seed: int) -> None:
    rng = random.Random(seed)
    private = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    raw_seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = ed25519.SigningKey(raw_seed)
    assert key.public_key == public and key.seed == raw_seed
    message = rng.randbytes(rng.randint(0, 2000))
    signature = key.sign(message)
    assert signature == private.sign(message)  # deterministic (RFC 8032 §5.1.6): identical bytes
    assert ed25519.verify(public, signature, message)
    Ed25519PublicKey.from_public_bytes(public).verify(signature, message)  # OpenSSL accepts it too


def test_verify_rejects_every_kind_of_tampering() -> None:
    key = ed25519.SigningKey(os.urandom(32))
    message = b'{"action":"model.registered"}'
    signature = key.sign(message)
    other = ed25519.SigningKey(os.urandom(32)).public_key
    assert not ed25519.verify(key.public_key, signature, message + b" ")
    assert not ed25519.verify(other, signature, message)
    for position in (0, 31, 32, 63):
        flipped = bytearray(signature)
        flipped[position] ^= 0x01
        assert not ed25519.verify(key.public_key, bytes(flipped), message)
        with pytest.raises(InvalidSignature):  # and OpenSSL agrees
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(bytes(flipped), message)
    assert not ed25519.verify(key.public_key, signature[:63], message)
    assert not ed25519.verify(key.public_key[:31], signature, message)


def test_non_canonical_s_is_rejected() -> None:
    """S + L verifies in some implementations (malleability); RFC 8032 §5.1.7 requires S < L."""
    key = ed25519.SigningKey(os.urandom(32))
    message = b"entry"
    signature = key.sign(message)
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little") + order
    malleated = signature[:32] + s.to_bytes(32, "little")
    assert not ed25519.verify(key.public_key, malleated, message)


def test_sign_many_matches_one_by_one() -> None:
    key = ed25519.SigningKey(os.urandom(32))
    messages = [os.urandom(n) for n in range(50)]
    blob = ed25519.sign_many(key.seed, messages)
    assert [blob[i * 64:(i + 1) * 64] for i in range(50)] == [key.sign(m) for m in messages]


def test_seed_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ed25519.SigningKey(b"short")
