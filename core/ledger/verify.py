"""Full verification of the ledger, to the standard of a Certificate Transparency monitor.

For every entry (:mod:`core.ledger.verify_entries`; large ledgers in slices on worker processes, one per core):

* the stored canonical entry parses and every queryable column agrees with it;
* its leaf hash is recomputed as RFC 6962 ``SHA-256(0x00 || entry)`` and matches the stored one;
* its Ed25519 signature verifies under the key it names (libsodium, :mod:`core.tlog.ed25519`).

Across entries (sequentially, replaying the ledger from genesis):

* ``seq`` runs gapless from 0; each entry's ``prev`` is its predecessor's leaf hash; time never runs backwards;
* each signing key was registered by an earlier ledger event (``ledger.initialized``, ``user.added``,
  ``user.key_rotated``, each with a proof of possession) and was valid at that ``seq``; user keys sign only their
  owner's entries and the service key only service events; the role an entry claims was held at that moment, and
  entries that add users or change roles are signed acting in a role that manages users;
* every stored checkpoint's signed note verifies under the service key, its root equals the RFC 6962 Merkle root
  recomputed at its size, and each checkpoint is consistent with the one before (RFC 9162 §2.1.4 proof);
* with an external checkpoint (one saved outside the database), the current log is proved an append-only
  extension of it — the only way to detect truncation or a rewritten history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from core.identity.roles import PERMISSIONS, Permission
from core.identity.users import POSSESSION_CONTEXT
from core.ledger import parallel
from core.ledger.chain import SERVICE_ACTIONS, ZERO_HASH
from core.ledger.verify_entries import COLUMNS as ENTRY_COLUMNS, MAX_PROBLEMS, check_entries
from core.tlog import ed25519
from core.tlog.merkle import MerkleTree, ProofError, verify_consistency
from core.tlog.signed_note import NoteError, open_note, parse_checkpoint, parse_verifier_key

SERVICE_OWNER = "@service"
_PARALLEL_THRESHOLD = 20_000


@dataclass(frozen=True)
class Problem:
    """One integrity failure; ``seq`` names the entry when one can be named."""

    seq: int | None
    what: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}" if self.seq is not None else self.what


@dataclass
class VerifyReport:
    ok: bool
    size: int
    root: str
    checkpoints_verified: int
    problems: list[Problem] = field(default_factory=list)
    external_checkpoint: dict[str, Any] | None = None

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    @property
    def first_problem(self) -> Problem | None:
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.seq is None, p.seq if p.seq is not None else 0))

    def to_dict(self) -> dict[str, Any]:
        first = self.first_problem
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "checkpoints_verified": self.checkpoints_verified,
            "first_bad_seq": self.first_bad_seq,
            "first_problem": str(first) if first else None,
            "problems": [asdict(p) for p in self.problems[:100]],
            "problem_count": len(self.problems),
            "external_checkpoint": self.external_checkpoint,
        }


# ---------------------------------------------------------------------------------------------- replay
@dataclass
class _Key:
    owner: str
    public_key: bytes
    valid_from: int
    valid_to: int | None = None


class _Registry:
    """Keys and roles as the ledger itself establishes them, replayed in order."""

    def __init__(self) -> None:
        self.keys: dict[str, _Key] = {}
        self.roles: dict[str, set[str]] = {}
        self.current_key: dict[str, str] = {}
        self.bootstrap_admin: str | None = None
        self.pending_enrolment: set[str] = set()
        self.deactivated: set[str] = set()

    def keymap(self) -> dict[str, bytes]:
        return {k: v.public_key for k, v in self.keys.items()}

    def service_verifiers(self, origin: str) -> list[Any]:
        from core.tlog.signed_note import verifier_key

        return [
            parse_verifier_key(verifier_key(origin, k.public_key))
            for k in self.keys.values() if k.owner == SERVICE_OWNER
        ]

    def _register(self, seq: int, owner: str, payload: dict[str, Any], valid_from: int) -> str | None:
        try:
            key_id = payload["key_id"]
            public_key = base64.b64decode(payload["public_key"], validate=True)
            proof = base64.b64decode(payload["possession"], validate=True)
            possessed = ed25519.verify(
                public_key, proof, POSSESSION_CONTEXT + owner.encode("utf-8") + b"\n" + key_id.encode())
        except (KeyError, TypeError, ValueError, binascii.Error):
            possessed = False
        if not possessed:
            return "key registration lacks a valid public key and proof of possession"
        if hashlib.sha256(public_key).hexdigest()[:32] != key_id:
            return "registered key id does not match its public key"
        if key_id in self.keys:
            return f"key {key_id} is registered twice"
        self.keys[key_id] = _Key(owner, public_key, valid_from)
        self.current_key[owner] = key_id
        return None

    def apply(self, seq: int, action: str, actor: str, payload: dict[str, Any]) -> str | None:
        """Apply one registry event; return a problem description or ``None``."""
        if action == "ledger.initialized":
            if seq != 0:
                return "a second ledger.initialized entry"
            try:
                public_key = base64.b64decode(payload["service_public_key"], validate=True)
                key_id = payload["service_key_id"]
            except (KeyError, TypeError, ValueError, binascii.Error):
                return "genesis entry lacks the service public key"
            if hashlib.sha256(public_key).hexdigest()[:32] != key_id:
                return "genesis service key id does not match its public key"
            self.keys[key_id] = _Key(SERVICE_OWNER, public_key, 0)
            self.bootstrap_admin = payload.get("bootstrap_admin")
            return None
        if action == "user.added":
            name = payload.get("name")
            if not isinstance(name, str) or name in self.roles:
                return f"user.added for an invalid or existing user {name!r}"
            bootstrap = seq == 1 and name == self.bootstrap_admin == actor
            self.roles[name] = set(payload.get("roles") or [])
            if "key_id" not in payload and not bootstrap:
                self.pending_enrolment.add(name)  # the user registers their own key when they enrol
                return None
            return self._register(seq, name, payload, seq if bootstrap else seq + 1)
        if action in ("user.enrolled", "user.key_rotated") and payload.get("name") in self.deactivated:
            return f"{action} for the deactivated account {payload.get('name')!r}"
        if action == "user.enrolled":
            name = payload.get("name")
            if name != actor or name not in self.pending_enrolment:
                return "user.enrolled for a user who was not added without a key, or signed by someone else"
            self.pending_enrolment.discard(name)
            return self._register(seq, name, payload, seq)  # the new key signs its own registration
        if action == "user.key_rotated":
            name = payload.get("name")
            old = self.current_key.get(name) if isinstance(name, str) else None
            if old is None or payload.get("previous_key_id") != old or name != actor:
                return "key rotation does not name the owner's current key"
            problem = self._register(seq, name, payload, seq + 1)
            if problem is None:
                self.keys[old].valid_to = seq
            return problem
        if action == "user.deactivated":
            name = payload.get("name")
            if not isinstance(name, str) or name not in self.roles or name in self.deactivated:
                return f"user.deactivated for an unknown or already deactivated user {name!r}"
            self.deactivated.add(name)
            self.roles[name] = set()
            self.pending_enrolment.discard(name)
            current = self.current_key.get(name)
            if current is not None:
                self.keys[current].valid_to = seq  # nothing the account signs after this entry is valid
            return None
        name = payload.get("name")
        if action in ("user.role_granted", "user.enrolled", "user.key_rotated") and name in self.deactivated:
            return f"{action} for the deactivated account {name!r}"
        if action == "user.role_granted":
            self.roles.setdefault(str(payload.get("name")), set()).add(str(payload.get("role")))
        elif action == "user.role_revoked":
            self.roles.setdefault(str(payload.get("name")), set()).discard(str(payload.get("role")))
        return None


_REGISTRY_ACTIONS = frozenset(
    {"ledger.initialized", "user.added", "user.enrolled", "user.key_rotated", "user.role_granted",
     "user.role_revoked", "user.deactivated"}
)
#: Entries that create identities or change roles, and the roles that may sign them (the permission table's).
_USER_MANAGEMENT = frozenset({"user.added", "user.role_granted", "user.role_revoked", "user.deactivated"})
_USER_MANAGERS = frozenset(str(r) for r in PERMISSIONS[Permission.USER_MANAGE])


def _prescan_keys(cols: dict[str, list[Any]]) -> dict[str, bytes]:
    """Every public key any entry registers (validity is checked later, in order)."""
    keymap: dict[str, bytes] = {}
    for action, entry in zip(cols["action"], cols["entry"], strict=True):
        if action not in ("ledger.initialized", "user.added", "user.enrolled", "user.key_rotated"):
            continue
        try:
            payload = json.loads(entry)["payload"]
            if action == "ledger.initialized":
                keymap[payload["service_key_id"]] = base64.b64decode(payload["service_public_key"])
            else:
                keymap[payload["key_id"]] = base64.b64decode(payload["public_key"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            continue
    return keymap


class _Replayer:
    """Sequential checks, fed chunk by chunk: gapless seq, chain links, time order, key validity, owner and role."""

    def __init__(self) -> None:
        self.registry = _Registry()
        self.prev_leaf, self.last_ts, self.position = ZERO_HASH, "", 0

    def feed(self, cols: dict[str, list[Any]], problems: list[Problem]) -> None:
        registry = self.registry
        seqs, prevs, leaves, tss = cols["seq"], cols["prev_hash"], cols["leaf_hash"], cols["ts"]
        actors, roles, actions, key_ids = cols["actor"], cols["role"], cols["action"], cols["key_id"]
        for k in range(len(seqs)):
            i = self.position
            self.position += 1
            if len(problems) >= MAX_PROBLEMS:
                continue
            seq = seqs[k]
            if seq != i:
                if seq > i:
                    problems.append(Problem(i, f"entry seq {i} is missing (the entry after seq {i - 1} is seq {seq})"))
                else:
                    problems.append(Problem(seq, f"entry seq {seq} appears out of order, at position {i}"))
            if prevs[k] != self.prev_leaf:
                problems.append(Problem(seq, "prev_hash does not equal the leaf hash of the entry before it"))
            self.prev_leaf = leaves[k]
            if tss[k] < self.last_ts:
                problems.append(Problem(seq, f"time runs backwards: {tss[k]} is earlier than {self.last_ts} "
                                             "(back-dated)"))
            self.last_ts = max(self.last_ts, tss[k])
            action, actor = actions[k], actors[k]
            if i == 0 and action != "ledger.initialized":
                problems.append(Problem(seq, "the first entry is not the ledger genesis (ledger.initialized)"))
            if action in _REGISTRY_ACTIONS:
                try:
                    payload = json.loads(cols["entry"][k]).get("payload") or {}
                except (ValueError, AttributeError):
                    payload = {}
                problem = registry.apply(seq, action, actor, payload)
                if problem:
                    problems.append(Problem(seq, problem))
            key = registry.keys.get(key_ids[k])
            if key is None:
                problems.append(Problem(seq, f"signed by key {key_ids[k]!r}, which no earlier ledger entry "
                                             "registered"))
                continue
            if not (key.valid_from <= i and (key.valid_to is None or i <= key.valid_to)):
                problems.append(Problem(seq, f"signed by key {key_ids[k]} outside its validity (seq "
                                             f"{key.valid_from}..{'' if key.valid_to is None else key.valid_to})"))
            if key.owner == SERVICE_OWNER:
                if action not in SERVICE_ACTIONS:
                    problems.append(Problem(seq, f"action {action!r} is signed by the service key, not by its actor"))
            else:
                if key.owner != actor:
                    problems.append(Problem(seq, f"entry by {actor!r} is signed with {key.owner!r}'s key"))
                if action in SERVICE_ACTIONS:
                    problems.append(Problem(seq, f"service action {action!r} signed by a user key"))
                role = roles[k]
                if role is not None and role not in registry.roles.get(actor, set()):
                    problems.append(Problem(seq, f"{actor!r} acted as {role!r} without holding that role"))
                if action in _USER_MANAGEMENT and role not in _USER_MANAGERS:
                    problems.append(Problem(seq, f"{action} by {actor!r} acting as {role!r}, not as a role that "
                                                 "manages users"))


# ---------------------------------------------------------------------------------------------- checkpoints
def _check_checkpoints(
    tree: MerkleTree, checkpoints: Sequence[dict[str, Any]], origin: str, registry: _Registry,
    problems: list[Problem],
) -> int:
    verifiers = registry.service_verifiers(origin)
    n = tree.size
    verified = 0
    previous: tuple[int, bytes] | None = None
    for cp in checkpoints:
        size = int(cp["size"])
        where = max(0, min(size, n) - 1)
        try:
            text, _ = open_note(cp["note"], verifiers)
            body = parse_checkpoint(text)
        except (NoteError, ValueError) as exc:
            problems.append(Problem(where, f"stored checkpoint at size {size}: {exc}"))
            continue
        if body.origin != origin or body.size != size or body.root.hex() != cp["root"]:
            problems.append(Problem(where, f"stored checkpoint at size {size} does not match its signed note"))
            continue
        if size > n:
            problems.append(Problem(n, f"ledger truncated: a checkpoint commits to {size} entries but only {n} "
                                       f"remain; entries seq {n}..{size - 1} are missing"))
            continue
        if tree.root_at(size) != body.root:
            problems.append(Problem(where, f"Merkle root of the first {size} entries differs from the signed "
                                           f"checkpoint at size {size}: history before it was altered"))
            continue
        if previous is not None and previous[0] > 0:
            try:
                verify_consistency(previous[0], size, previous[1], body.root,
                                   tree.consistency_proof(previous[0], size))
            except (ProofError, ValueError) as exc:
                problems.append(Problem(where, f"checkpoint {size} is not consistent with {previous[0]}: {exc}"))
        previous = (size, body.root)
        verified += 1
    return verified


def _check_external(
    tree: MerkleTree, note: str, origin: str, registry: _Registry, problems: list[Problem]
) -> dict[str, Any]:
    n = tree.size
    try:
        text, _ = open_note(note, registry.service_verifiers(origin))
        body = parse_checkpoint(text)
    except (NoteError, ValueError) as exc:
        problems.append(Problem(None, f"the given checkpoint is not a checkpoint signed by this ledger's service "
                                      f"key ({exc}); the database may have been replaced"))
        return {"ok": False}
    result: dict[str, Any] = {"ok": False, "size": body.size, "root": body.root.hex(), "origin": body.origin}
    if body.origin != origin:
        problems.append(Problem(None, f"the given checkpoint is for log {body.origin!r}, not {origin!r}"))
        return result
    if body.size > n:
        problems.append(Problem(n, f"ledger truncated or rolled back: the saved checkpoint commits to "
                                   f"{body.size} entries but the ledger has {n}; entries seq {n}..{body.size - 1} "
                                   "are missing"))
        return result
    if tree.root_at(body.size) != body.root:
        problems.append(Problem(max(0, body.size - 1), f"history rewritten: the first {body.size} entries no "
                                                       "longer hash to the saved checkpoint's root"))
        return result
    proof = tree.consistency_proof(body.size, n)
    try:
        verify_consistency(body.size, n, body.root, tree.root_at(n), proof)
    except ProofError as exc:
        problems.append(Problem(None, f"consistency proof from the saved checkpoint failed: {exc}"))
        return result
    result.update(ok=True, consistency_proof=[base64.b64encode(h).decode() for h in proof], current_size=n)
    return result


# ---------------------------------------------------------------------------------------------- entry point
def verify_ledger(
    source: dict[str, list[Any]] | Iterable[dict[str, list[Any]]],
    checkpoints: Sequence[dict[str, Any]],
    origin: str,
    *,
    external_checkpoint: str | None = None,
    jobs: int | None = None,
    parallel_threshold: int = _PARALLEL_THRESHOLD,
) -> VerifyReport:
    """Verify a whole ledger from its columns, given whole or as chunks in seq order, and its stored checkpoints.

    Per-entry checks (:mod:`core.ledger.verify_entries`) of chunks of at least ``parallel_threshold`` rows go in slices
    to
    the worker processes of :mod:`core.ledger.parallel` (or to threads when there are none), while this process replays
    the ledger in order and reads the next chunk. ``jobs=1`` does everything here. Memory stays bounded by the
    chunk size: of each chunk only the recomputed leaf hashes are kept (for the tree).
    """
    chunks = [source] if isinstance(source, dict) else source
    problems: list[Problem] = []
    keymap: dict[str, bytes] = {}
    replayer = _Replayer()
    leaves: list[bytes] = []
    jobs = max(1, jobs or os.cpu_count() or 1)
    in_flight: deque[tuple[int, dict[str, list[Any]], dict[str, bytes], Future[Any] | None]] = deque()

    def settle(keep: int) -> None:
        while len(in_flight) > keep:
            base, part, keys, future = in_flight.popleft()
            blob, found = parallel.result_or_run(future, check_entries, base, part, keys)
            leaves.extend(blob[i:i + 32] for i in range(0, len(blob), 32))
            problems.extend(Problem(seq, what) for seq, what in found)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="verify") as threads:
        seen = 0
        for cols in chunks:
            n = len(cols["seq"])
            keymap.update(_prescan_keys(cols))
            keys = dict(keymap)
            split = n >= parallel_threshold and jobs > 1
            step = max(1, -(-n // (jobs * 2))) if split else max(n, 1)
            for start in range(0, n, step):
                part = {c: cols[c][start:start + step] for c in ENTRY_COLUMNS} if split else cols
                future = None
                if split:
                    future = parallel.submit("check_entries", seen + start, part, keys)
                    if future is None:
                        future = threads.submit(check_entries, seen + start, part, keys)
                in_flight.append((seen + start, part, keys, future))
            replayer.feed(cols, problems)
            seen += n
            settle(keep=len(range(0, n, step)))  # the previous chunk's results, while this chunk is checked
        settle(keep=0)
    tree = MerkleTree(leaves)
    registry = replayer.registry
    verified = _check_checkpoints(tree, sorted(checkpoints, key=lambda c: c["size"]), origin, registry, problems)
    external = None
    if external_checkpoint is not None:
        external = _check_external(tree, external_checkpoint, origin, registry, problems)
    problems = sorted(set(problems), key=lambda p: (p.seq is None, p.seq or 0, p.what))
    return VerifyReport(
        ok=not problems, size=tree.size, root=tree.root().hex(), checkpoints_verified=verified,
        problems=problems, external_checkpoint=external,
    )
