"""DSSE envelopes as the offline verifier reads them: decoded as the DSSE protocol has verifiers decode them, and
opened only with the one key the evidence names.

Part of the stand-alone verifier (:mod:`core.evidence.bundle_verify`); :mod:`core.evidence.attest` opens envelopes
with :func:`parse_envelope` too.
"""

from __future__ import annotations

import base64
import re
from typing import Any

# --- inline: core.evidence.bundle_format, core.evidence.bundle_keys ---
from core.evidence.bundle_format import DSSE_TYPE, BundleError, _ed25519_ok, _pae
from core.evidence.bundle_keys import _Key

# --- end inline ---

_BASE64_STANDARD = re.compile(r"[A-Za-z0-9+/]*")
_BASE64_URL_SAFE = re.compile(r"[A-Za-z0-9_-]*")


def decode_dsse_base64(text: Any) -> bytes:  # noqa: ANN401
    """Decode a DSSE ``payload`` or ``sig``: standard or URL-safe base64, padded or not; ValueError otherwise.

    DSSE (protocol.md, "Protocol"): "Either standard or URL-safe base64 encodings are allowed. Signers may use
    either, and verifiers MUST accept either" — RFC 4648 §4 or §5. Padding may be absent (DSSE does not say;
    RFC 4648 §3.2 lets a referring spec drop it and base64url producers often do; the DSSE reference code,
    securesystemslib and go-securesystemslib require it, so accepting it absent only widens what opens), but if
    present must be complete. Refused: a mix of the two alphabets (neither encoding), a length no encoding
    produces, and non-zero pad bits — RFC 4648 §3.5 lets a decoder refuse those, conforming encoders never write
    them, and refusing them keeps each signature and payload to one spelling per alphabet (the manifest envelope
    is covered by nothing but its own signature).
    """
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    data = text[:-2] if text.endswith("==") else text[:-1] if text.endswith("=") else text
    if (data != text and len(text) % 4) or len(data) % 4 == 1:
        raise ValueError("not base64: wrong length or padding")
    if _BASE64_STANDARD.fullmatch(data):
        altchars = None
    elif _BASE64_URL_SAFE.fullmatch(data):
        altchars = b"-_"
    else:
        raise ValueError("neither standard nor URL-safe base64")
    raw = base64.b64decode(data + "=" * (-len(data) % 4), altchars=altchars, validate=True)
    if base64.b64encode(raw, altchars=altchars).decode("ascii").rstrip("=") != data:
        raise ValueError("not canonical base64 (non-zero pad bits)")
    return raw


def parse_envelope(env: Any, payload_type: str = DSSE_TYPE) -> tuple[bytes, list[tuple[str, bytes]]]:  # noqa: ANN401
    """Decode a DSSE JSON envelope (envelope.md) into its payload and its ``(keyid, signature)`` pairs, unverified.

    ``payloadType`` must be ``payload_type`` (protocol.md: "Reject if PAYLOAD_TYPE is not a supported type");
    ``payload`` and every ``sig`` must decode (:func:`decode_dsse_base64`; "Reject if decoding fails", as
    securesystemslib and go-securesystemslib also refuse an envelope with any undecodable signature); an unset or
    null ``keyid`` is ``""`` ("An unset field MUST be treated the same as set-but-empty"); other fields are ignored.
    Raises ValueError.
    """
    if not isinstance(env, dict):
        raise ValueError("not a DSSE envelope (a JSON object)")
    if env.get("payloadType") != payload_type:
        raise ValueError(f"unexpected payloadType {env.get('payloadType')!r}")
    try:
        body = decode_dsse_base64(env.get("payload"))
    except ValueError as exc:
        raise ValueError(f"payload: {exc}") from None
    signatures = env.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise ValueError("no signature")
    decoded = []
    for number, sig in enumerate(signatures, start=1):
        keyid = sig.get("keyid") if isinstance(sig, dict) else None
        if not isinstance(sig, dict) or not isinstance(keyid, str | None):
            raise ValueError(f"signature {number}: not a DSSE signature object")
        try:
            decoded.append((keyid or "", decode_dsse_base64(sig.get("sig"))))
        except ValueError as exc:
            raise ValueError(f"signature {number} (keyid {keyid!r}): {exc}") from None
    return body, decoded


def _open_envelope(env: Any, key: _Key, what: str, registered: dict[str, _Key]) -> bytes:  # noqa: ANN401
    """The payload of a DSSE envelope that carries a valid signature by ``key``, the key the evidence names.

    DSSE's multi-signature rule (protocol.md) with a threshold of one: a signature that does not verify is
    skipped, and so is one whose ``keyid`` names a key this ledger never registered (the keyid narrows the keys
    tried, as the protocol allows) or no key at all; the envelope is accepted when a signature naming ``key``
    verifies with it, and refused when none does. Only ``key`` counts: a valid signature by another key this
    ledger registered — another user's, the service's, the same user's of another time — is refused rather than
    ignored, as the statement would then also be vouched for by an identity its ledger entry does not name.
    """
    try:
        body, signatures = parse_envelope(env)
    except ValueError as exc:
        raise BundleError(f"{what}: {exc}") from exc
    message = _pae(DSSE_TYPE, body)
    valid = False
    named = []  # keyids of the signatures not by ``key``
    for keyid, signature in signatures:
        if keyid == key.key_id:
            valid = valid or _ed25519_ok(key.public_key, signature, message)
            continue
        named.append(keyid)
        other = registered.get(keyid)
        if other is not None and _ed25519_ok(other.public_key, signature, message):
            raise BundleError(f"{what}: signed by key {keyid!r}, not by {key.owner}'s key {key.key_id} that the "
                              f"evidence names ({other.owner}'s key, valid {other.validity()})")
    if valid:
        return body
    if len(named) < len(signatures):
        raise BundleError(f"{what}: signature by {key.owner}'s key {key.key_id} does not verify")
    more = f" (nor do the {len(named) - 1} other signatures)" if len(named) > 1 else ""
    raise BundleError(f"{what}: signed by key {named[0]!r}, not by {key.owner}'s key {key.key_id} that the evidence "
                      f"names{more}")
