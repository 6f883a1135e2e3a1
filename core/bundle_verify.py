"""Offline verification of an exported evidence bundle.

This module needs only the Python standard library and ``cryptography``; ``countersign report`` writes it, with
:mod:`core.merkle` and :mod:`core.signed_note` inlined, as the stand-alone ``verify.py`` beside the report, so a
regulator can run ``python verify.py DIR`` without Countersign or its database. It checks, and names the first
failure of:

1. the file digests: every file of the bundle is listed in ``evidence/manifest.json`` with its SHA-256, nothing is
   missing or added, and the manifest's DSSE envelope is signed by the exporting user's ledger-registered key;
2. the checkpoint: a C2SP signed note by the log's service key (pin it with ``--trusted-key``; otherwise the key
   in ``evidence/keys.json`` is used and the summary says so);
3. every ledger entry: its RFC 6962 leaf hash and inclusion proof against the checkpoint's root, and its Ed25519
   signature by a key that an included ledger entry registered (genesis for the service key, ``user.added`` /
   ``user.key_rotated`` for users);
4. every DSSE statement (evaluations, approval decisions): signed by the registered key it names, its payload digest
   recorded by an included ledger entry, its subject the model artifact's digest;
5. with an older checkpoint (``evidence/consistency.json``): its signature and the RFC 9162 consistency proof from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# --- inline: core.merkle, core.signed_note ---
from core.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from core.signed_note import NoteError, open_note, parse_checkpoint, parse_verifier_key, verifier_key

# --- end inline ---

MANIFEST = "evidence/manifest.json"
MANIFEST_ENVELOPE = "evidence/manifest.dsse.json"
DSSE_TYPE = "application/vnd.in-toto+json"


class BundleError(Exception):
    """The first thing in the bundle that does not check out."""


def _hex_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(text: Any, what: str) -> bytes:  # noqa: ANN401
    """Strict, canonical base64: any other spelling of the same bytes is refused (no malleable padding bits)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{what}: not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise BundleError(f"{what}: not canonical base64")
    return raw


def _pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def _verify_envelope(env: dict[str, Any], keys: dict[str, bytes], what: str) -> bytes:
    if env.get("payloadType") != DSSE_TYPE:
        raise BundleError(f"{what}: unexpected payloadType {env.get('payloadType')!r}")
    body = _b64(env.get("payload"), f"{what}: payload")
    signatures = env.get("signatures") or []
    if not signatures:
        raise BundleError(f"{what}: no signature")
    for sig in signatures:
        keyid = sig.get("keyid", "")
        if keyid not in keys:
            raise BundleError(f"{what}: signed by keyid {keyid!r}, which no included ledger entry registered")
        try:
            Ed25519PublicKey.from_public_bytes(keys[keyid]).verify(_b64(sig.get("sig"), f"{what}: signature"),
                                                                  _pae(DSSE_TYPE, body))
        except (InvalidSignature, ValueError, KeyError) as exc:
            raise BundleError(f"{what}: envelope signature by {keyid} does not verify") from exc
    return body


