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
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# --- inline: core.tlog.merkle, core.tlog.signed_note ---
from core.tlog.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from core.tlog.signed_note import NoteError, open_note, parse_checkpoint, parse_verifier_key, verifier_key

# --- end inline ---

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


def _short(key_id: str) -> str:
    return f"{key_id[:8]}…"


# ---------------------------------------------------------------------------------------------- key history
@dataclass
class _Key:
    """A registered key: whose it is and the ledger positions (inclusive) at which it may sign."""

    key_id: str
    owner: str
    public_key: bytes
    valid_from: int
    valid_to: int | None = None

    def valid_at(self, seq: int) -> bool:
        return self.valid_from <= seq and (self.valid_to is None or seq <= self.valid_to)

    def validity(self) -> str:
        return f"seq {self.valid_from}..{'' if self.valid_to is None else self.valid_to}"


class _KeyHistory:
    """Keys as the included ledger entries establish them, replayed in seq order (the rules of
    ``core.ledger.verify``)."""

    def __init__(self, service_public_key: bytes) -> None:
        self.service_public_key = service_public_key
        self.keys: dict[str, _Key] = {}
        self.current: dict[str, str] = {}
        self.bootstrap_admin: str | None = None
        self.pending: set[str] = set()

    def _register(self, seq: int, owner: str, payload: dict[str, Any], valid_from: int) -> _Key:
        key_id = payload.get("key_id")
        if not isinstance(key_id, str):
            raise BundleError(f"entry seq {seq}: key registration without a key id")
        public = _b64(payload.get("public_key"), f"entry seq {seq}: public key")
        proof = _b64(payload.get("possession"), f"entry seq {seq}: proof of possession")
        if not _ed25519_ok(public, proof, POSSESSION_CONTEXT + owner.encode("utf-8") + b"\n" + key_id.encode()):
            raise BundleError(f"entry seq {seq}: key registration lacks a valid proof of possession")
        if _hex_sha256(public)[:32] != key_id:
            raise BundleError(f"entry seq {seq}: registered key id does not match its public key")
        if key_id in self.keys:
            raise BundleError(f"entry seq {seq}: key {key_id} is registered twice")
        key = self.keys[key_id] = _Key(key_id, owner, public, valid_from)
        self.current[owner] = key_id
        return key

    def apply(self, seq: int, entry: dict[str, Any]) -> None:
        """Apply one key event (registration or rotation) of the entry at ``seq``."""
        action, actor, payload = entry.get("action"), entry.get("actor"), entry.get("payload") or {}
        if action == "ledger.initialized":
            if seq != 0:
                raise BundleError(f"entry seq {seq}: a second ledger.initialized entry")
            public = _b64(payload.get("service_public_key"), "genesis: service public key")
            key_id = payload.get("service_key_id")
            if public != self.service_public_key:
                raise BundleError("the ledger's genesis names a different service key than the checkpoint's signer")
            if _hex_sha256(public)[:32] != key_id:
                raise BundleError("genesis: service key id does not match its public key")
            self.keys[key_id] = _Key(key_id, SERVICE_OWNER, public, 0)
            self.bootstrap_admin = payload.get("bootstrap_admin")
        elif action == "user.added":
            name = payload.get("name")
            if not isinstance(name, str) or name == SERVICE_OWNER or name in self.current:
                raise BundleError(f"entry seq {seq}: user.added for an invalid or existing user {name!r}")
            bootstrap = seq == 1 and name == self.bootstrap_admin == actor
            if "key_id" not in payload and not bootstrap:
                self.pending.add(name)  # the user registers their own key when they enrol
                return
            self._register(seq, name, payload, seq if bootstrap else seq + 1)
        elif action == "user.enrolled":
            name = payload.get("name")
            if name != actor or name not in self.pending:
                raise BundleError(f"entry seq {seq}: user.enrolled for a user not added without a key, or signed "
                                  "by someone else")
            self.pending.discard(name)
            self._register(seq, name, payload, seq)  # the new key signs its own registration
        elif action == "user.key_rotated":
            name = payload.get("name")
            old = self.current.get(name) if isinstance(name, str) else None
            if old is None or payload.get("previous_key_id") != old or name != actor:
                raise BundleError(f"entry seq {seq}: key rotation does not name its actor's current key")
            self._register(seq, name, payload, seq + 1)
            self.keys[old].valid_to = seq
        elif action == "user.deactivated":
            name = payload.get("name")
            if name in self.current:  # the account's key signs nothing valid after its deactivation
                self.keys[self.current[name]].valid_to = seq
            self.pending.discard(name)

    def signer(self, seq: int, entry: dict[str, Any]) -> _Key:
        """The key that signed the entry at ``seq``, if it is its actor's (or the service's) and valid then."""
        key_id, actor, action = entry.get("key_id"), entry.get("actor"), entry.get("action")
        key = self.keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise BundleError(f"entry seq {seq}: signed by key {key_id!r}, which no earlier included entry "
                              "registered")
        if not key.valid_at(seq):
            raise BundleError(f"entry seq {seq}: signed by {key.owner}'s key {key.key_id} outside its validity "
                              f"({key.validity()})")
        if key.owner == SERVICE_OWNER:
            if action not in SERVICE_ACTIONS:
                raise BundleError(f"entry seq {seq}: action {action!r} is signed by the service key, not by its "
                                  "actor")
        elif key.owner != actor:
            raise BundleError(f"entry seq {seq}: entry by {actor!r} is signed with {key.owner!r}'s key")
        elif action in SERVICE_ACTIONS:
            raise BundleError(f"entry seq {seq}: service action {action!r} signed by a user key")
        return key


