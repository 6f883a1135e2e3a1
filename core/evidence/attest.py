"""Signed statements: in-toto Statement v1 in DSSE envelopes.

Every evaluation result and every promotion decision is also issued, at the moment it is made and by the acting
user's own key, as a DSSE envelope (https://github.com/secure-systems-lab/dsse, ``payloadType``
``application/vnd.in-toto+json``, signature over ``PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP
body``) carrying an in-toto Statement v1 whose subject is the model artifact's SHA-256. Each signature names its
``keyid`` (the Countersign key id of the signer), so ``securesystemslib`` and ``verify.py`` can check it offline.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.evidence.bundle_verify import parse_envelope
from core.ledger.chain import Signer
from core.tlog.canonical import canonical_bytes

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
EVALUATION_PREDICATE = "https://countersign.dev/attestations/evaluation/v1"
DECISION_PREDICATE = "https://countersign.dev/attestations/promotion-decision/v1"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE pre-authentication encoding."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def statement(subject_name: str, sha256: str, predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    return {"_type": STATEMENT_TYPE, "subject": [{"name": subject_name, "digest": {"sha256": sha256}}],
            "predicateType": predicate_type, "predicate": predicate}


def envelope(stmt: dict[str, Any], signer: Signer) -> dict[str, Any]:
    body = canonical_bytes(stmt)
    signature = signer.sign(pae(PAYLOAD_TYPE, body))
    return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(body).decode("ascii"),
            "signatures": [{"keyid": signer.key_id, "sig": base64.b64encode(signature).decode("ascii")}]}


def open_envelope(env: dict[str, Any], keys: dict[str, bytes], threshold: int = 1) -> dict[str, Any]:
    """Verify a DSSE envelope against trusted keys; return its in-toto Statement. Raises ValueError.

    ``keys`` maps key ids to trusted Ed25519 public keys. DSSE's multi-signature rule (protocol.md,
    "Multi-signature Verification") decides: a signature whose ``keyid`` names no trusted key is skipped (the
    keyid only narrows the keys tried), a signature without a keyid is tried with every trusted key, a
    signature that does not verify is skipped, and the envelope is accepted once signatures by ``threshold``
    distinct trusted public keys verify — otherwise ValueError says how many did. ``threshold`` defaults to
    1, as every Countersign statement is signed by the one person who acted; a caller that needs a quorum
    passes more (at most the number of distinct trusted keys). Decoding follows
    :func:`core.evidence.bundle_verify.parse_envelope`, as ``verify.py`` does: standard or URL-safe base64, padded or
    not; an envelope whose payload or any signature does not decode is refused ("Reject if decoding fails").
    The Statement is parsed from exactly the bytes that were verified.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(f"threshold must be a positive integer, got {threshold!r}")
    if threshold > len(set(keys.values())):
        raise ValueError(f"threshold {threshold} exceeds the {len(set(keys.values()))} distinct trusted keys")
    body, signatures = parse_envelope(env, PAYLOAD_TYPE)
    message = pae(PAYLOAD_TYPE, body)
    accepted: set[bytes] = set()
    skipped: list[str] = []
    for keyid, signature in signatures:
        candidates = [keys[keyid]] if keyid in keys else [] if keyid else list(keys.values())
        public = next((k for k in candidates if _verifies(k, signature, message)), None)
        if public is None:
            skipped.append(f"{keyid!r} ({'does not verify' if candidates else 'unknown key'})")
        else:
            accepted.add(bytes(public))
        if len(accepted) >= threshold:
            break
    if len(accepted) < threshold:
        raise ValueError(f"signatures by {len(accepted)} trusted key(s) verify, {threshold} required; skipped: "
                         + ", ".join(skipped))
    stmt = json.loads(body)
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        raise ValueError("payload is not an in-toto Statement v1")
    return stmt


def _verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
