"""Key material: Ed25519 key pairs, password hashing and password-based encryption of private keys.

* Passwords are stretched with scrypt (RFC 7914; parameters stored with each record, default N=2**15, r=8, p=1).
  The 32-byte scrypt output is split with HKDF-SHA256 (RFC 5869) into a *password verifier* (stored) and a
  *key-encryption key* (never stored), so one slow derivation both checks the password and unlocks the key.
* Private keys are stored only as AES-256-GCM ciphertext under that key-encryption key, with the owner's name bound
  as associated data, so a copy of the database alone cannot produce anyone's signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


@dataclass(frozen=True)
class SealedKey:
    """A password-protected Ed25519 private key as stored in the database."""

    kdf: str  # "scrypt:N:r:p"
    salt: bytes
    verifier: bytes
    nonce: bytes
    ciphertext: bytes
    public_key: bytes


def key_id_of(public_key: bytes) -> str:
    """Stable identifier of an Ed25519 public key: hex of the first 16 bytes of SHA-256(public key)."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Raw 32-byte public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _stretch(secret: str, salt: bytes, kdf: str) -> tuple[bytes, bytes]:
    name, n, r, p = kdf.split(":")
    if name != "scrypt":
        raise ValueError(f"unsupported key derivation {name!r}")
    master = Scrypt(salt=salt, length=32, n=int(n), r=int(r), p=int(p)).derive(secret.encode("utf-8"))
    split = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"countersign/password/v1").derive(master)
    return split[:32], split[32:]


def seal_private_key(private_key: Ed25519PrivateKey, secret: str, owner: str) -> SealedKey:
    """Encrypt ``private_key`` under a key derived from ``secret`` (a password or the service secret)."""
    salt = os.urandom(16)
    kdf = f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}"
    verifier, kek = _stretch(secret, salt, kdf)
    nonce = os.urandom(12)
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    ciphertext = AESGCM(kek).encrypt(nonce, raw, owner.encode("utf-8"))
    return SealedKey(kdf, salt, verifier, nonce, ciphertext, public_bytes(private_key))


def check_secret(sealed: SealedKey, secret: str) -> bool:
    """Constant-time check of a password against the stored verifier."""
    verifier, _ = _stretch(secret, sealed.salt, sealed.kdf)
    return hmac.compare_digest(verifier, sealed.verifier)


def unseal_private_key(sealed: SealedKey, secret: str, owner: str) -> Ed25519PrivateKey | None:
    """Return the private key, or ``None`` when the secret is wrong."""
    verifier, kek = _stretch(secret, sealed.salt, sealed.kdf)
    if not hmac.compare_digest(verifier, sealed.verifier):
        return None
    raw = AESGCM(kek).decrypt(sealed.nonce, sealed.ciphertext, owner.encode("utf-8"))
    key = Ed25519PrivateKey.from_private_bytes(raw)
    if public_bytes(key) != sealed.public_key:
        return None
    return key


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    """Ed25519 public key from its 32 raw bytes."""
    return Ed25519PublicKey.from_public_bytes(raw)
