"""Canonical JSON bytes per RFC 8785 (JSON Canonicalization Scheme), via the ``rfc8785`` package.

Every hash and signature in Countersign is computed over these bytes, never over ``json.dumps`` output whose key
order or float formatting could drift between versions.

:func:`ledger_entry_bytes` is a specialisation for the fixed shape of a ledger entry: the payload (arbitrary
JSON) goes through :func:`canonical_payload`; the top-level members are strings, integers or null in a fixed key
order, and are assembled around it exactly as RFC 8785 §3.2 prescribes (members sorted by UTF-16 code units;
strings escaped as ECMAScript ``JSON.stringify`` does, which for strings is what ``json.dumps(...,
ensure_ascii=False)`` produces). The result is byte-for-byte ``rfc8785.dumps`` of the whole entry —
``tests/core/test_canonical.py`` checks this on adversarial strings — at a fraction of the cost, which matters when
appending tens of thousands of entries a second.

:func:`canonical_payload` is ``rfc8785.dumps`` with one shortcut: a value made only of dicts with string keys,
lists, strings, booleans, ``None`` and integers in the I-JSON safe range (no floats — the one type whose text
differs, ECMAScript's Number-to-String vs Python's ``repr``) is serialised by the standard library's C encoder
with sorted keys and no whitespace, which for such values *is* RFC 8785 provided no key holds a character beyond
U+FFFF (RFC 8785 §3.2.3 sorts keys by UTF-16 code units, Python by code points; the two orders agree inside the
Basic Multilingual Plane). Anything else goes to ``rfc8785.dumps``. ``tests/core/test_canonical.py`` checks both
paths against the package on adversarial input.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

_INT_LIMIT = 2**53 - 1


def canonical_bytes(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """Return the RFC 8785 canonical UTF-8 serialization of a JSON-compatible value."""
    return rfc8785.dumps(value)


_MAX_BMP = "\uffff"
_WALK_LIMIT = 100_000  # values larger than this (or cyclic ones) take the rfc8785 path
_compact = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _encoder_safe(value: Any) -> bool:  # noqa: ANN401 - any JSON value
    """True when the standard library's sorted compact JSON of ``value`` is exactly its RFC 8785 text."""
    stack = [value]
    pop, push = stack.pop, stack.append
    budget = _WALK_LIMIT  # a self-referencing value would otherwise be walked forever
    while stack:
        budget -= 1
        if budget < 0:
            return False
        item = pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if -_INT_LIMIT <= item <= _INT_LIMIT:
                continue
            return False
        if kind is dict:
            for key, member in item.items():
                if type(key) is not str or not (key.isascii() or max(key) <= _MAX_BMP):
                    return False
                push(member)
            continue
        if kind is list:
            stack.extend(item)
            continue
        return False  # floats, tuples, subclasses, anything exotic: let rfc8785 decide
    return True


def canonical_payload(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """RFC 8785 bytes of ``value`` (byte-identical to ``rfc8785.dumps``; see the module docstring)."""
    if _encoder_safe(value):
        try:
            return _compact(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 raises its own, clearer error
    return rfc8785.dumps(value)


_PLAIN = re.compile(r'[ !#-\[\]-~]*')  # printable ASCII except '"' and '\\': serialised as-is


def json_string(value: str) -> str:
    """RFC 8785 §3.2.2.2 serialisation of a string (as ECMAScript ``JSON.stringify`` writes it)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if _PLAIN.fullmatch(value):
        return '"' + value + '"'
    return json.dumps(value, ensure_ascii=False)


def _integer(value: int) -> str:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > _INT_LIMIT:
        raise ValueError(f"{value!r} is not an integer in the RFC 8785 safe range")
    return str(value)


def ledger_entry_bytes(
    *,
    action: str,
    actor: str,
    key_id: str,
    payload: dict[str, Any],
    prev: str,
    role: str | None,
    seq: int,
    subject: str,
    ts: str,
    version: int = 1,
) -> bytes:
    """RFC 8785 bytes of ``{"action", "actor", "key_id", "payload", "prev", "role", "seq", "subject", "ts", "v"}``."""
    template = EntryTemplate(actor=actor, key_id=key_id, role=role, version=version)
    return template.parts(action=action, payload=payload, prev=prev, seq=seq, subject=subject, ts=ts)[0]


class EntryTemplate:
    """:func:`ledger_entry_bytes` for many entries by one actor: the members every entry shares are escaped once."""

    __slots__ = ("_after_action", "_after_prev", "_end", "_actions")

    def __init__(self, *, actor: str, key_id: str, role: str | None, version: int = 1) -> None:
        self._after_action = _utf8(
            ',"actor":' + json_string(actor) + ',"key_id":' + json_string(key_id) + ',"payload":')
        self._after_prev = ',"role":' + ("null" if role is None else json_string(role)) + ',"seq":'
        self._end = ',"v":' + _integer(version) + "}"
        self._actions: dict[str, bytes] = {}

    def parts(
        self, *, action: str, payload: dict[str, Any], prev: str, seq: int, subject: str, ts: str
    ) -> tuple[bytes, bytes]:
        """The canonical entry and its canonical payload."""
        head = self._actions.get(action) if type(action) is str else None
        if head is None:
            head = _utf8('{"action":' + json_string(action)) + self._after_action
            if len(self._actions) < 256:
                self._actions[action] = head
        tail = (
            ',"prev":' + json_string(prev) + self._after_prev + _integer(seq)
            + ',"subject":' + json_string(subject) + ',"ts":' + json_string(ts) + self._end
        )
        body = canonical_payload(payload)
        return head + body + _utf8(tail), body


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise rfc8785.CanonicalizationError("input contains non-UTF-8 codepoints") from exc
