"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys and tlog checkpoints (c2sp.org/tlog-checkpoint).

A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(4-byte key ID || signature)>``.  Verifier keys use the text form of Go's
``golang.org/x/mod/sumdb/note``: ``<name>+<8 hex digit key ID>+<base64(0x01 || 32-byte Ed25519 public key)>``.

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n[extension lines]`` of a
transparency log (the tree head of RFC 9162 §2.1.1 / RFC 6962 §2.1).

Only the standard library and ``cryptography`` are imported so the module can be vendored into a standalone
verifier.  Every parsing or verification failure raises :class:`NoteError` (a :class:`ValueError`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "MAX_SIGNATURES",
    "SIG_TYPE_ED25519",
    "Checkpoint",
    "CheckpointError",
    "NoteError",
    "NoteSigner",
    "Verifier",
    "format_checkpoint",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_note",
    "verifier_key",
]

SIG_TYPE_ED25519 = 0x01
"""Signature type identifier byte for Ed25519 (c2sp.org/signed-note, "Signature types")."""

MAX_SIGNATURES = 100
"""Upper bound on signature lines per note (the spec requires accepting at least 16; Go's x/mod uses 100)."""

ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4
ROOT_HASH_SIZE = 32
_MAX_TREE_SIZE = 2**64 - 1  # RFC 9162 tree sizes are uint64

_EM_DASH_PREFIX = "\u2014 "  # em dash U+2014 followed by a space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline (signed-note "Format")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_STD_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class NoteError(ValueError):
    """A note, key or signature is malformed, or no trusted signature verifies (c2sp.org/signed-note)."""


class CheckpointError(NoteError):
    """A checkpoint body violates c2sp.org/tlog-checkpoint."""


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def _check_key_name(name: object) -> str:
    """Key names MUST be non-empty and contain no Unicode spaces and no '+' (signed-note "Format")."""
    if not isinstance(name, str) or not name:
        raise NoteError("key name must be a non-empty string")
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise NoteError(f"invalid key name {name!r}: no spaces, '+' or control characters allowed")
    _utf8(name, "key name")
    return name


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8: {exc}") from None


def _b64decode(text: str, what: str, error: type[NoteError] = NoteError) -> bytes:
    """Decode standard base64 (RFC 4648 §4), rejecting non-alphabet characters and non-canonical encodings."""
    raw = _go_b64decode(text, what, error)
    if base64.b64encode(raw).decode("ascii") != text:
        raise error(f"{what} is not canonical base64")
    return raw


