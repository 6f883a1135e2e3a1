"""Users, their roles, passwords and Ed25519 keys.

Each user's private key is sealed under their own password (:mod:`core.identity.keys`); the database keeps only the
sealed form and the public key. Public keys enter the trust record through ledger events (``user.added``,
``user.key_rotated``), so :mod:`core.ledger.verify` rebuilds the set of valid keys from the ledger itself and never from
the mutable ``public_keys`` table.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import BadInput
from core.identity import keys as crypto
from core.identity.roles import Permission, acting_role, parse_role
from core.ledger.chain import Signer
from core.ledger.service_key import sealed_to_credentials

#: A user name, matched whole (``fullmatch``: ``$`` alone would also accept a final newline).
USERNAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 8

#: What a new key's owner signs to prove possession when the key is registered.
POSSESSION_CONTEXT = b"countersign/key-possession/v1\n"


@dataclass(frozen=True)
class Session:
    """An authenticated user with their unlocked signing key."""

    name: str
    roles: tuple[str, ...]
    signer: Signer = field(repr=False)

    def acting_role(self, permission: Permission) -> str | None:
        """The role under which this user may exercise ``permission`` (:data:`core.identity.roles.PERMISSIONS`)."""
        return acting_role(self.roles, permission)

    def can(self, permission: Permission) -> bool:
        """Whether one of this user's roles grants ``permission``: the one role table, for core, CLI and app alike.

        Holding a permission is necessary, not sufficient: separation of duties and the state of the object are
        checked by the operation itself, inside its transaction.
        """
        return self.acting_role(permission) is not None


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key, sealed under a password, with its proof of possession."""

    private_key: Ed25519PrivateKey
    credentials: dict[str, object]
    key_id: str
    public_key: bytes

    def payload(self, owner: str) -> dict[str, str]:
        proof = self.private_key.sign(POSSESSION_CONTEXT + owner.encode("utf-8") + b"\n" + self.key_id.encode())
        return {
            "key_id": self.key_id,
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "possession": base64.b64encode(proof).decode("ascii"),
        }


def validate_username(name: str) -> str:
    if not USERNAME_RE.fullmatch(name or ""):
        raise BadInput(
            f"invalid user name {name!r}: use 2-64 characters, lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    return name


def validate_password(password: str) -> str:
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password too short: at least {MIN_PASSWORD_LENGTH} characters are required")
    return password


def validate_roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    if not roles:
        raise BadInput("a user needs at least one role (--role)")
    return sorted({parse_role(r) for r in roles})


def new_key(owner: str, password: str) -> NewKey:
    """Generate an Ed25519 key pair and seal it under ``password``."""
    key = Ed25519PrivateKey.generate()
    sealed = crypto.seal_private_key(key, password, owner)
    key_id = crypto.key_id_of(sealed.public_key)
    return NewKey(key, sealed_to_credentials(sealed, key_id), key_id, sealed.public_key)


def reseal(owner: str, key: Ed25519PrivateKey, password: str) -> dict[str, object]:
    """The same key sealed under a new password."""
    sealed = crypto.seal_private_key(key, password, owner)
    return sealed_to_credentials(sealed, crypto.key_id_of(sealed.public_key))


def open_session(name: str, cred: dict[str, Any], roles: list[str], password: str) -> Session | None:
    """The user's session if ``password`` unlocks the stored credentials; ``None`` otherwise.

    Runs the slow key derivation outside any database connection, so a login never holds the file lock.
    """
    sealed = crypto.SealedKey(
        cred["kdf"], bytes(cred["salt"]), bytes(cred["verifier"]), bytes(cred["nonce"]),
        bytes(cred["ciphertext"]), bytes(cred["public_key"]),
    )
    key = crypto.unseal_private_key(sealed, password, name)
    if key is None:
        return None
    return Session(name, tuple(roles), Signer(cred["key_id"], key))
