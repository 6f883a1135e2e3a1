"""The append-only, hash-chained, signed audit ledger.

Entry format (version 1). The *canonical entry* is the RFC 8785 serialization of::

    {"v": 1, "seq": int, "ts": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "actor": str, "role": str | null,
     "action": str, "subject": str, "payload": {...}, "prev": hex, "key_id": hex}

* ``prev`` is the leaf hash of entry ``seq - 1`` (64 zeros for ``seq`` 0), chaining every entry to its history;
* the leaf hash is RFC 6962 ``SHA-256(0x00 || canonical entry)`` and the whole log is the RFC 6962 Merkle tree
  over the leaf hashes (see :mod:`core.tlog.merkle`), summarised by signed checkpoints (:mod:`core.ledger.checkpoints`);
* ``signature`` is Ed25519 over the canonical entry bytes by the key ``key_id``: the acting user's own key, or the
  service key for events no user can sign (genesis, schema upgrades, refused logins and refused actions).

The ``ledger`` table stores the canonical entry verbatim (column ``entry``) beside queryable copies of its fields
(``payload`` is a compact JSON copy for SQL filters); :mod:`core.ledger.verify` checks that every copy agrees with the
signed entry. Rows are only ever inserted.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.ledger import parallel
from core.storage.records import LEDGER_COLUMNS, LedgerRow
from core.tlog.canonical import EntryTemplate
from core.tlog.ed25519 import SIGNATURE_SIZE, SigningKey, sign_many
from core.tlog.merkle import leaf_hash

if TYPE_CHECKING:
    from core.storage.contract import Transaction as Tx

ENTRY_VERSION = 1
ZERO_HASH = "0" * 64

#: Actions signed by the service key rather than by a user.
SERVICE_ACTIONS = frozenset({"ledger.initialized", "schema.upgraded", "auth.failed", "access.denied"})


_second_prefix: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """Current UTC time, ISO 8601 with microseconds and ``Z`` (fixed width, so it sorts as text)."""
    global _second_prefix
    second, micro = divmod(time.time_ns() // 1000, 1_000_000)
    cached_second, prefix = _second_prefix
    if cached_second != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_prefix = (second, prefix)
    return f"{prefix}.{micro:06d}Z"


@dataclass(frozen=True)
class Signer:
    """A key that signs ledger entries: a user's unlocked key or the service key."""

    key_id: str
    private_key: Ed25519PrivateKey
    _fast: SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seed = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        object.__setattr__(self, "_fast", SigningKey(seed))

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature of ``message`` (libsodium; byte-identical to ``private_key.sign``)."""
        return self._fast.sign(message)

    @property
    def seed(self) -> bytes:
        """The private seed, for handing this key to a signing worker process."""
        return self._fast.seed


@dataclass(frozen=True)
class Event:
    """What happened, before it is sealed into an entry."""

    action: str
    subject: str
    payload: dict[str, Any]


def seal(
    *,
    seq: int,
    ts: str,
    actor: str,
    role: str | None,
    event: Event,
    prev: str,
    signer: Signer,
) -> LedgerRow:
    """Build, hash and sign one entry."""
    template = EntryTemplate(actor=actor, key_id=signer.key_id, role=role, version=ENTRY_VERSION)
    values, entry = _unsigned(template, seq=seq, ts=ts, actor=actor, role=role, event=event, prev=prev,
                              key_id=signer.key_id)
    values[_SIGNATURE] = base64.b64encode(signer.sign(entry)).decode("ascii")
    return LedgerRow(*values)


_SIGNATURE = LEDGER_COLUMNS.index("signature")


def _unsigned(
    template: EntryTemplate, *, seq: int, ts: str, actor: str, role: str | None, event: Event, prev: str,
    key_id: str,
) -> tuple[list[Any], bytes]:
    """The column values of an entry (in ``LEDGER_COLUMNS`` order, signature still empty) and its bytes.

    ``template`` must have been made for the same ``actor``, ``role`` and ``key_id``.
    """
    entry, payload = template.parts(action=event.action, payload=event.payload, prev=prev, seq=seq,
                                    subject=event.subject, ts=ts)
    return [seq, ts, actor, role, event.action, event.subject, payload.decode(), prev, leaf_hash(entry).hex(),
            key_id, "", entry.decode()], entry


def _sign_local(signer: Signer, entries: list[bytes]) -> list[bytes]:
    """Sign entries in this process; large batches on a thread per core (libsodium releases the GIL)."""
    if len(entries) < _PARALLEL_SIGNING_MIN:
        return [signer.sign(e) for e in entries]
    workers = max(1, os.cpu_count() or 1)
    size = -(-len(entries) // workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ledger-sign") as pool:
        parts = pool.map(lambda start: [signer.sign(e) for e in entries[start:start + size]],
                         range(0, len(entries), size))
        return [sig for part in parts for sig in part]


def _split_signatures(blob: bytes) -> list[bytes]:
    return [blob[i:i + SIGNATURE_SIZE] for i in range(0, len(blob), SIGNATURE_SIZE)]


class _BatchSigner:
    """Signs a bulk append while it is still being sequenced.

    Every full chunk of :data:`SIGN_CHUNK` entries goes to the worker processes (:mod:`core.ledger.parallel`) as soon as
    it is sequenced, so signing on the other core overlaps canonicalisation on this one — once the workers are
    running, or once a batch proves at least :data:`PROCESS_SIGNING_MIN` entries long (worth starting them for).
    Small batches in a process without workers never start one.
    Signing may lag sequencing because the chain links leaf hashes, which do not cover signatures.
    """

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.pending: list[bytes] = []
        self.chunks: list[tuple[list[bytes], Future[bytes] | None]] = []
        self.total = 0

    def add(self, entry: bytes) -> None:
        self.pending.append(entry)
        self.total += 1
        if len(self.pending) >= SIGN_CHUNK and (self.total >= PROCESS_SIGNING_MIN or parallel.running()):
            self._ship()

    def _ship(self) -> None:
        pending, self.pending = self.pending, []
        for start in range(0, len(pending), SIGN_CHUNK):  # chunk-sized tasks, so every worker gets a share
            chunk = pending[start:start + SIGN_CHUNK]
            self.chunks.append((chunk, parallel.submit("sign_many", self.signer.seed, chunk)))

    def signatures(self) -> list[bytes]:
        if not self.chunks:
            return _sign_local(self.signer, self.pending)
        if self.pending:
            self._ship()
        out: list[bytes] = []
        for chunk, future in self.chunks:
            if future is None:
                out.extend(_sign_local(self.signer, chunk))
            else:
                out.extend(_split_signatures(parallel.result_or_run(future, sign_many, self.signer.seed, chunk)))
        return out


_PARALLEL_SIGNING_MIN = 512
#: Bulk appends at least this long are signed by worker processes, in chunks of ``SIGN_CHUNK`` entries.
PROCESS_SIGNING_MIN = 8192
SIGN_CHUNK = 1024


class Ledger:
    """Appends entries inside the caller's transaction; writes a checkpoint every ``checkpoint_interval``."""

    def __init__(self, checkpointer: Callable[[Tx], Any] | None = None, checkpoint_interval: int = 1000) -> None:
        self._checkpointer = checkpointer
        self.checkpoint_interval = max(1, int(checkpoint_interval))

    def append(
        self, tx: Tx, *, signer: Signer, actor: str, role: str | None, event: Event
    ) -> LedgerRow:
        """Append one event in ``tx`` (the same transaction as the state change it records)."""
        return self.append_many(tx, signer=signer, actor=actor, role=role, events=[event])[0]

    def append_many(
        self, tx: Tx, *, signer: Signer, actor: str, role: str | None, events: Iterable[Event]
    ) -> list[LedgerRow]:
        """Append several events by one actor in one transaction (bulk import)."""
        head = tx.ledger_head()
        seq, prev, last_ts = (0, ZERO_HASH, "") if head is None else (head[0] + 1, head[1], head[2])
        unsigned: list[list[Any]] = []
        batch = _BatchSigner(signer)
        template = EntryTemplate(actor=actor, key_id=signer.key_id, role=role, version=ENTRY_VERSION)
        leaf_index = LEDGER_COLUMNS.index("leaf_hash")
        for event in events:
            ts = max(utc_now(), last_ts)  # never earlier than its predecessor, whatever the clocks say
            values, entry = _unsigned(template, seq=seq, ts=ts, actor=actor, role=role, event=event, prev=prev,
                                      key_id=signer.key_id)
            unsigned.append(values)
            batch.add(entry)
            seq, prev, last_ts = seq + 1, values[leaf_index], ts
        if not unsigned:
            return []
        b64encode = base64.b64encode
        for values, signature in zip(unsigned, batch.signatures(), strict=True):
            values[_SIGNATURE] = b64encode(signature).decode("ascii")
        tx.insert_ledger_values(unsigned)
        rows = [LedgerRow(*values) for values in unsigned]
        first_size, new_size = rows[0].seq + 1, seq
        interval = self.checkpoint_interval
        if self._checkpointer is not None and (new_size // interval) > ((first_size - 1) // interval):
            self._checkpointer(tx)
        return rows


def decode_row(row: LedgerRow) -> dict[str, Any]:
    """A ledger row as a plain dict with the payload parsed (for display and JSON output)."""
    return {
        "seq": row.seq,
        "ts": row.ts,
        "actor": row.actor,
        "role": row.role,
        "action": row.action,
        "subject": row.subject,
        "payload": json.loads(row.payload),
        "prev_hash": row.prev_hash,
        "leaf_hash": row.leaf_hash,
        "key_id": row.key_id,
        "signature": row.signature,
    }


def payload_of(rows: Sequence[LedgerRow]) -> list[dict[str, Any]]:
    """Parsed payloads of several rows."""
    return [json.loads(r.payload) for r in rows]