def _go_b64decode(text: str, what: str, error: type[NoteError] = NoteError) -> bytes:
    """Decode standard base64 exactly as Go's ``base64.StdEncoding.DecodeString`` does in note parsing.

    That is RFC 4648 §4 with its padding required (a length that is a multiple of 4, ``=`` only as the one or two
    final characters), but without the canonical-encoding check of RFC 4648 §3.5: non-zero pad bits are accepted,
    as Go only refuses them with ``StdEncoding.Strict()``, which ``golang.org/x/mod/sumdb/note`` does not use.
    (Python's ``b64decode(validate=True)`` alone would also take excess padding such as ``QUJD====``, which Go
    refuses; Go's skipping of CR and LF cannot matter here, as a note holds no CR and its lines no LF.)
    """
    if not isinstance(text, str) or not _STD_BASE64.fullmatch(text):
        raise error(f"{what} is not valid base64")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):  # pragma: no cover - the pattern admits only these
        raise error(f"{what} is not valid base64") from None


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _load_public_key(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise NoteError(f"invalid Ed25519 public key: {exc}") from None


def _public_key_bytes(public_key: bytes | Ed25519PublicKey) -> bytes:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if not isinstance(public_key, bytes | bytearray | memoryview):
        raise NoteError(f"public key must be bytes or Ed25519PublicKey, got {type(public_key).__name__}")
    raw = bytes(public_key)
    if len(raw) != ED25519_PUBLIC_KEY_SIZE:
        raise NoteError(f"Ed25519 public key must be {ED25519_PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    return raw


# ---------------------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------------------


def key_id(name: str, public_key: bytes | Ed25519PublicKey) -> bytes:
    """Return the 4-byte Ed25519 key ID: SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].

    c2sp.org/signed-note, "Ed25519 signatures".
    """
    raw = _public_key_bytes(public_key)
    data = _utf8(_check_key_name(name), "key name") + b"\n" + bytes([SIG_TYPE_ED25519]) + raw
    return hashlib.sha256(data).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 note verifier: key name, 4-byte key ID and 32-byte public key.

    The key ID must be the one derived from the name and key (c2sp.org/signed-note, "Signatures").
    """

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        """Validate the name, key and key ID, and load the public key."""
        raw = _public_key_bytes(self.public_key)
        expected = key_id(self.name, raw)
        if bytes(self.key_id) != expected:
            raise NoteError(
                f"key ID {bytes(self.key_id).hex()} does not match {expected.hex()} derived from name and key"
            )
        _load_public_key(raw)
        object.__setattr__(self, "public_key", raw)
        object.__setattr__(self, "key_id", expected)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes | Ed25519PublicKey) -> Verifier:
        """Build a verifier for ``name`` and an Ed25519 public key (raw 32 bytes or key object)."""
        raw = _public_key_bytes(public_key)
        return cls(name, key_id(name, raw), raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return True iff ``signature`` (64 bytes, without the key ID) is this key's Ed25519 signature."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            _load_public_key(self.public_key).verify(bytes(signature), bytes(message))
        except (InvalidSignature, NoteError):
            return False
        return True

    def vkey(self) -> str:
        """Return the verifier key text ``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
        return verifier_key(self.name, self.public_key)


def verifier_key(name: str, public_key: bytes | Ed25519PublicKey) -> str:
    """Return the verifier key text ``<name>+<8 hex digit key ID>+<base64(0x01 || 32-byte public key)>``."""
    raw = _public_key_bytes(public_key)
    return f"{name}+{key_id(name, raw).hex()}+{_b64encode(bytes([SIG_TYPE_ED25519]) + raw)}"


def parse_verifier_key(text: str) -> Verifier:
    """Parse a verifier key ``<name>+<hex key ID>+<base64(type || key)>`` into a :class:`Verifier`.

    Only signature type 0x01 (Ed25519) is supported.  The key ID is checked against the one derived from
    the name and key (c2sp.org/signed-note, "Signatures").  No surrounding whitespace is accepted.
    """
    if not isinstance(text, str):
        raise NoteError("verifier key must be a string")
    name, sep1, rest = text.partition("+")
    hex_id, sep2, key_b64 = rest.partition("+")
    if not sep1 or not sep2 or not _HEX8.fullmatch(hex_id) or not key_b64:
        raise NoteError("malformed verifier key: expected <name>+<8 hex digits>+<base64 key>")
    _check_key_name(name)
    key = _go_b64decode(key_b64, "verifier key")  # as Go's note.NewVerifier (an Ed25519 key has no pad bits)
    if len(key) < 1 or key[0] != SIG_TYPE_ED25519:
        raise NoteError("unsupported verifier key: only Ed25519 (signature type 0x01) keys are supported")
    if len(key) != 1 + ED25519_PUBLIC_KEY_SIZE:
        raise NoteError(f"Ed25519 verifier key must be {ED25519_PUBLIC_KEY_SIZE} bytes, got {len(key) - 1}")
    claimed = bytes.fromhex(hex_id)
    if claimed != key_id(name, key[1:]):
        raise NoteError(f"verifier key ID {hex_id} does not match its name and public key")
    return Verifier(name, claimed, key[1:])


class NoteSigner:
    """An Ed25519 note signer: a key name and an Ed25519 private key (c2sp.org/signed-note)."""

    __slots__ = ("_private_key", "key_id", "name", "public_key")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Bind ``private_key`` to the key name ``name`` (validated per the spec)."""
        if not isinstance(private_key, Ed25519PrivateKey):
            raise NoteError("private key must be an Ed25519PrivateKey")
        self.name: str = _check_key_name(name)
        self._private_key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id: bytes = key_id(name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature (RFC 8032) of ``message``."""
        return self._private_key.sign(bytes(message))

    def verifier(self) -> Verifier:
        """Return the matching :class:`Verifier`."""
        return Verifier(self.name, self.key_id, self.public_key)

    def verifier_key(self) -> str:
        """Return the matching verifier key text."""
        return verifier_key(self.name, self.public_key)

    def __repr__(self) -> str:
        """Debug representation (never shows the private key)."""
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id.hex()})"


