"""Typed records that cross the storage boundary, independent of any database driver.

A :class:`LedgerRow` is one stored ledger entry, as every store keeps it (version 1 of the entry format in
:mod:`core.ledger.chain`): ``seq`` from 0, gapless; ``ts`` RFC 3339 UTC; ``payload`` and ``entry`` canonical JSON
(RFC 8785) text; ``prev_hash`` and ``leaf_hash`` lowercase hex SHA-256 (RFC 6962 leaf hash); ``signature`` base64
Ed25519 over the entry bytes by the key ``key_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LEDGER_COLUMNS", "LedgerRow"]


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