def _check_signatures(pending: list[tuple[int, bytes, bytes, bytes]]) -> None:
    """Ed25519-verify ``(seq, public key, signature, message)`` on a thread per core (the library drops the GIL)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def check(part: list[tuple[int, bytes, bytes, bytes]]) -> int | None:
        for seq, public, signature, message in part:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
            except (InvalidSignature, ValueError):
                return seq
        return None

    workers = max(1, min(8, os.cpu_count() or 1))
    size = max(1, -(-len(pending) // workers))
    with ThreadPoolExecutor(workers) as pool:
        failures = [s for s in pool.map(check, [pending[i:i + size] for i in range(0, len(pending), size)])
                    if s is not None]
    if failures:
        raise BundleError(f"entry seq {min(failures)}: signature does not verify")


def _load_json(path: Path, what: str) -> Any:  # noqa: ANN401
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{what}: cannot read {path.name} ({exc})") from exc


def verify_bundle(root: str | Path, trusted_key: str | None = None) -> dict[str, Any]:
    """Verify the bundle in ``root``; return a summary or raise :class:`BundleError` naming the first failure."""
    try:
        return _verify_bundle(root, trusted_key)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError) as exc:
        raise BundleError(f"malformed bundle: {type(exc).__name__}: {exc}") from exc


def _verify_bundle(root: str | Path, trusted_key: str | None = None) -> dict[str, Any]:
    root = Path(root)
    evidence = root / "evidence"
    # 1. file digests, against the manifest (whose signature is checked once the signer's key is proven)
    try:
        manifest_bytes_on_disk = (root / MANIFEST).read_bytes()
        manifest = json.loads(manifest_bytes_on_disk)
    except (OSError, ValueError) as exc:
        raise BundleError(f"manifest: cannot read evidence/manifest.json ({exc})") from exc
    listed = manifest.get("predicate", {}).get("files", {}) if isinstance(manifest, dict) else {}
    if not isinstance(listed, dict) or not listed:
        raise BundleError("manifest: no file list")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    present -= {MANIFEST, MANIFEST_ENVELOPE}
    for name in sorted(present - set(listed)):
        raise BundleError(f"file digest: {name} is not listed in the manifest")
    for name, digest in sorted(listed.items()):
        path = root / name
        if not path.is_file():
            raise BundleError(f"file digest: {name} is listed but missing")
        if _hex_sha256(path.read_bytes()) != digest:
            raise BundleError(f"file digest: {name} does not match its SHA-256 in the manifest")

    keys_doc = _load_json(evidence / "keys.json", "keys")
    vkey_text = trusted_key or keys_doc.get("service", {}).get("verifier_key", "")
    try:
        service = parse_verifier_key(vkey_text)
    except (NoteError, ValueError) as exc:
        raise BundleError(f"service verifier key: {exc}") from exc

    # 2. checkpoint
    try:
        note_text = (evidence / "checkpoint.txt").read_text(encoding="utf-8")
        body, _ = open_note(note_text, [service])
        checkpoint = parse_checkpoint(body)
    except (OSError, NoteError, ValueError) as exc:
        raise BundleError(f"checkpoint: {exc}") from exc

    # 3. entries, replaying key registrations as the ledger establishes them
    entries = []
    try:
        lines = (evidence / "entries.jsonl").read_bytes().decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"entries: cannot read entries.jsonl ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise BundleError(f"entries.jsonl line {number}: not JSON") from exc
    keys: dict[str, bytes] = {}
    owners: dict[str, str] = {}
    pending: list[tuple[int, bytes, bytes, bytes]] = []
    attested: set[str] = set()
    artifacts: dict[str, str] = {}
    for item in sorted(entries, key=lambda e: e.get("seq", -1)):
        seq = item.get("seq")
        raw = str(item.get("entry", "")).encode("utf-8")
        leaf = leaf_hash(raw)
        if leaf.hex() != item.get("leaf_hash"):
            raise BundleError(f"entry seq {seq}: leaf hash does not match SHA-256(0x00 || entry)")
        try:
            proof = [_b64(p, f"entry seq {seq}: proof") for p in item.get("inclusion_proof", [])]
            verify_inclusion(int(seq), checkpoint.size, leaf, proof, checkpoint.root)
        except (ProofError, ValueError, TypeError) as exc:
            raise BundleError(f"entry seq {seq}: inclusion proof fails against the checkpoint ({exc})") from exc
        entry = json.loads(raw)
        if entry.get("seq") != seq:
            raise BundleError(f"entry seq {seq}: the signed entry says seq {entry.get('seq')}")
        payload = entry.get("payload") or {}
        if entry.get("action") == "ledger.initialized":
            public = base64.b64decode(payload.get("service_public_key", ""))
            if public != service.public_key:
                raise BundleError("the ledger's genesis names a different service key than the checkpoint's signer")
            keys[payload["service_key_id"]] = public
            owners[payload["service_key_id"]] = "@service"
        key_id = entry.get("key_id")
        if entry.get("action") == "user.added" and payload.get("name") == entry.get("actor") and key_id == \
                payload.get("key_id") and seq == 1:
            keys[key_id] = base64.b64decode(payload["public_key"])
            owners[key_id] = payload["name"]
        if key_id not in keys:
            raise BundleError(f"entry seq {seq}: signed by key {key_id!r}, not registered by an included entry")
        pending.append((seq, keys[key_id], _b64(item.get("signature", ""), f"entry seq {seq}: signature"), raw))
        if owners[key_id] not in ("@service", entry.get("actor")):
            raise BundleError(f"entry seq {seq}: signed with {owners[key_id]}'s key, not its actor's")
        if entry.get("action") in ("user.added", "user.key_rotated") and payload.get("key_id"):
            keys[payload["key_id"]] = base64.b64decode(payload["public_key"])
            owners[payload["key_id"]] = payload["name"]
        if payload.get("attestation_sha256"):
            attested.add(payload["attestation_sha256"])
        if entry.get("action") == "model.registered":
            artifacts[f"{payload['name']}@{payload['version']}"] = payload.get("artifact_sha256") or ""

    _check_signatures(pending)

    # manifest signature: by the exporting user's key, proven by the included ledger entries
    signed = _verify_envelope(_load_json(root / MANIFEST_ENVELOPE, "manifest envelope"), keys, "manifest envelope")
    if signed != manifest_bytes_on_disk:
        raise BundleError("manifest.json differs from the signed manifest")

    # 4. statements
    statements = 0
    for path in sorted((evidence / "statements").glob("*.json")):
        what = f"statement {path.name}"
        body = _verify_envelope(_load_json(path, what), keys, what)
        if _hex_sha256(body) not in attested:
            raise BundleError(f"{what}: no included ledger entry records this statement's digest")
        stmt = json.loads(body)
        subject = (stmt.get("subject") or [{}])[0]
        ref = str(subject.get("name", "")).removeprefix("model:")
        if ref in artifacts and artifacts[ref] and subject.get("digest", {}).get("sha256") != artifacts[ref]:
            raise BundleError(f"{what}: subject digest is not {ref}'s artifact digest")
        statements += 1

    # 5. consistency with an earlier checkpoint
    consistency = None
    if (evidence / "consistency.json").exists():
        doc = _load_json(evidence / "consistency.json", "consistency")
        try:
            old_body, _ = open_note(doc["old_checkpoint"], [service])
            old = parse_checkpoint(old_body)
            proof = [base64.b64decode(p, validate=True) for p in doc["proof"]]
            if old.size < checkpoint.size:
                verify_consistency(old.size, checkpoint.size, old.root, checkpoint.root, proof)
            elif old.size == checkpoint.size and old.root != checkpoint.root:
                raise ProofError("same size, different roots")
        except (KeyError, NoteError, ProofError, ValueError) as exc:
            raise BundleError(f"consistency proof: {exc}") from exc
        consistency = {"from_size": old.size, "to_size": checkpoint.size}

    return {"ok": True, "origin": checkpoint.origin, "tree_size": checkpoint.size,
            "root": checkpoint.root.hex(), "entries": len(entries), "statements": statements,
            "files": len(listed), "consistency": consistency,
            "service_key": verifier_key(service.name, service.public_key),
            "service_key_pinned": trusted_key is not None}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    trusted = None
    if "--trusted-key" in args:
        i = args.index("--trusted-key")
        trusted = args[i + 1] if i + 1 < len(args) else None
        del args[i:i + 2]
    if len(args) != 1:
        print("usage: python verify.py BUNDLE_DIR [--trusted-key VERIFIER_KEY]", file=sys.stderr)
        return 2
    try:
        summary = verify_bundle(args[0], trusted)
    except BundleError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    pinned = "pinned" if summary["service_key_pinned"] else "taken from evidence/keys.json (pin it with --trusted-key)"
    print(f"OK: {summary['files']} files, {summary['entries']} ledger entries and {summary['statements']} signed "
          f"statements verified against checkpoint {summary['origin']} size {summary['tree_size']} "
          f"(root {summary['root']}); service key {pinned}"
          + (f"; consistent with the earlier checkpoint at size {summary['consistency']['from_size']}"
             if summary["consistency"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