# ---------------------------------------------------------------------------------------------------------
# Notes
# ---------------------------------------------------------------------------------------------------------


def _check_note_text(text: object) -> bytes:
    """Validate note text per signed-note "Format" and return its UTF-8 encoding (the signed message)."""
    if not isinstance(text, str):
        raise NoteError("note text must be a string")
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note text must not contain ASCII control characters other than newline")
    return _utf8(text, "note text")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` with every signer and return the signed note (c2sp.org/signed-note, "Format").

    The result is ``text`` (which must end in a newline and may contain blank lines), a blank line, then one
    line ``— <key name> <base64(key ID || signature)>`` per signer, in order.  The signed message is the
    UTF-8 encoding of ``text`` including its final newline.
    """
    message = _check_note_text(text)
    signers = list(signers)
    if not signers:
        raise NoteError("at least one signer is required")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"at most {MAX_SIGNATURES} signatures per note")
    seen: set[tuple[str, bytes]] = set()
    lines = []
    for signer in signers:
        if not isinstance(signer, NoteSigner):
            raise NoteError(f"signers must be NoteSigner instances, got {type(signer).__name__}")
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise NoteError(f"duplicate signer {signer.name}+{signer.key_id.hex()}")
        seen.add(ident)
        lines.append(f"{_EM_DASH_PREFIX}{signer.name} {_b64encode(signer.key_id + signer.sign(message))}\n")
    return text + "\n" + "".join(lines)


def _verifier_index(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    index: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if not isinstance(v, Verifier):
            raise NoteError(f"verifiers must be Verifier instances, got {type(v).__name__}")
        other = index.setdefault((v.name, v.key_id), v)
        if other.public_key != v.public_key:
            raise NoteError(f"ambiguous verifiers: two keys named {v.name!r} share key ID {v.key_id.hex()}")
    return index


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[Verifier]]:
    """Parse and verify a signed note; return its text and the known verifiers whose signatures verified.

    Per c2sp.org/signed-note: the note must be valid UTF-8 without ASCII control characters other than
    newline; the text (ending in a newline) is separated from the signature lines by the last blank line.
    Signatures whose (key name, key ID) pair matches no known verifier are ignored, even if the name or the ID
    alone matches.  A signature from a known key that fails to verify rejects the whole note, and so does a
    note with no verified signature from a known key.  Repeated signatures by one key are reported once.

    The signature lines are parsed as ``Open`` in Go's ``golang.org/x/mod/sumdb/note`` parses them, so a note
    Go accepts is accepted here and one it refuses is refused: *every* line, known key or not, must start with
    an em dash and a space and hold a valid key name, a space and a non-empty standard base64 string (padding
    required) that decodes to at least 5 bytes (a key ID and a signature), and at most 100 lines are allowed
    — otherwise the whole note is malformed, as in Go.  As in Go the base64 is not required to be canonical:
    non-zero pad bits (RFC 4648 §3.5) are accepted, on any line; a line of an unknown key is then skipped
    whatever its contents, and a line of a known key must hold a valid Ed25519 signature of the text.  One
    difference, where the spec is stricter than Go: Go verifies only the first line of each known key and skips
    its repeats unverified, while every line of a known key is verified here, as c2sp.org/signed-note requires
    ("If the key name and ID match a known key, verifiers MUST verify the signature").
    Raises :class:`NoteError`.
    """
    if isinstance(note, bytes | bytearray | memoryview):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("malformed note: not valid UTF-8") from None
    if not isinstance(note, str):
        raise NoteError("note must be str or bytes")
    _utf8(note, "note")
    if _CONTROL.search(note):
        raise NoteError("malformed note: contains ASCII control characters other than newline")
    known = _verifier_index(verifiers)

    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    if not sig_block or not sig_block.endswith("\n"):
        raise NoteError("malformed note: the signature block must be non-empty and end with a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    message = text.encode("utf-8")

    verified: list[Verifier] = []
    for line in lines:
        if not line.startswith(_EM_DASH_PREFIX):
            raise NoteError("malformed note: signature line must start with an em dash and a space")
        name, sep, sig_b64 = line[len(_EM_DASH_PREFIX) :].partition(" ")
        if not sep or not sig_b64:
            raise NoteError("malformed note: signature line must be '— <key name> <base64 signature>'")
        try:
            _check_key_name(name)
        except NoteError as exc:
            raise NoteError(f"malformed note: {exc}") from None
        # Go decodes every line before looking its key up: an undecodable line is malformed even for an unknown
        # key, while a decodable but non-canonical one is fine for any key.
        sig = _go_b64decode(sig_b64, "malformed note: signature")
        if len(sig) < KEY_ID_SIZE + 1:
            raise NoteError("malformed note: signature too short")
        verifier = known.get((name, sig[:KEY_ID_SIZE]))
        if verifier is None:
            continue  # unknown key: MUST be ignored
        if not verifier.verify(message, sig[KEY_ID_SIZE:]):
            raise NoteError(f"invalid signature by {name}+{sig[:KEY_ID_SIZE].hex()}")
        if verifier not in verified:
            verified.append(verifier)
    if not verified:
        raise NoteError("no signature from a known key on this note")
    return text, verified


# ---------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A transparency-log checkpoint body (c2sp.org/tlog-checkpoint, "Note text")."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        """Return the note text; equivalent to :func:`format_checkpoint`."""
        return format_checkpoint(self.origin, self.size, self.root, self.extensions)


def _check_checkpoint_line(line: object, what: str) -> str:
    if not isinstance(line, str) or not line:
        raise CheckpointError(f"{what} must be a non-empty string")
    if "\n" in line or _CONTROL.search(line):
        raise CheckpointError(f"{what} must be a single line without control characters")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError(f"{what} is not valid UTF-8") from None
    return line


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """Return the checkpoint note text ``<origin>\\n<size>\\n<base64 root>\\n`` plus extension lines.

    c2sp.org/tlog-checkpoint, "Note text": the origin is non-empty; the tree size is decimal without leading
    zeroes; the root hash is the 32-byte RFC 6962 Merkle tree head; extension lines, if any, are non-empty.
    Raises :class:`CheckpointError`.
    """
    _check_checkpoint_line(origin, "origin")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_TREE_SIZE:
        raise CheckpointError("tree size must be an int in [0, 2**64 - 1]")
    if not isinstance(root, bytes | bytearray | memoryview) or len(root) != ROOT_HASH_SIZE:
        raise CheckpointError(f"root hash must be {ROOT_HASH_SIZE} bytes")
    if isinstance(extensions, str):
        raise CheckpointError("extensions must be a sequence of lines, not a string")
    ext = [_check_checkpoint_line(e, "extension line") for e in extensions]
    return "".join(f"{line}\n" for line in [origin, str(size), _b64encode(bytes(root)), *ext])


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse and strictly validate checkpoint note text (c2sp.org/tlog-checkpoint, "Note text").

    Requires at least three non-empty lines, each ending in a newline: a non-empty origin; the tree size in
    ASCII decimal with no leading zeroes (``0`` for the empty tree) fitting in 64 bits; the canonical base64
    of a 32-byte root hash; then optional non-empty extension lines.  Raises :class:`CheckpointError`.
    """
    if not isinstance(text, str):
        raise CheckpointError("checkpoint text must be a string")
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    if _CONTROL.search(text):
        raise CheckpointError("checkpoint text must not contain control characters other than newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint must have an origin, a tree size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise CheckpointError("checkpoint origin must be non-empty")
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError(f"invalid checkpoint tree size {size_text!r}: decimal without leading zeroes")
    size = int(size_text)
    if size > _MAX_TREE_SIZE:
        raise CheckpointError("checkpoint tree size does not fit in 64 bits")
    root = _b64decode(root_text, "checkpoint root hash", CheckpointError)
    if len(root) != ROOT_HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash must be {ROOT_HASH_SIZE} bytes, got {len(root)}")
    if any(not e for e in extensions):
        raise CheckpointError("checkpoint extension lines must be non-empty")
    _utf8(text, "checkpoint text")
    return Checkpoint(origin, size, root, tuple(extensions))


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[Verifier], origin: str | None = None
) -> tuple[Checkpoint, list[Verifier]]:
    """Verify a signed checkpoint with :func:`open_note`, then parse its text with :func:`parse_checkpoint`.

    If ``origin`` is given the checkpoint's origin line must equal it.  Raises :class:`NoteError`.
    """
    text, verified = open_note(note, verifiers)
    checkpoint = parse_checkpoint(text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}")
    return checkpoint, verified
