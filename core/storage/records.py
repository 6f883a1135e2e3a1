"""Typed records that cross the storage boundary, independent of any database driver.

A :class:`LedgerRow` is one stored ledger entry, as every store keeps it (version 1 of the entry format in
:mod:`core.ledger.chain`): ``seq`` from 0, gapless; ``ts`` RFC 3339 UTC; ``payload`` and ``entry`` canonical JSON
(RFC 8785) text; ``prev_hash`` and ``leaf_hash`` lowercase hex SHA-256 (RFC 6962 leaf hash); ``signature`` base64
Ed25519 over the entry bytes by the key ``key_id``. :class:`LedgerHead` is the newest entry's position.

The ``TypedDict`` classes give the exact shape of the small records a store builds itself (credentials, public keys,
user summaries, checkpoints …); every backend returns exactly these keys (checked by the contract suite,
``tests/core/storage/test_contract.py``). Where callers still treat a record as a plain ``dict`` (they pass it on
to functions typed ``dict[str, Any]``), the storage protocols keep ``dict[str, Any]`` and name the shape in their
docstring. :data:`Record` is a stored table row: column name → value, JSON columns still JSON text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias, TypedDict

__all__ = [
    "LEDGER_COLUMNS", "CheckpointSummary", "Credentials", "Deactivation", "Enrolment", "LedgerHead", "LedgerRow",
    "LineageEdge", "PickleTrust", "PublicKey", "Record", "StoredCheckpoint", "UserSummary",
]

Record: TypeAlias = dict[str, Any]
"""One stored row of a domain table (``datasets``, ``models``, ``evaluations``, ``promotion_requests`` …): every
column by name, values as the driver returns them (JSON columns as text, booleans as ``bool``, ``NULL`` as
``None``)."""


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    ts: str
    actor: str
    role: str | None
    action: str
    subject: str
    payload: str
    prev_hash: str
    leaf_hash: str
    key_id: str
    signature: str
    entry: str


LEDGER_COLUMNS = tuple(LedgerRow.__dataclass_fields__)


class LedgerHead(NamedTuple):
    """``(seq, leaf_hash, ts)`` of the newest ledger entry (a tuple: callers may unpack or index it)."""

    seq: int
    leaf_hash: str
    ts: str


class Credentials(TypedDict):
    """A user's (or the service's) sealed private key and its public half (:mod:`core.identity.keys`)."""

    kdf: str
    salt: bytes
    verifier: bytes
    nonce: bytes
    ciphertext: bytes
    public_key: bytes
    key_id: str


class Enrolment(TypedDict):
    """A pending one-time enrolment code (only its SHA-256 is stored)."""

    code_sha256: str
    expires_at: str
    issued_by: str
    seq: int


class PublicKey(TypedDict):
    """A public key and the first ledger seq it may sign (kept after its owner is deactivated)."""

    key_id: str
    owner: str
    public_key: bytes
    valid_from_seq: int


class UserSummary(TypedDict):
    name: str
    created_at: str
    key_id: str | None
    roles: list[str]
    enrolled: bool


class PickleTrust(TypedDict):
    """Who vouched for running a pickle file, from its ``model.pickle_trusted`` ledger entry."""

    seq: int
    ts: str
    name: str


class Deactivation(TypedDict):
    """A user's ``user.deactivated`` ledger entry: when, by whom, why."""

    seq: int
    ts: str
    by: str
    reason: str | None


class CheckpointSummary(TypedDict):
    """A stored signed checkpoint (C2SP signed note ``note``) at tree size ``size`` with Merkle root ``root``."""

    size: int
    root: str
    note: str
    created_at: str


class StoredCheckpoint(CheckpointSummary):
    """The newest checkpoint with its Merkle frontier (hex hashes), from which the next one continues."""

    frontier: list[str]


class LineageEdge(TypedDict):
    src: str
    dst: str
    kind: str
    seq: int
