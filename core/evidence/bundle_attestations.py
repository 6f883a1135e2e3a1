"""What the exporter and the statements' signers attest to: the manifest's file digests, its binding to the
``report.generated`` entry and key of its exporter, and each DSSE statement's binding to the entry that records it.

Part of the stand-alone verifier (:mod:`core.evidence.bundle_verify`): only the standard library and
``cryptography``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# --- inline: core.evidence.bundle_dsse, core.evidence.bundle_format, core.evidence.bundle_keys ---
from core.evidence.bundle_dsse import _open_envelope, decode_dsse_base64
from core.evidence.bundle_format import (
    DECISION_PREDICATE,
    EVALUATION_ACTIONS,
    EVALUATION_PREDICATE,
    MANIFEST,
    MANIFEST_ENVELOPE,
    MANIFEST_PREDICATE,
    STATEMENT_TYPE,
    BundleError,
    _hex_sha256,
    _load_json,
)
from core.evidence.bundle_keys import _Key

# --- end inline ---


def _check_files(root: Path, listed: Any) -> None:  # noqa: ANN401
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


def _check_manifest(root: Path, manifest: dict[str, Any], manifest_bytes: bytes, size: int,
                    by_seq: dict[int, dict[str, Any]], signed_by: dict[int, _Key],
                    registered: dict[str, _Key]) -> dict[str, Any]:
    """Bind the manifest to its exporter: the actor, and the key, of the ``report.generated`` entry it names."""
    predicate = manifest["predicate"]
    if manifest.get("_type") != STATEMENT_TYPE or manifest.get("predicateType") != MANIFEST_PREDICATE:
        raise BundleError("manifest: not a Countersign report manifest statement")
    files = predicate["files"]
    subjects = manifest.get("subject")
    if not isinstance(subjects, list) or {s.get("name"): (s.get("digest") or {}).get("sha256")
                                          for s in subjects if isinstance(s, dict)} != files \
            or len(subjects) != len(files):
        raise BundleError("manifest: its subjects are not the files it lists")
    exporter, report_seq = predicate.get("exported_by"), predicate.get("report_seq")
    if type(report_seq) is not int or report_seq not in by_seq:
        raise BundleError(f"manifest: the report entry it names (seq {report_seq!r}) is not included")
    report = by_seq[report_seq]
    if report.get("action") != "report.generated":
        raise BundleError(f"manifest: entry seq {report_seq} is {report.get('action')!r}, not report.generated")
    if report.get("actor") != exporter or not isinstance(exporter, str):
        raise BundleError(f"manifest: exported by {exporter!r}, but the report entry (seq {report_seq}) is "
                          f"{report.get('actor')!r}'s")
    payload = report.get("payload") or {}
    if str(payload.get("model", "")).partition("@")[0] != predicate.get("model") or \
            payload.get("versions") != predicate.get("versions"):
        raise BundleError(f"manifest: its model and versions differ from the report entry (seq {report_seq})")
    if predicate.get("checkpoint_size") != size:
        raise BundleError(f"manifest: names checkpoint size {predicate.get('checkpoint_size')!r}, the bundle's is "
                          f"{size}")
    # The report entry closes the export: the bundle carries every entry after it up to the checkpoint, and none
    # of them is another report (so an older report entry cannot front a later checkpoint, nor hide a rotation).
    missing = [s for s in range(report_seq, size) if s not in by_seq]
    if missing:
        raise BundleError(f"manifest: the bundle lacks entries seq {missing[0]}.. between the report entry "
                          f"(seq {report_seq}) and its checkpoint (size {size})")
    later = [s for s in range(report_seq + 1, size) if by_seq[s].get("action") == "report.generated"]
    if later:
        raise BundleError(f"manifest: names the report entry seq {report_seq}, but the export's checkpoint "
                          f"follows a later report (seq {later[-1]})")
    key = signed_by[report_seq]
    if key.owner != exporter:
        raise BundleError(f"manifest: the report entry is signed with {key.owner}'s key")
    if key.valid_to is not None:
        raise BundleError(f"manifest: {exporter}'s key {key.key_id} was rotated out at seq {key.valid_to}, "
                          f"before the checkpoint (size {size})")
    signed = _open_envelope(_load_json(root / MANIFEST_ENVELOPE, "manifest envelope"), key, "manifest envelope",
                            registered)
    if signed != manifest_bytes:
        raise BundleError("manifest.json differs from the signed manifest")
    return {"name": exporter, "key_id": key.key_id, "valid_from": key.valid_from, "report_seq": report_seq}


def _check_statement(
    env: Any, what: str, recorded: dict[str, int], by_seq: dict[int, dict[str, Any]],  # noqa: ANN401
    signed_by: dict[int, _Key], artifacts: dict[str, str], registered: dict[str, _Key],
) -> str:
    """Check one statement against the entry that records it; return its signer's name."""
    try:
        digest = _hex_sha256(decode_dsse_base64(env.get("payload") if isinstance(env, dict) else None))
    except ValueError as exc:
        raise BundleError(f"{what}: payload: {exc}") from exc
    seq = recorded.get(digest)
    if seq is None:
        raise BundleError(f"{what}: no included ledger entry records this statement's digest")
    entry, key = by_seq[seq], signed_by[seq]
    body = _open_envelope(env, key, f"{what} (recorded at seq {seq})", registered)  # the bytes verified are read
    stmt = json.loads(body)
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        raise BundleError(f"{what}: not an in-toto Statement v1")
    predicate = stmt.get("predicate") or {}
    payload = entry.get("payload") or {}
    kind = stmt.get("predicateType")
    if kind == DECISION_PREDICATE:
        if predicate.get("approver") != entry.get("actor") or predicate.get("role") != entry.get("role") or \
                predicate.get("request_id") != payload.get("request_id") or \
                predicate.get("decision") != payload.get("decision"):
            raise BundleError(f"{what}: names approver {predicate.get('approver')!r} as "
                              f"{predicate.get('role')!r}, but the entry recording it (seq {seq}) is "
                              f"{entry.get('actor')!r}'s decision as {entry.get('role')!r}")
    elif kind == EVALUATION_PREDICATE:
        if entry.get("action") not in EVALUATION_ACTIONS or predicate.get("evaluation_id") != payload.get("id"):
            raise BundleError(f"{what}: is not the statement of the evaluation recorded at seq {seq}")
    else:
        raise BundleError(f"{what}: unknown statement type {kind!r}")
    subject = (stmt.get("subject") or [{}])[0]
    ref = str(subject.get("name", "")).removeprefix("model:")
    if ref in artifacts and artifacts[ref] and subject.get("digest", {}).get("sha256") != artifacts[ref]:
        raise BundleError(f"{what}: subject digest is not {ref}'s artifact digest")
    return key.owner
