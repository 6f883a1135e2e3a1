"""The ledger entries of a bundle and their proofs: each entry's RFC 6962 leaf hash and inclusion proof against the
checkpoint, its signer (replayed by :class:`core.evidence.bundle_keys._KeyHistory`) and signature, and the RFC 9162
consistency proof from an earlier checkpoint.

Part of the stand-alone verifier (:mod:`core.evidence.bundle_verify`): only the standard library, ``cryptography``
and the inlined :mod:`core.tlog.merkle` and :mod:`core.tlog.signed_note`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --- inline: core.evidence.bundle_format, core.evidence.bundle_keys, core.tlog.merkle, core.tlog.signed_note ---
from core.evidence.bundle_format import KEY_ACTIONS, BundleError, _b64, _ed25519_ok, _load_json
from core.evidence.bundle_keys import _Key, _KeyHistory
from core.tlog.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from core.tlog.signed_note import Checkpoint, NoteError, Verifier, open_note, parse_checkpoint

# --- end inline ---


@dataclass
class _Entries:
    """The included entries, each proven against the checkpoint and signed by a key valid for it then."""

    count: int  # entries read from entries.jsonl
    history: _KeyHistory
    by_seq: dict[int, dict[str, Any]]  # seq -> the signed entry
    signed_by: dict[int, _Key]  # seq -> the key that signed it
    leaves: dict[int, str]  # seq -> leaf hash (hex), proven against the checkpoint
    recorded: dict[str, int]  # statement digest -> seq of the entry that records it
    artifacts: dict[str, str]  # model reference -> its artifact's SHA-256 ("" if none)
    signers: dict[str, int]  # signer -> entries signed


def _read_entries(evidence: Path) -> list[dict[str, Any]]:
    try:
        lines = (evidence / "entries.jsonl").read_bytes().decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"entries: cannot read entries.jsonl ({exc})") from exc
    entries = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise BundleError(f"entries.jsonl line {number}: not JSON") from exc
            if not isinstance(item, dict) or type(item.get("seq")) is not int:
                raise BundleError(f"entries.jsonl line {number}: not an entry with an integer seq")
            entries.append(item)
    return entries


def _check_entries(evidence: Path, checkpoint: Checkpoint, service_public_key: bytes) -> _Entries:
    """Read and check every included entry, replaying key registrations and rotations as the ledger establishes
    them; raise :class:`BundleError` naming the first that fails."""
    entries = _read_entries(evidence)
    history = _KeyHistory(service_public_key)
    by_seq: dict[int, dict[str, Any]] = {}
    signed_by: dict[int, _Key] = {}
    pending: list[tuple[int, bytes, bytes, bytes]] = []
    leaves: dict[int, str] = {}  # seq -> leaf hash (hex), proven against the checkpoint
    recorded: dict[str, int] = {}  # statement digest -> seq of the entry that records it
    artifacts: dict[str, str] = {}
    entry_signers: dict[str, int] = {}
    for item in sorted(entries, key=lambda e: e["seq"]):
        seq = item["seq"]
        if seq in by_seq:
            raise BundleError(f"entry seq {seq}: included twice")
        raw = str(item.get("entry", "")).encode("utf-8")
        leaf = leaf_hash(raw)
        if leaf.hex() != item.get("leaf_hash"):
            raise BundleError(f"entry seq {seq}: leaf hash does not match SHA-256(0x00 || entry)")
        try:
            proof = [_b64(p, f"entry seq {seq}: proof") for p in item.get("inclusion_proof", [])]
            verify_inclusion(seq, checkpoint.size, leaf, proof, checkpoint.root)
        except (ProofError, ValueError, TypeError) as exc:
            raise BundleError(f"entry seq {seq}: inclusion proof fails against the checkpoint ({exc})") from exc
        entry = json.loads(raw)
        if not isinstance(entry, dict) or entry.get("seq") != seq:
            raise BundleError(f"entry seq {seq}: the signed entry says seq "
                              f"{entry.get('seq') if isinstance(entry, dict) else None}")
        if not by_seq and seq != 0:
            raise BundleError("entries: the ledger's genesis entry (seq 0), which names the service key, is missing")
        if "key_id" in item and item["key_id"] != entry.get("key_id"):
            raise BundleError(f"entry seq {seq}: key_id beside the entry differs from the signed one")
        by_seq[seq] = entry
        leaves[seq] = leaf.hex()
        if entry.get("action") in KEY_ACTIONS:
            history.apply(seq, entry)
        key = signed_by[seq] = history.signer(seq, entry)
        pending.append((seq, key.public_key, _b64(item.get("signature", ""), f"entry seq {seq}: signature"), raw))
        entry_signers[key.owner] = entry_signers.get(key.owner, 0) + 1
        payload = entry.get("payload") or {}
        if payload.get("attestation_sha256"):
            if payload["attestation_sha256"] in recorded:
                raise BundleError(f"entry seq {seq}: records a statement already recorded at seq "
                                  f"{recorded[payload['attestation_sha256']]}")
            recorded[payload["attestation_sha256"]] = seq
        if entry.get("action") == "model.registered":
            artifacts[f"{payload['name']}@{payload['version']}"] = payload.get("artifact_sha256") or ""
    if not by_seq:
        raise BundleError("entries: none included")

    _check_signatures(pending)
    return _Entries(len(entries), history, by_seq, signed_by, leaves, recorded, artifacts, entry_signers)


def _check_signatures(pending: list[tuple[int, bytes, bytes, bytes]]) -> None:
    """Ed25519-verify ``(seq, public key, signature, message)`` on a thread per core (the library drops the GIL)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def check(part: list[tuple[int, bytes, bytes, bytes]]) -> int | None:
        for seq, public, signature, message in part:
            if not _ed25519_ok(public, signature, message):
                return seq
        return None

    workers = max(1, min(8, os.cpu_count() or 1))
    size = max(1, -(-len(pending) // workers))
    with ThreadPoolExecutor(workers) as pool:
        failures = [s for s in pool.map(check, [pending[i:i + size] for i in range(0, len(pending), size)])
                    if s is not None]
    if failures:
        raise BundleError(f"entry seq {min(failures)}: signature does not verify")


def _check_consistency(evidence: Path, checkpoint: Checkpoint, service: Verifier) -> dict[str, int] | None:
    """The RFC 9162 consistency proof from the earlier checkpoint in ``evidence/consistency.json``, if any."""
    if not (evidence / "consistency.json").exists():
        return None
    doc = _load_json(evidence / "consistency.json", "consistency")
    try:
        old_body, _ = open_note(doc["old_checkpoint"], [service])
        old = parse_checkpoint(old_body)
        proof = [base64.b64decode(p, validate=True) for p in doc["proof"]]
        if old.size < checkpoint.size:
            verify_consistency(old.size, checkpoint.size, old.root, checkpoint.root, proof)
        elif old.size > checkpoint.size:
            raise ProofError(f"the earlier checkpoint (size {old.size}) is larger than the bundle's")
        elif old.root != checkpoint.root:
            raise ProofError("same size, different roots")
    except (KeyError, NoteError, ProofError, ValueError) as exc:
        raise BundleError(f"consistency proof: {exc}") from exc
    return {"from_size": old.size, "to_size": checkpoint.size}
