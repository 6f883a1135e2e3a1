"""core.tlog.signed_note against Go's golang.org/x/mod/sumdb/note, the reference implementation of c2sp.org/signed-note.

The notes below are fixed bytes. ``GO_ACCEPTS`` records what Go's ``note.Open`` (x/mod at commit fe2ec04f7c3c, with
``note.NewVerifier(VKEY)`` as the only known verifier) answered for each of them, run through a small Go program;
:func:`core.tlog.signed_note.open_note` must give the same answer, except where c2sp.org/signed-note is stricter than Go
(``SPEC_STRICTER``). What Go does, in ``Open``: every signature line, whatever its key, must start with an em dash
and a space, hold a valid key name, a space and a non-empty string that ``base64.StdEncoding`` decodes (padding
required, but non-zero pad bits accepted, as only ``StdEncoding.Strict()`` refuses those) to at least 5 bytes, and
at most 100 lines are read — anything else makes the whole note malformed; then a line whose (name, key ID) matches
no known verifier is skipped, and a line of a known key must verify.
"""

from __future__ import annotations

import base64

import pytest

from core.tlog.signed_note import MAX_SIGNATURES, NoteError, open_note, parse_verifier_key

VKEY = "log.example/a+870806f8+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"  # Ed25519 seed 01 * 32
TEXT = "log.example/a\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
#: log.example/a's signature of TEXT (key ID 870806f8), and the same bytes with both pad bits of the last
#: character set: non-canonical base64 (RFC 4648 §3.5) that Go's StdEncoding decodes all the same.
A_SIG = "hwgG+Oqr4qBQVyXKBtKiLOV+WCri60FTdBu2WI+C6d62J+JA50MlVEZ4SDJSyjETuQZFRZpCzpjodsOIaG3dmB7LzgE="
A_SIG_NONCANONICAL = A_SIG[:-2] + "H="
#: The same signature with one bit of the Ed25519 signature flipped: a bad signature by the known key.
A_SIG_BAD = "hwgG+Oqr4qBQVyXKBtKiLOV+WCri60FTdBu2WI+C6d62J+JA50MlVEZ4SDJSyjETuQZFRZpCzpjodsOIaG3dmB7LzgA="
#: witness.example/u's signature of TEXT (Ed25519 seed 03 * 32): a key the verifier does not know.
U_SIG = "m0Z9Dhm0cAmb3BKnh8wCwbDHJ/wP0krpEMqLG5R+Ya6pclgQWtRzcMTb/LIzR55sMuSMHmNOzU+9SlpBxpR/KVyOXgw="
U_SIG_NONCANONICAL = U_SIG[:-2] + "z="

A = f"\u2014 log.example/a {A_SIG}\n"
U = f"\u2014 witness.example/u {U_SIG}\n"


def _u(b64: str, name: str = "witness.example/u", dash: str = "\u2014 ") -> str:
    return f"{dash}{name} {b64}\n"


# (case, signature lines, what Go's note.Open answered: True = the note opens, verified by log.example/a)
CASES: list[tuple[str, str, bool]] = [
    ("known", A, True),
    ("known-noncanonical", f"\u2014 log.example/a {A_SIG_NONCANONICAL}\n", True),
    ("unknown-noncanonical-then-known", _u(U_SIG_NONCANONICAL) + A, True),
    ("known-then-unknown-noncanonical", A + _u(U_SIG_NONCANONICAL), True),
    ("unknown-and-known", U + A, True),
    ("unknown-only", U, False),
    ("unknown-noncanonical-only", _u(U_SIG_NONCANONICAL), False),
    ("known-bad", f"\u2014 log.example/a {A_SIG_BAD}\n", False),
    ("unknown-then-known-bad", U + f"\u2014 log.example/a {A_SIG_BAD}\n", False),
    ("known-name-unknown-id", _u(U_SIG, name="log.example/a") + A, True),
    ("known-id-unknown-name", _u(A_SIG, name="witness.example/u") + A, True),
    ("unknown-five-bytes", A + _u("AQIDBAU="), True),
    ("unknown-not-base64", A + _u("!!!!"), False),
    ("unknown-unpadded", A + _u(U_SIG.rstrip("=")), False),
    ("unknown-excess-padding", A + _u("QUJDREVG===="), False),
    ("unknown-url-safe", A + _u(U_SIG.replace("+", "-").replace("/", "_")), False),
    ("unknown-inner-space", A + _u(U_SIG[:20] + " " + U_SIG[20:]), False),
    ("unknown-too-short", A + _u("AAAAAA=="), False),
    ("unknown-empty-signature", A + "\u2014 witness.example/u \n", False),
    ("unknown-no-signature", A + "\u2014 witness.example/u\n", False),
    ("unknown-empty-name", A + _u(U_SIG, name=""), False),
    ("unknown-plus-in-name", A + _u(U_SIG, name="witness+u"), False),
    ("unknown-unicode-space-in-name", A + _u(U_SIG, name="witness\u3000u"), False),
    ("unknown-hyphen-not-em-dash", A + _u(U_SIG, dash="- "), False),
    ("unknown-no-space-after-dash", A + _u(U_SIG, dash="\u2014"), False),
    ("not-a-signature-line", A + "garbage\n", False),
    ("known-twice", A + A, True),
    ("known-and-noncanonical-repeat", A + f"\u2014 log.example/a {A_SIG_NONCANONICAL}\n", True),
    ("known-bad-then-good", f"\u2014 log.example/a {A_SIG_BAD}\n" + A, False),
    ("known-good-then-bad", A + f"\u2014 log.example/a {A_SIG_BAD}\n", True),
    ("100-lines", A + _u(U_SIG) * (MAX_SIGNATURES - 1), True),
    ("101-lines", A + _u(U_SIG) * MAX_SIGNATURES, False),
]

