"""Tests for core.tlog.signed_note: C2SP signed-note (Ed25519) and tlog-checkpoint."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.tlog.merkle import EMPTY_ROOT, leaf_hash, root
from core.tlog.signed_note import (
    Checkpoint,
    CheckpointError,
    NoteError,
    NoteSigner,
    Verifier,
    format_checkpoint,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

# The example of c2sp.org/signed-note (also golang.org/x/mod/sumdb/note).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_TEXT = "This is an example message.\n"
SPEC_SIG_LINE = (
    "\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
SPEC_NOTE = SPEC_TEXT + "\n" + SPEC_SIG_LINE


def _signer(name: str = "log.example/test", seed: int = 1) -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


# ---------------------------------------------------------------------------------------------------------
# Spec example and keys
# ---------------------------------------------------------------------------------------------------------


def test_spec_example_verifies() -> None:
    v = parse_verifier_key(SPEC_VKEY)
    assert v.name == "example.com/foo"
    assert v.key_id == bytes.fromhex("530d903a")
    assert len(v.public_key) == 32
    assert v.vkey() == SPEC_VKEY == verifier_key(v.name, v.public_key)
    assert key_id(v.name, v.public_key) == v.key_id
    text, verified = open_note(SPEC_NOTE, [v])
    assert text == SPEC_TEXT
    assert verified == [v]
    assert open_note(SPEC_NOTE.encode("utf-8"), [v]) == (SPEC_TEXT, [v])
    sig = base64.b64decode(SPEC_SIG_LINE.split(" ")[2])
    assert sig[:4] == v.key_id
    assert v.verify(SPEC_TEXT.encode(), sig[4:])
    assert not v.verify(b"This is an example message!\n", sig[4:])
    assert not v.verify(SPEC_TEXT.encode(), sig[4:-1])


def test_spec_example_tampering_fails() -> None:
    v = parse_verifier_key(SPEC_VKEY)
    with pytest.raises(NoteError):
        open_note(SPEC_NOTE.replace("example message", "example massage"), [v])
    sig_b64 = SPEC_SIG_LINE.split(" ")[2].strip()
    raw = bytearray(base64.b64decode(sig_b64))
    raw[10] ^= 1
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(SPEC_NOTE.replace(sig_b64, base64.b64encode(bytes(raw)).decode()), [v])


def test_verifier_key_parsing_rejects_bad_keys() -> None:
    name, hex_id, key_b64 = SPEC_VKEY.split("+")
    raw = base64.b64decode(key_b64)
    type2_key = base64.b64encode(bytes([2]) + raw[1:]).decode()
    short_key = base64.b64encode(raw[:-1]).decode()
    bad = [
        "",
        "example.com/foo",
        f"{name}+{hex_id}",
        f"{name}+{hex_id}+",
        f"+{hex_id}+{key_b64}",  # empty name
        f"{name}+530d903b+{key_b64}",  # wrong key ID
        f"{name}+530d903+{key_b64}",  # short key ID
        f"{name}+0x530d90+{key_b64}",
        f"other.example+{hex_id}+{key_b64}",  # ID does not match the name
        f"{name}+{hex_id}+{key_b64[:-1]}",  # bad base64
        f"{name}+{hex_id}+{key_b64} ",  # trailing space
        f"{name}+{hex_id}+{type2_key}",  # unknown signature type
        f"{name}+{hex_id}+{short_key}",  # short key
        f"exa mple+{hex_id}+{key_b64}",  # space in name
    ]
    for text in bad:
        with pytest.raises(NoteError):
            parse_verifier_key(text)
    assert parse_verifier_key(f"{name}+{hex_id.upper()}+{key_b64}").key_id == bytes.fromhex(hex_id)


def test_key_id_and_verifier_construction() -> None:
    s = _signer()
    assert len(s.key_id) == 4
    assert s.key_id == key_id(s.name, s.public_key)
    # Different name or signature type domain -> different ID.
    assert key_id("log.example/other", s.public_key) != s.key_id
    v = parse_verifier_key(s.verifier_key())
    assert v == s.verifier() == Verifier.from_public_key(s.name, s.public_key)
    assert Verifier.from_public_key(s.name, Ed25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key()) == v
    with pytest.raises(NoteError, match="key ID"):
        Verifier(s.name, b"\x00\x00\x00\x00", s.public_key)
    with pytest.raises(NoteError):
        Verifier(s.name, s.key_id, s.public_key[:31])
    for bad_name in ["", "a b", "a+b", "a\u00a0b", "a\tb", "a\u2003b"]:
        with pytest.raises(NoteError):
            key_id(bad_name, s.public_key)
        with pytest.raises(NoteError):
            NoteSigner(bad_name, Ed25519PrivateKey.generate())
    assert "private" not in repr(s).lower()


# ---------------------------------------------------------------------------------------------------------
# Sign / open
# ---------------------------------------------------------------------------------------------------------


def test_sign_and_open_round_trip() -> None:
    a, b = _signer("log.example/a", 1), _signer("witness.example/b", 2)
    text = "hello\n\nnotes may contain blank lines \u2014 and UTF-8: \u00e9\n"
    note = sign_note(text, [a, b])
    body, sig_block = note[: len(text)], note[len(text) :]
    assert body == text
    lines = sig_block.split("\n")
    assert lines[0] == "" and lines[-1] == "" and len(lines) == 4
    for line, signer in zip(lines[1:3], [a, b], strict=True):
        assert line.startswith(f"\u2014 {signer.name} ")
        raw = base64.b64decode(line.split(" ")[2], validate=True)
        assert raw[:4] == signer.key_id and len(raw) == 68
    assert open_note(note, [a.verifier(), b.verifier()]) == (text, [a.verifier(), b.verifier()])
    assert open_note(note, [b.verifier()]) == (text, [b.verifier()])
    assert open_note(note, [a.verifier()]) == (text, [a.verifier()])


def test_wrong_key_fails() -> None:
    note = sign_note("checkpoint body\n", [_signer(seed=1)])
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(note, [_signer(seed=2).verifier()])
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(note, [])
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(note, [_signer("other.example/name", seed=1).verifier()])  # same key, other name


def test_unknown_signatures_are_ignored_and_known_bad_ones_reject() -> None:
    a, b = _signer("log.example/a", 1), _signer("log.example/a", 2)  # same name, different keys
    note = sign_note("body\n", [a, b])
    assert open_note(note, [a.verifier()]) == ("body\n", [a.verifier()])
    assert open_note(note, [b.verifier()]) == ("body\n", [b.verifier()])
    # A signature line claiming a known name and key ID but carrying a bad signature rejects the note.
    forged = f"\u2014 {a.name} {base64.b64encode(a.key_id + bytes(64)).decode()}\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note + forged, [a.verifier()])
    # ... but is ignored when that key is not trusted.
    assert open_note(note + forged, [b.verifier()]) == ("body\n", [b.verifier()])
    # Unknown (well-formed) signatures of any length are ignored.
    unknown = "\u2014 someone.example/x " + base64.b64encode(bytes([1, 2, 3, 4, 5])).decode() + "\n"
    assert open_note(note + unknown, [a.verifier()]) == ("body\n", [a.verifier()])
    # Duplicate signatures by one key are reported once.
    dup = note + note.split("\n\n", 1)[1]
    assert open_note(dup, [a.verifier()]) == ("body\n", [a.verifier()])


def test_tampered_text_and_signature_fail() -> None:
    s = _signer()
    note = sign_note("origin\n42\n", [s])
    v = [s.verifier()]
    with pytest.raises(NoteError):
        open_note(note.replace("42", "43"), v)
    with pytest.raises(NoteError):
        open_note("x" + note, v)
    sig_b64 = note.rsplit(" ", 1)[1].strip()
    raw = bytearray(base64.b64decode(sig_b64))
    for pos in [4, 30, 67]:
        bad = bytearray(raw)
        bad[pos] ^= 0x80
        with pytest.raises(NoteError, match="invalid signature"):
            open_note(note.replace(sig_b64, base64.b64encode(bytes(bad)).decode()), v)
    bad_id = bytearray(raw)
    bad_id[0] ^= 1  # unknown key ID -> ignored -> no trusted signature
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(note.replace(sig_b64, base64.b64encode(bytes(bad_id)).decode()), v)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note.replace(sig_b64, base64.b64encode(bytes(raw[:-1])).decode()), v)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.rstrip("\n"),  # no final newline after the signature
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n + "\n",  # trailing blank line: empty signature block
        lambda n: n.replace("\u2014 ", "- "),  # hyphen instead of em dash
        lambda n: n.replace("\u2014 ", "\u2014"),  # no space after the dash
        lambda n: n.replace("\u2014 ", "\u2014  "),  # empty key name
        lambda n: n.replace(" ", "\t", 2),  # tab
        lambda n: n.replace("body", "bo\rdy"),  # control character in the text
        lambda n: n.replace("body", "bo\x00dy"),
        lambda n: n[:-2] + "!\n",  # invalid base64
        lambda n: n.replace("\n\u2014", "\n\u2014 someone.example/x\n\u2014"),  # line without signature
        lambda n: n + "\u2014 someone.example/x AAAAAA==\n",  # too short to hold a key ID + signature
        lambda n: n + "\u2014 someone.example/x b\n",  # "b" is not valid base64
        lambda n: n + "garbage\n",  # not a signature line
        lambda n: n.replace("\n\n", "\n\n\n"),  # extra blank line: the signed text changes
        lambda n: n + "\u2014 bad+name QUJDREVG\n",
        lambda n: n + "".join(f"\u2014 x.example/{i} QUJDREVG\n" for i in range(100)),  # too many
    ],
)
def test_malformed_notes_fail(mutate: object) -> None:
    s = _signer()
    note = sign_note("body\n", [s])
    bad = mutate(note)  # type: ignore[operator]
    assert bad != note
    with pytest.raises(NoteError):
        open_note(bad, [s.verifier()])


def test_malformed_inputs() -> None:
    s = _signer()
    v = [s.verifier()]
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"body\n\n\xe2\x80\x94 x \xff\n", v)
    with pytest.raises(NoteError):
        open_note("body\ud800\n\n\u2014 x QUJDREVG\n", v)  # lone surrogate
    with pytest.raises(NoteError):
        open_note("", v)
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(sign_note("body\n", [s]), [s.verifier(), _fake_colliding_verifier(s)])


def _fake_colliding_verifier(s: NoteSigner) -> Verifier:
    """A verifier object sharing name and key ID with ``s`` but a different key (bypassing validation)."""
    other = _signer(s.name, 99).verifier()
    object.__setattr__(other, "key_id", s.key_id)
    return other


def test_sign_note_refuses_bad_text_and_signers() -> None:
    s = _signer()
    for text in ["", "no final newline", "a\x00b\n", "tab\there\n", "cr\r\n", "bad \ud800 surrogate\n"]:
        with pytest.raises(NoteError):
            sign_note(text, [s])
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("body\n", [])
    with pytest.raises(NoteError, match="duplicate"):
        sign_note("body\n", [s, _signer()])
    # Blank lines inside the text are allowed; the last blank line separates the signatures.
    text = "\n\nodd but valid\n\n"
    assert open_note(sign_note(text, [s]), [s.verifier()])[0] == text
    assert open_note(sign_note("\n", [s]), [s.verifier()])[0] == "\n"


# ---------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------

ROOT = root([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])


def test_checkpoint_format_and_parse_round_trip() -> None:
    text = format_checkpoint("example.com/log42", 3, ROOT)
    assert text == f"example.com/log42\n3\n{base64.b64encode(ROOT).decode()}\n"
    assert parse_checkpoint(text) == Checkpoint("example.com/log42", 3, ROOT, ())
    ext = format_checkpoint("o", 0, EMPTY_ROOT, ["ext one", "\u2014 two"])
    cp = parse_checkpoint(ext)
    assert cp == Checkpoint("o", 0, EMPTY_ROOT, ("ext one", "\u2014 two"))
    assert cp.to_text() == ext
    big = format_checkpoint("o", 2**64 - 1, ROOT)
    assert parse_checkpoint(big).size == 2**64 - 1


def test_spec_checkpoint_example_parses() -> None:
    cp = parse_checkpoint("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert len(cp.root) == 32


@pytest.mark.parametrize(
    "text",
    [
        "",
        "o\n3\n",  # missing root
        "o\n3\n{root}",  # no final newline
        "\n3\n{root}\n",  # empty origin
        "o\n03\n{root}\n",  # leading zero
        "o\n00\n{root}\n",
        "o\n-1\n{root}\n",
        "o\n+3\n{root}\n",
        "o\n 3\n{root}\n",
        "o\n3 \n{root}\n",
        "o\n\n{root}\n",
        "o\n\u0663\n{root}\n",  # Arabic-Indic digit three
        "o\n0x3\n{root}\n",
        "o\n18446744073709551616\n{root}\n",  # 2**64
        "o\n3\n{short}\n",  # 31-byte root
        "o\n3\n{noncanonical}\n",
        "o\n3\n{root}=\n",
        "o\n3\n{root_nopad}\n",
        "o\n3\n{root}\n\n",  # empty extension line
        "o\n3\n{root}\next\n\n",
        "o\n3\n{root}\r\n",
        "o\x00\n3\n{root}\n",
    ],
)
def test_parse_checkpoint_rejects_malformed(text: str) -> None:
    root_b64 = base64.b64encode(ROOT).decode()
    short = base64.b64encode(ROOT[:31]).decode()
    noncanonical = base64.b64encode(ROOT[:31] + b"\x00")[:-2].decode() + "B="  # non-zero padding bits
    assert base64.b64decode(noncanonical) == ROOT[:31] + b"\x00"
    body = text.format(root=root_b64, short=short, noncanonical=noncanonical, root_nopad=root_b64.rstrip("="))
    with pytest.raises(CheckpointError):
        parse_checkpoint(body)


def test_format_checkpoint_rejects_bad_arguments() -> None:
    for args in [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        ("o", -1, ROOT),
        ("o", 2**64, ROOT),
        ("o", True, ROOT),
        ("o", "1", ROOT),
        ("o", 1, ROOT[:31]),
        ("o", 1, ROOT.hex()),
    ]:
        with pytest.raises(CheckpointError):
            format_checkpoint(*args)  # type: ignore[arg-type]
    for ext in [[""], ["a\nb"], "abc", ["a\rb"]]:
        with pytest.raises(CheckpointError):
            format_checkpoint("o", 1, ROOT, ext)


def test_signed_checkpoint_round_trip() -> None:
    s = _signer("example.com/log42")
    note = sign_note(format_checkpoint("example.com/log42", 3, ROOT), [s])
    cp, verified = open_checkpoint(note, [s.verifier()], origin="example.com/log42")
    assert cp == Checkpoint("example.com/log42", 3, ROOT)
    assert verified == [s.verifier()]
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(note, [s.verifier()], origin="example.com/other")
    bad_body = sign_note("example.com/log42\n03\n" + base64.b64encode(ROOT).decode() + "\n", [s])
    with pytest.raises(CheckpointError):
        open_checkpoint(bad_body, [s.verifier()])
    assert isinstance(CheckpointError("x"), NoteError) and isinstance(NoteError("x"), ValueError)
