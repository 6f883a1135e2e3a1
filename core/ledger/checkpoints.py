"""Signed checkpoints of the ledger's Merkle tree.

A checkpoint is a C2SP ``tlog-checkpoint`` body (``<origin>\\n<tree size>\\n<base64 root hash>\\n``) inside a C2SP
``signed-note`` signed by the service key. Checkpoints are written every ``checkpoint_interval`` entries in the same
transaction as the entry that completes the interval, and on demand (``countersign checkpoint``). Each stored
checkpoint keeps the Merkle frontier (compact range) at its size, so the next one hashes only the new leaves.

Saving a checkpoint outside the database (``countersign checkpoint > cp.txt``, a report sent to a regulator) is
what later lets ``countersign verify --checkpoint cp.txt`` prove that the log was only ever appended to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.ledger.chain import utc_now
from core.ledger.service_key import SiteLike, load_service_signer
from core.tlog.merkle import CompactRange
from core.tlog.signed_note import NoteSigner, format_checkpoint, sign_note

if TYPE_CHECKING:
    from core.storage.contract import Transaction as Tx


def write_checkpoint(tx: Tx, db_path: SiteLike, origin: str) -> dict[str, Any]:
    """Sign and store a checkpoint at the ledger's current size (or return the existing one at that size), signed by
    the service key of the site ``db_path`` (a :class:`~core.storage.site.Site` or its database file)."""
    size = tx.ledger_size()
    last = tx.latest_checkpoint()
    if last is not None and last["size"] == size:
        return last
    if last is not None and last["size"] < size:
        frontier = CompactRange.from_list(last["size"], [bytes.fromhex(h) for h in last["frontier"]])
    else:
        frontier = CompactRange()
    for leaf in tx.ledger_leaf_hashes(start=frontier.size, end=size):
        frontier.append(bytes.fromhex(leaf))
    root = frontier.root()
    signer = load_service_signer(tx, db_path)
    note = sign_note(format_checkpoint(origin, size, root), [NoteSigner(origin, signer.private_key)])
    frontier_hex = [h.hex() for h in frontier.to_list()]
    tx.insert_checkpoint(size, root.hex(), note, frontier_hex, utc_now())
    return {"size": size, "root": root.hex(), "note": note, "frontier": frontier_hex}