#: Where c2sp.org/signed-note is stricter than Go, and open_note follows the spec: Go verifies only the first line
#: of each known key and skips its repeats unverified; the spec says "If the key name and ID match a known key,
#: verifiers MUST verify the signature. If a signature from a known key fails to verify, clients SHOULD reject the
#: whole note."
SPEC_STRICTER = {"known-good-then-bad"}


@pytest.mark.parametrize(("case", "lines", "go_accepts"), CASES, ids=[c[0] for c in CASES])
def test_open_note_answers_as_go_does(case: str, lines: str, go_accepts: bool) -> None:
    note = TEXT + "\n" + lines
    verifier = parse_verifier_key(VKEY)
    if go_accepts and case not in SPEC_STRICTER:
        assert open_note(note, [verifier]) == (TEXT, [verifier])
    else:
        with pytest.raises(NoteError):
            open_note(note, [verifier])


def test_the_vectors_are_what_they_claim() -> None:
    """The fixed signatures: A_SIG verifies, its non-canonical spelling is the same bytes, A_SIG_BAD differs."""
    verifier = parse_verifier_key(VKEY)
    raw = base64.b64decode(A_SIG, validate=True)
    assert raw[:4] == verifier.key_id and verifier.verify(TEXT.encode(), raw[4:])
    assert base64.b64decode(A_SIG_NONCANONICAL, validate=True) == raw
    assert base64.b64encode(raw).decode() != A_SIG_NONCANONICAL
    bad = base64.b64decode(A_SIG_BAD, validate=True)
    assert len(bad) == len(raw) and sum(x != y for x, y in zip(bad, raw, strict=True)) == 1
    assert not verifier.verify(TEXT.encode(), bad[4:])
    unknown = base64.b64decode(U_SIG_NONCANONICAL, validate=True)
    assert unknown == base64.b64decode(U_SIG, validate=True) and base64.b64encode(unknown).decode() != \
        U_SIG_NONCANONICAL


def test_unknown_non_canonical_line_is_ignored_and_known_bad_line_rejects() -> None:
    """The issue's two cases, with the error a known key's bad signature gives."""
    verifier = parse_verifier_key(VKEY)
    assert open_note(TEXT + "\n" + _u(U_SIG_NONCANONICAL) + A, [verifier]) == (TEXT, [verifier])
    with pytest.raises(NoteError, match=r"invalid signature by log\.example/a\+870806f8"):
        open_note(TEXT + "\n" + _u(U_SIG_NONCANONICAL) + f"\u2014 log.example/a {A_SIG_BAD}\n", [verifier])
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(TEXT + "\n" + _u(U_SIG_NONCANONICAL), [verifier])


def test_a_malformed_line_rejects_the_note_whatever_its_key() -> None:
    """As in Go, only a well-formed line can be skipped: an undecodable one is malformed even for an unknown key."""
    verifier = parse_verifier_key(VKEY)
    with pytest.raises(NoteError, match="malformed note: signature is not valid base64"):
        open_note(TEXT + "\n" + A + _u("QUJDREVG===="), [verifier])
    with pytest.raises(NoteError, match="malformed note: more than 100 signatures"):
        open_note(TEXT + "\n" + A + _u(U_SIG) * MAX_SIGNATURES, [verifier])
