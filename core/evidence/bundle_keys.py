"""Who may sign what, when: the keys of a bundle's ledger, replayed from its included entries.

Part of the stand-alone verifier (:mod:`core.evidence.bundle_verify`): the rules of :mod:`core.ledger.verify`,
restated with only the standard library and ``cryptography`` — genesis registers the service key; ``user.added`` (or
``user.enrolled`` for an account added without a key) and ``user.key_rotated`` register a user's key with its proof
of possession; a key is valid from the entry after the one that registers it (from its own entry for the bootstrap
admin and for an enrolment) until the entry that rotates it out or deactivates its owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- inline: core.evidence.bundle_format ---
from core.evidence.bundle_format import (
    POSSESSION_CONTEXT,
    SERVICE_ACTIONS,
    SERVICE_OWNER,
    BundleError,
    _b64,
    _ed25519_ok,
    _hex_sha256,
)

# --- end inline ---


@dataclass
class _Key:
    """A registered key: whose it is and the ledger positions (inclusive) at which it may sign."""

    key_id: str
    owner: str
    public_key: bytes
    valid_from: int
    valid_to: int | None = None

    def valid_at(self, seq: int) -> bool:
        return self.valid_from <= seq and (self.valid_to is None or seq <= self.valid_to)

    def validity(self) -> str:
        return f"seq {self.valid_from}..{'' if self.valid_to is None else self.valid_to}"


class _KeyHistory:
    """Keys as the included ledger entries establish them, replayed in seq order (the rules of
    ``core.ledger.verify``)."""

    def __init__(self, service_public_key: bytes) -> None:
        self.service_public_key = service_public_key
        self.keys: dict[str, _Key] = {}
        self.current: dict[str, str] = {}
        self.bootstrap_admin: str | None = None
        self.pending: set[str] = set()

    def _register(self, seq: int, owner: str, payload: dict[str, Any], valid_from: int) -> _Key:
        key_id = payload.get("key_id")
        if not isinstance(key_id, str):
            raise BundleError(f"entry seq {seq}: key registration without a key id")
        public = _b64(payload.get("public_key"), f"entry seq {seq}: public key")
        proof = _b64(payload.get("possession"), f"entry seq {seq}: proof of possession")
        if not _ed25519_ok(public, proof, POSSESSION_CONTEXT + owner.encode("utf-8") + b"\n" + key_id.encode()):
            raise BundleError(f"entry seq {seq}: key registration lacks a valid proof of possession")
        if _hex_sha256(public)[:32] != key_id:
            raise BundleError(f"entry seq {seq}: registered key id does not match its public key")
        if key_id in self.keys:
            raise BundleError(f"entry seq {seq}: key {key_id} is registered twice")
        key = self.keys[key_id] = _Key(key_id, owner, public, valid_from)
        self.current[owner] = key_id
        return key

    def apply(self, seq: int, entry: dict[str, Any]) -> None:
        """Apply one key event (registration or rotation) of the entry at ``seq``."""
        action, actor, payload = entry.get("action"), entry.get("actor"), entry.get("payload") or {}
        if action == "ledger.initialized":
            if seq != 0:
                raise BundleError(f"entry seq {seq}: a second ledger.initialized entry")
            public = _b64(payload.get("service_public_key"), "genesis: service public key")
            key_id = payload.get("service_key_id")
            if public != self.service_public_key:
                raise BundleError("the ledger's genesis names a different service key than the checkpoint's signer")
            if _hex_sha256(public)[:32] != key_id:
                raise BundleError("genesis: service key id does not match its public key")
            self.keys[key_id] = _Key(key_id, SERVICE_OWNER, public, 0)
            self.bootstrap_admin = payload.get("bootstrap_admin")
        elif action == "user.added":
            name = payload.get("name")
            if not isinstance(name, str) or name == SERVICE_OWNER or name in self.current:
                raise BundleError(f"entry seq {seq}: user.added for an invalid or existing user {name!r}")
            bootstrap = seq == 1 and name == self.bootstrap_admin == actor
            if "key_id" not in payload and not bootstrap:
                self.pending.add(name)  # the user registers their own key when they enrol
                return
            self._register(seq, name, payload, seq if bootstrap else seq + 1)
        elif action == "user.enrolled":
            name = payload.get("name")
            if name != actor or name not in self.pending:
                raise BundleError(f"entry seq {seq}: user.enrolled for a user not added without a key, or signed "
                                  "by someone else")
            self.pending.discard(name)
            self._register(seq, name, payload, seq)  # the new key signs its own registration
        elif action == "user.key_rotated":
            name = payload.get("name")
            old = self.current.get(name) if isinstance(name, str) else None
            if not isinstance(name, str) or old is None or payload.get("previous_key_id") != old or name != actor:
                raise BundleError(f"entry seq {seq}: key rotation does not name its actor's current key")
            self._register(seq, name, payload, seq + 1)
            self.keys[old].valid_to = seq
        elif action == "user.deactivated":
            name = payload.get("name")
            if name in self.current:  # the account's key signs nothing valid after its deactivation
                self.keys[self.current[name]].valid_to = seq
            self.pending.discard(name)

    def signer(self, seq: int, entry: dict[str, Any]) -> _Key:
        """The key that signed the entry at ``seq``, if it is its actor's (or the service's) and valid then."""
        key_id, actor, action = entry.get("key_id"), entry.get("actor"), entry.get("action")
        key = self.keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise BundleError(f"entry seq {seq}: signed by key {key_id!r}, which no earlier included entry "
                              "registered")
        if not key.valid_at(seq):
            raise BundleError(f"entry seq {seq}: signed by {key.owner}'s key {key.key_id} outside its validity "
                              f"({key.validity()})")
        if key.owner == SERVICE_OWNER:
            if action not in SERVICE_ACTIONS:
                raise BundleError(f"entry seq {seq}: action {action!r} is signed by the service key, not by its "
                                  "actor")
        elif key.owner != actor:
            raise BundleError(f"entry seq {seq}: entry by {actor!r} is signed with {key.owner!r}'s key")
        elif action in SERVICE_ACTIONS:
            raise BundleError(f"entry seq {seq}: service action {action!r} signed by a user key")
        return key
