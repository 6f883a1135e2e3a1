"""Per-entry checks of ledger verification, for a slice of rows: the part that parallelises.

For each row: the leaf hash is recomputed as RFC 6962 ``SHA-256(0x00 || entry)`` and compared with the stored one;
the stored canonical entry must parse as a version-1 entry whose fields agree with every queryable column; its
Ed25519 signature (RFC 8032, :mod:`core.tlog.ed25519`) must verify under the key the row names.

Agreement is first tested the cheap way: the RFC 8785 serialisation of the columns (members in their fixed order,
strings escaped by :func:`core.tlog.canonical.json_string`, the payload column verbatim) is compared with the stored
entry
byte for byte. Every member but the payload is a self-delimiting JSON string, integer or ``null`` and the payload
sits between two of them, so equal bytes mean each column *is* the corresponding member of the signed entry. When
the bytes differ — a payload column written in another (equivalent) spelling by an older version, or tampering — the
entry is parsed and compared member by member, and only a semantic difference is a problem.

Everything here takes and returns plain data (lists of strings and numbers, bytes), so the same function runs in
this process or in a worker process (:mod:`core.ledger.parallel`) — this module imports nothing heavier than libsodium.
Cross-entry checks (the chain, key validity, roles, checkpoints) stay in :mod:`core.ledger.verify`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from core.tlog import ed25519
from core.tlog.canonical import json_string

#: Columns a slice must carry (besides ``entry``, ``signature``, ``leaf_hash`` and ``payload``), with the entry
#: member each must equal.
FIELDS = (("seq", "seq"), ("ts", "ts"), ("actor", "actor"), ("role", "role"), ("action", "action"),
          ("subject", "subject"), ("prev", "prev_hash"), ("key_id", "key_id"))
COLUMNS = ("seq", "ts", "actor", "role", "action", "subject", "payload", "prev_hash", "leaf_hash", "key_id",
           "signature", "entry")

#: Stop collecting problems for a slice beyond this many (the report shows the first ones anyway).
MAX_PROBLEMS = 1000


def check_entries(
    base: int, cols: dict[str, list[Any]], keymap: dict[str, bytes]
) -> tuple[bytes, list[tuple[int, str]]]:
    """Check rows ``base ..`` of ``cols``; return their recomputed leaf hashes (concatenated) and the problems.

    A problem is ``(seq, description)``; ``seq`` is the stored one, or the row's position when it has none.
    """
    problems: list[tuple[int, str]] = []
    leaves: list[bytes] = []
    sha256, loads, verify, b64decode = hashlib.sha256, json.loads, ed25519.verify, base64.b64decode
    entries, signatures, key_ids, seqs = cols["entry"], cols["signature"], cols["key_id"], cols["seq"]
    stored_leaves, payloads = cols["leaf_hash"], cols["payload"]
    column_lists = [(member, cols[column], column) for member, column in FIELDS]
    actions, actors, roles, subjects, tss, prevs = (cols[c] for c in ("action", "actor", "role", "subject", "ts",
                                                                      "prev_hash"))
    heads: dict[tuple[str, str, str], str] = {}  # the escaped first three members repeat from entry to entry
    for i, entry in enumerate(entries):
        raw = entry.encode("utf-8")
        leaf = sha256(b"\x00" + raw).digest()
        leaves.append(leaf)
        if len(problems) >= MAX_PROBLEMS:
            continue
        seq = seqs[i]
        name = seq if seq is not None else base + i
        if leaf.hex() != stored_leaves[i]:
            problems.append((name, "stored leaf hash does not match SHA-256(0x00 || entry)"))
        key = keymap.get(key_ids[i])
        if key is None:
            problems.append((name, f"signed by unknown key {key_ids[i]!r}"))
        else:
            try:
                good = verify(key, b64decode(signatures[i], validate=True), raw)
            except (binascii.Error, ValueError, TypeError):
                good = False
            if not good:
                problems.append((name, f"signature does not verify under key {key_ids[i]}"))
        try:
            head_key = (actions[i], actors[i], key_ids[i])
            head = heads.get(head_key)
            if head is None:
                head = ('{"action":' + json_string(head_key[0]) + ',"actor":' + json_string(head_key[1])
                        + ',"key_id":' + json_string(head_key[2]) + ',"payload":')
                if len(heads) < 4096:
                    heads[head_key] = head
            role = roles[i]
            if type(seq) is int and entry == (
                head + payloads[i] + ',"prev":' + json_string(prevs[i])
                + ',"role":' + ("null" if role is None else json_string(role))
                + ',"seq":' + str(seq) + ',"subject":' + json_string(subjects[i])
                + ',"ts":' + json_string(tss[i]) + ',"v":1}'
            ):
                continue  # the columns serialise to exactly the signed entry
        except TypeError:  # a NULL where a string belongs: decide the slow way
            pass
        try:
            obj = loads(entry)
        except ValueError:
            problems.append((name, "stored entry is not valid JSON"))
            continue
        if not isinstance(obj, dict) or obj.get("v") != 1:
            problems.append((name, "stored entry is not a version-1 ledger entry"))
            continue
        for member, values, column in column_lists:
            if obj.get(member) != values[i]:
                problems.append(
                    (name, f"column {column!r} holds {values[i]!r} but the signed entry says {obj.get(member)!r}"))
        try:
            payload = loads(payloads[i])
        except (ValueError, TypeError):
            payload = None
        if payload != obj.get("payload"):
            problems.append((name, "column 'payload' does not match the signed entry"))
    return b"".join(leaves), problems
