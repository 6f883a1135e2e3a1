"""User-supplied text is data, never layout: make control and invisible formatting characters visible.

Reasons, comments, justifications, card text and names come from people. Shown as they are, a newline in a reason
forges an extra line of output, a carriage return or an ANSI escape sequence overwrites what the terminal already
showed, and a Unicode bidirectional override makes ``evorppa`` read as ``approve``. :func:`visible` replaces every
such character with a visible escape (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``), so the
text keeps its information but can no longer act on the output around it.

Escaped: the Unicode categories Cc (C0 and C1 controls, DEL), Cf (format characters: the bidi embeddings, overrides
and isolates U+202A-U+202E and U+2066-U+2069, the marks U+200E/U+200F/U+061C, zero-width characters U+200B-U+200D
and U+2060, the byte-order mark, soft hyphen, tag characters), Zl and Zp (U+2028 LINE SEPARATOR, U+2029 PARAGRAPH
SEPARATOR) and Cs (lone surrogates, which no terminal or file can encode). Everything else, accented and non-Latin
letters, emoji, arrows, passes through unchanged; a backslash is not doubled, so ``C:\\data`` still reads as typed.

The CLI (:mod:`cli.output`), the app (``app/text.py``) and the regulator exports (:mod:`core.evidence.render`) all use
this
one function.
"""

from __future__ import annotations

import re
import unicodedata

#: Unicode general categories shown as escapes.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Printable ASCII never needs a look-up; anything else is checked against the categories.
_CANDIDATE = re.compile(r"[^\x20-\x7e]")


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_escaped(char: str) -> bool:
    """Whether :func:`visible` replaces ``char`` (one character) by an escape."""
    return unicodedata.category(char) in ESCAPED_CATEGORIES


def visible(text: object, keep: str = "") -> str:
    """``str(text)`` with every control, format, separator and surrogate character written as a visible escape.

    ``keep`` names characters to leave as they are (say ``"\\n"`` for a multi-line text shown as a block whose line
    structure is the point, such as a policy file).
    """
    value = text if isinstance(text, str) else str(text)

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep or not is_escaped(char):
            return char
        return _escape(char)

    return _CANDIDATE.sub(replace, value)


# Every ASCII punctuation character: CommonMark lets a backslash escape any of them, and only them.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
#: Where GitHub's autolink literals (matched on the unescaped text) would begin: "www.", "http(s)://", "x@domain.tld".
_AUTOLINK = re.compile(r"(?i)(?<=www)(?=\.)|(?<=http:)(?=//)|(?<=https:)(?=//)|(?=@[-\w]+\.[-\w])")
WORD_JOINER = "\u2060"


def markdown_literal(value: object) -> str:
    """``value`` as Markdown source that renders as exactly its text, on one line: control and bidi characters made
    visible (:func:`visible`), a backslash before every ASCII punctuation character (CommonMark renders it as the
    character itself: no emphasis, heading, list, table, code, link, image, raw HTML or entity survives), and an
    invisible U+2060 WORD JOINER where a GitHub autolink literal (``www.``, ``https://``, ``a@x.org``) would start."""
    text = _AUTOLINK.sub(WORD_JOINER, visible("—" if value is None else value))
    return _PUNCTUATION.sub(r"\\\1", text)
