"""The evidence bundle's layout and vocabulary, and the primitives every check of the offline verifier uses.

Part of the stand-alone verifier (:mod:`core.evidence.bundle_verify`, shipped as ``verify.py`` with every module of
it inlined by :mod:`core.evidence.standalone`): only the standard library and ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST = "evidence/manifest.json"
MANIFEST_ENVELOPE = "evidence/manifest.dsse.json"
DSSE_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
MANIFEST_PREDICATE = "https://countersign.dev/attestations/report-manifest/v1"
EVALUATION_PREDICATE = "https://countersign.dev/attestations/evaluation/v1"
DECISION_PREDICATE = "https://countersign.dev/attestations/promotion-decision/v1"
#: The owner of the service key (as in :mod:`core.ledger.verify`) and the events only it signs
#: (:mod:`core.ledger.chain`).
SERVICE_OWNER = "@service"
SERVICE_ACTIONS = frozenset({"ledger.initialized", "schema.upgraded", "auth.failed", "access.denied"})
#: Entries that register or retire keys; the export carries all of them (``core.evidence.report.KEY_ACTIONS``).
KEY_ACTIONS = ("ledger.initialized", "user.added", "user.enrolled", "user.key_rotated", "user.deactivated")
#: What a new key's owner signs to prove possession when the key is registered (:mod:`core.identity.users`).
POSSESSION_CONTEXT = b"countersign/key-possession/v1\n"
#: Entries that record an evaluation statement's digest.
EVALUATION_ACTIONS = ("evaluation.recorded", "monitoring.recorded")
#: The ``report.generated`` payload field committing to the entries the export carries before that entry.
ENTRY_SET_FIELD = "entry_set"
#: The verifier that ships inside every bundle.
BUNDLED_VERIFIER = "verify.py"
INDEPENDENT_COPY = ("'countersign verify-bundle DIR', or the verify.py of a Countersign release whose SHA-256 you "
                    "know")


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


def _ed25519_ok(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _load_json(path: Path, what: str) -> Any:  # noqa: ANN401
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{what}: cannot read {path.name} ({exc})") from exc