# ---------------------------------------------------------------------------------------------- envelopes
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


# ---------------------------------------------------------------------------------------------- entry set
def _ranges(seqs: list[int]) -> list[list[int]]:
    """Sorted, distinct seqs as inclusive ``[first, last]`` runs."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return runs


def _span(seqs: list[int], limit: int = 12) -> str:
    """``3, 5..9, 12`` — at most ``limit`` runs, then how many more seqs."""
    runs = _ranges(seqs)
    text = ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs[:limit])
    rest = sum(b - a + 1 for a, b in runs[limit:])
    return text + (f" and {rest} more" if rest else "")


def entry_set_commitment(leaves: list[tuple[int, str]]) -> dict[str, Any]:
    """What a ``report.generated`` entry commits to: the ``(seq, leaf hash hex)`` of the entries the export carries
    before it — their count, their seqs as ``[first, last]`` runs, and the SHA-256 of the compact JSON list of
    ``[seq, leaf hash]`` pairs in seq order. :mod:`core.evidence.report` and the verifier both use this function."""
    pairs = sorted(leaves)
    seqs = [seq for seq, _ in pairs]
    if len(set(seqs)) != len(seqs):
        raise ValueError("an entry set holds each seq once")
    listing = json.dumps([[seq, leaf] for seq, leaf in pairs], separators=(",", ":")).encode("utf-8")
    return {"entries": len(pairs), "seqs": _ranges(seqs), "sha256": _hex_sha256(listing)}


def _committed_seqs(committed: Any, report_seq: int) -> set[int]:  # noqa: ANN401
    """The seqs a commitment names, or :class:`BundleError` if it is not a well-formed one."""
    malformed = BundleError(f"entry set: the report entry (seq {report_seq}) carries a malformed {ENTRY_SET_FIELD}")
    if not isinstance(committed, dict) or type(committed.get("entries")) is not int or \
            not isinstance(committed.get("sha256"), str) or not isinstance(committed.get("seqs"), list):
        raise malformed
    seqs: set[int] = set()
    last = -2
    for run in committed["seqs"]:
        if not (isinstance(run, list) and len(run) == 2 and all(type(v) is int for v in run)) or \
                not last + 1 < run[0] <= run[1] < report_seq:  # sorted, disjoint, not adjacent, before the report
            raise malformed
        seqs.update(range(run[0], run[1] + 1))
        last = run[1]
    if len(seqs) != committed["entries"]:
        raise malformed
    return seqs


def _check_entry_set(report_seq: int, by_seq: dict[int, dict[str, Any]],
                     leaves: dict[int, str]) -> dict[str, Any] | None:
    """The entries before the report entry are exactly those it commits to; ``None`` for an export without one."""
    payload = by_seq[report_seq].get("payload") or {}
    if ENTRY_SET_FIELD not in payload:
        return None
    committed = payload[ENTRY_SET_FIELD]
    claimed = _committed_seqs(committed, report_seq)
    carried = {seq for seq in by_seq if seq < report_seq}
    missing, extra = sorted(claimed - carried), sorted(carried - claimed)
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"lacks {len(missing)} of them (seq {_span(missing)})")
        if extra:
            named = ", ".join(f"seq {s} ({by_seq[s].get('action')})" for s in extra[:12])
            problems.append(f"carries {len(extra)} it does not commit to ({named}"
                            f"{f' and {len(extra) - 12} more' if len(extra) > 12 else ''})")
        raise BundleError(f"entry set: the report entry (seq {report_seq}) commits to {committed['entries']} "
                          f"entries before it; the bundle {' and '.join(problems)}")
    actual = entry_set_commitment([(seq, leaves[seq]) for seq in carried])
    if actual["sha256"] != committed["sha256"]:
        raise BundleError(f"entry set: the entries before the report entry (seq {report_seq}) do not match the "
                          f"SHA-256 it commits to ({committed['sha256']})")
    return {"entries": committed["entries"], "sha256": committed["sha256"], "report_seq": report_seq}


def _this_verifier() -> bytes | None:
    """The bytes of the stand-alone verifier now running: this file as ``verify.py``, or, run inside Countersign,
    the ``verify.py`` this installation writes into its exports."""
    if __package__ == "core.evidence":
        from core.evidence.report import standalone_verifier

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


def _load_json(path: Path, what: str) -> Any:  # noqa: ANN401
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{what}: cannot read {path.name} ({exc})") from exc


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
    entries = _read_entries(evidence)
    history = _KeyHistory(service.public_key)
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

    # 4. the manifest: signed by the exporter's key, the one that signed the report.generated entry it names
    exporter = _check_manifest(root, manifest, manifest_bytes_on_disk, checkpoint.size, by_seq, signed_by,
                               history.keys)

    # 5. the entry set the report entry commits to: nothing dropped, nothing added, even by the exporter
    entry_set = _check_entry_set(exporter["report_seq"], by_seq, leaves)

    # 6. statements
    statement_signers: dict[str, int] = {}
    statements = 0
    for path in sorted((evidence / "statements").glob("*.json")):
        what = f"statement {path.name}"
        name = _check_statement(_load_json(path, what), what, recorded, by_seq, signed_by, artifacts,
                               history.keys)
        statement_signers[name] = statement_signers.get(name, 0) + 1
        statements += 1

    # 7. consistency with an earlier checkpoint
    consistency = None
    if (evidence / "consistency.json").exists():
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
        consistency = {"from_size": old.size, "to_size": checkpoint.size}

    return {"ok": True, "origin": checkpoint.origin, "tree_size": checkpoint.size,
            "root": checkpoint.root.hex(), "entries": len(entries), "statements": statements,
            "files": len(listed), "consistency": consistency,
            "service_key": verifier_key(service.name, service.public_key),
            "service_key_pinned": trusted_key is not None,
            "exporter": exporter, "entry_set": entry_set, "verifier": _verifier_info(root),
            "signers": {"entries": dict(sorted(entry_signers.items())),
                        "statements": dict(sorted(statement_signers.items()))}}


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
