"""Offline verification of an exported evidence bundle.

This module needs only the Python standard library and ``cryptography``; ``countersign report`` writes it, with
:mod:`core.tlog.merkle` and :mod:`core.tlog.signed_note` inlined, as the stand-alone ``verify.py`` beside the report,
so a
regulator can run ``python verify.py DIR`` without Countersign or its database. It checks, and names the first
failure of:

1. the file digests: every file of the bundle is listed in ``evidence/manifest.json`` with its SHA-256, nothing is
   missing or added;
2. the checkpoint: a C2SP signed note by the log's service key (pin it with ``--trusted-key``; otherwise the key
   in ``evidence/keys.json`` is used and the summary says so);
3. every ledger entry: its RFC 6962 leaf hash and inclusion proof against the checkpoint's root, and its Ed25519
   signature by **its actor's key, valid at that entry's seq** — the keys are replayed from the included ledger
   entries exactly as ``countersign verify`` replays them (genesis for the service key; ``user.added`` — or
   ``user.enrolled`` for accounts added without a key — and ``user.key_rotated``, each with its proof of
   possession; a key is valid from the entry after the one that registers it — from its own entry for the
   bootstrap admin and for an enrolment — until the entry that rotates it out). The service
   key signs only service events, a user's key only that user's entries;
4. the manifest: signed (DSSE) by the key that signed the ``report.generated`` entry it names, whose actor is the
   manifest's exporter; that entry closes the export (the bundle carries every entry from it to the checkpoint) and
   the key was not rotated out before the checkpoint. Any other key — another user's, the service's, the exporter's
   own retired one — is refused;
5. the entry set: the ``report.generated`` entry commits (``entry_set`` in its payload: the count, the seqs and the
   SHA-256 of the ``[seq, leaf hash]`` list) to exactly which entries before it the export carries, so even the
   exporter, re-signing their own manifest, cannot drop an entry (a suspension, an approval, an evaluation) or add
   one: the verifier names what is missing or extra. Exports made before the commitment verify with a note saying
   so in the OK line;
6. every DSSE statement (evaluations, approval decisions): its payload digest recorded by an included ledger entry,
   signed by exactly the key that signed that entry (so by its actor, valid at that seq), naming that actor as the
   approver (decisions) and that evaluation (evaluations), its subject the model artifact's digest;
7. with an older checkpoint (``evidence/consistency.json``): its signature and the RFC 9162 consistency proof from it.

DSSE envelopes are read as the DSSE protocol has verifiers read them (:func:`parse_envelope`): standard or URL-safe
base64, and of their signatures only the valid one by the named key counts — one that does not verify, or by a key
the ledger never registered (another tool's), is skipped; a valid one by any other key of the ledger is refused.

The OK line names every signer: the exporter with the key and the seq it is valid from, and who signed the entries
and the statements; the entry-set commitment; and the SHA-256 of the bundled ``verify.py`` with whether it is the
verifier running. The ``verify.py`` inside a bundle travels with it and can be replaced along with it: a regulator
should verify with a copy they obtained independently (``countersign verify-bundle DIR``, or the ``verify.py`` of a
Countersign release whose SHA-256 they know) and compare the bundled one's SHA-256; run as the bundle's own
``verify.py``, the OK line says so.

Limits: a bundle proves what the ledger held up to its checkpoint. A signature made with a key that was valid at
the bundle's checkpoint cannot be told apart from one made later with the same key, once stolen; verify a bundle
against a newer checkpoint (``countersign verify --checkpoint``) to learn whether its keys were rotated since.

The checks live in small modules, each with one job, all inlined into ``verify.py`` by
:mod:`core.evidence.standalone`: :mod:`~core.evidence.bundle_format` (the bundle's layout, vocabulary and primitives),
:mod:`~core.evidence.bundle_keys` (the key history, 3), :mod:`~core.evidence.bundle_dsse` (DSSE envelopes),
:mod:`~core.evidence.bundle_entries` (entries, inclusion and consistency proofs, 3 and 7),
:mod:`~core.evidence.bundle_entry_set` (the entry-set commitment, 5) and :mod:`~core.evidence.bundle_attestations`
(file digests, the manifest and the statements, 1, 4 and 6); this module runs them in order and words the verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# --- inline: core.evidence.bundle_*, core.tlog.signed_note (verify.py holds them all in one file) ---
from core.evidence.bundle_attestations import _check_files, _check_manifest, _check_statement
from core.evidence.bundle_dsse import _open_envelope as _open_envelope, decode_dsse_base64, parse_envelope
from core.evidence.bundle_entries import _check_consistency, _check_entries
from core.evidence.bundle_entry_set import _check_entry_set, _committed_seqs as _committed_seqs, entry_set_commitment
from core.evidence.bundle_format import (
    BUNDLED_VERIFIER,
    DECISION_PREDICATE,
    DSSE_TYPE,
    ENTRY_SET_FIELD,
    EVALUATION_ACTIONS,
    EVALUATION_PREDICATE,
    INDEPENDENT_COPY,
    KEY_ACTIONS,
    MANIFEST,
    MANIFEST_ENVELOPE,
    MANIFEST_PREDICATE,
    POSSESSION_CONTEXT,
    SERVICE_ACTIONS,
    SERVICE_OWNER,
    STATEMENT_TYPE,
    BundleError,
    _hex_sha256,
    _load_json,
)
from core.evidence.bundle_keys import _Key as _Key
from core.tlog.signed_note import NoteError, open_note, parse_checkpoint, parse_verifier_key, verifier_key

# --- end inline ---

__all__ = [
    "BUNDLED_VERIFIER", "DECISION_PREDICATE", "DSSE_TYPE", "ENTRY_SET_FIELD", "EVALUATION_ACTIONS",
    "EVALUATION_PREDICATE", "INDEPENDENT_COPY", "KEY_ACTIONS", "MANIFEST", "MANIFEST_ENVELOPE", "MANIFEST_PREDICATE",
    "POSSESSION_CONTEXT", "SERVICE_ACTIONS", "SERVICE_OWNER", "STATEMENT_TYPE", "BundleError", "decode_dsse_base64",
    "entry_set_commitment", "main", "ok_line", "parse_envelope", "verify_bundle",
]


def verify_bundle(root: str | Path, trusted_key: str | None = None) -> dict[str, Any]:
    """Verify the bundle in ``root``; return a summary or raise :class:`BundleError` naming the first failure.

    The summary names the signers: ``exporter`` (name, key id, the seq its key is valid from, the report entry's
    seq) and ``signers`` (``entries`` and ``statements``: signer name → count, the service as ``@service``),
    ``entry_set`` (the count and SHA-256 the report entry commits to, ``None`` for an export made before the
    commitment) and ``verifier`` (the bundled ``verify.py``'s SHA-256 and ``status``: ``self``, ``same``,
    ``different`` or ``absent``, relative to the verifier running).
    """
    try:
        return _verify_bundle(root, trusted_key)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError) as exc:
        raise BundleError(f"malformed bundle: {type(exc).__name__}: {exc}") from exc


def _verify_bundle(root: str | Path, trusted_key: str | None = None) -> dict[str, Any]:
    root = Path(root)
    evidence = root / "evidence"
    # 1. file digests, against the manifest (whose signature is checked once the exporter's key is proven)
    try:
        manifest_bytes_on_disk = (root / MANIFEST).read_bytes()
        manifest = json.loads(manifest_bytes_on_disk)
    except (OSError, ValueError) as exc:
        raise BundleError(f"manifest: cannot read evidence/manifest.json ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("predicate"), dict):
        raise BundleError("manifest: not an in-toto statement")
    predicate = manifest["predicate"]
    listed = predicate.get("files")
    _check_files(root, listed)

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

    # 3. entries, replaying key registrations and rotations as the ledger establishes them
    entries = _check_entries(evidence, checkpoint, service.public_key)
    by_seq, signed_by, registered = entries.by_seq, entries.signed_by, entries.history.keys

    # 4. the manifest: signed by the exporter's key, the one that signed the report.generated entry it names
    exporter = _check_manifest(root, manifest, manifest_bytes_on_disk, checkpoint.size, by_seq, signed_by,
                               registered)

    # 5. the entry set the report entry commits to: nothing dropped, nothing added, even by the exporter
    entry_set = _check_entry_set(exporter["report_seq"], by_seq, entries.leaves)

    # 6. statements
    statement_signers: dict[str, int] = {}
    statements = 0
    for path in sorted((evidence / "statements").glob("*.json")):
        what = f"statement {path.name}"
        name = _check_statement(_load_json(path, what), what, entries.recorded, by_seq, signed_by, entries.artifacts,
                                registered)
        statement_signers[name] = statement_signers.get(name, 0) + 1
        statements += 1

    # 7. consistency with an earlier checkpoint
    consistency = _check_consistency(evidence, checkpoint, service)

    return {"ok": True, "origin": checkpoint.origin, "tree_size": checkpoint.size,
            "root": checkpoint.root.hex(), "entries": entries.count, "statements": statements,
            "files": len(listed), "consistency": consistency,
            "service_key": verifier_key(service.name, service.public_key),
            "service_key_pinned": trusted_key is not None,
            "exporter": exporter, "entry_set": entry_set, "verifier": _verifier_info(root),
            "signers": {"entries": dict(sorted(entries.signers.items())),
                        "statements": dict(sorted(statement_signers.items()))}}


def _this_verifier() -> bytes | None:
    """The bytes of the stand-alone verifier now running: this file as ``verify.py``, or, run inside Countersign,
    the ``verify.py`` this installation writes into its exports."""
    if __package__ == "core.evidence":
        from core.evidence.standalone import standalone_verifier

        return standalone_verifier().encode("utf-8")
    try:
        return Path(__file__).read_bytes()
    except (NameError, OSError):
        return None


def _verifier_info(root: Path) -> dict[str, Any]:
    """The bundled ``verify.py``'s SHA-256, and how it relates to the verifier running: ``self`` (it is this very
    file: a check that whoever made the bundle could have replaced), ``same``, ``different`` or ``absent``."""
    bundled = root / BUNDLED_VERIFIER
    if not bundled.is_file():
        return {"sha256": None, "status": "absent"}
    data = bundled.read_bytes()
    try:
        running = Path(__file__).resolve()
    except NameError:
        running = None
    if __package__ != "core.evidence" and running == bundled.resolve():
        return {"sha256": _hex_sha256(data), "status": "self"}
    mine = _this_verifier()
    return {"sha256": _hex_sha256(data), "status": "same" if mine == data else "different",
            "running_sha256": None if mine is None else _hex_sha256(mine)}

def _short(key_id: str) -> str:
    return f"{key_id[:8]}…"


def _names(counts: dict[str, int]) -> str:
    return ", ".join(f"{'the service' if n == SERVICE_OWNER else n} ({c})" for n, c in counts.items()) or "nobody"


def ok_line(summary: dict[str, Any]) -> str:
    """The one-line verdict for a verified bundle, naming every signer."""
    exporter = summary["exporter"]
    pinned = "pinned" if summary["service_key_pinned"] else "taken from evidence/keys.json (pin it with --trusted-key)"
    signers = summary["signers"]
    return (f"OK: manifest signed by {exporter['name']} (key {_short(exporter['key_id'])}, valid from seq "
            f"{exporter['valid_from']}; report entry seq {exporter['report_seq']}); "
            f"{summary['entries']} ledger entries signed by {_names(signers['entries'])}; "
            f"{summary['statements']} signed statements by {_names(signers['statements'])}; "
            f"{summary['files']} files; all verified against checkpoint {summary['origin']} size "
            f"{summary['tree_size']} (root {summary['root']}); service key {pinned}"
            + (f"; consistent with the earlier checkpoint at size {summary['consistency']['from_size']}"
               if summary["consistency"] else "")
            + f"; {_entry_set_note(summary)}; {_verifier_note(summary)}")


def _entry_set_note(summary: dict[str, Any]) -> str:
    committed = summary["entry_set"]
    if committed is None:
        return ("NOTE: this export does not commit to its entry set (made before Countersign recorded one), so "
                "entries could have been left out of it unnoticed")
    return (f"the report entry commits to the {committed['entries']} entries before it (sha256 "
            f"{committed['sha256'][:16]}…), all carried, none added")


def _verifier_note(summary: dict[str, Any]) -> str:
    info = summary["verifier"]
    sha = info["sha256"]
    if info["status"] == "absent":
        return f"the bundle carries no {BUNDLED_VERIFIER}"
    if info["status"] == "self":
        return (f"NOTE: this is the bundle's own {BUNDLED_VERIFIER} (sha256 {sha}), which whoever made the bundle "
                f"could have replaced: verify with an independent copy ({INDEPENDENT_COPY})")
    if info["status"] == "same":
        return f"the bundled {BUNDLED_VERIFIER} (sha256 {sha}) is identical to this verifier"
    return (f"the bundled {BUNDLED_VERIFIER} (sha256 {sha}) differs from this verifier (another Countersign "
            "release, or altered): do not rely on it")


def main(argv: list[str] | None = None) -> int:
    """``python verify.py BUNDLE_DIR [--trusted-key VERIFIER_KEY]``: 0 and an OK line, or 1 and what failed."""
    args = list(sys.argv[1:] if argv is None else argv)
    trusted = None
    if "--trusted-key" in args:
        i = args.index("--trusted-key")
        trusted = args[i + 1] if i + 1 < len(args) else None
        del args[i:i + 2]
        if trusted is None:
            args.append("--trusted-key")  # no value: a usage error, never an unpinned run
    if len(args) != 1:
        print("usage: python verify.py BUNDLE_DIR [--trusted-key VERIFIER_KEY]", file=sys.stderr)
        return 2
    try:
        summary = verify_bundle(args[0], trusted)
    except BundleError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(ok_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
