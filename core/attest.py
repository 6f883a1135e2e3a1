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

from core.canonical import canonical_bytes
from core.ledger import Signer

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


def open_envelope(env: dict[str, Any], keys: dict[str, bytes]) -> dict[str, Any]:
    """Verify every signature with the named keys; return the statement. Raises ValueError on any failure."""
    if env.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError(f"unexpected payloadType {env.get('payloadType')!r}")
    body = base64.b64decode(env["payload"], validate=True)
    signatures = env.get("signatures") or []
    if not signatures:
        raise ValueError("envelope has no signature")
    for sig in signatures:
        key = keys.get(sig.get("keyid", ""))
        if key is None:
            raise ValueError(f"signature by unknown keyid {sig.get('keyid')!r}")
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(base64.b64decode(sig["sig"], validate=True),
                                                           pae(env["payloadType"], body))
        except (InvalidSignature, ValueError) as exc:
            raise ValueError(f"signature by {sig.get('keyid')} does not verify") from exc
    stmt = json.loads(body)
    if stmt.get("_type") != STATEMENT_TYPE:
        raise ValueError("payload is not an in-toto Statement v1")
    return stmt
