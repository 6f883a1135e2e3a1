"""Canonical JSON bytes per RFC 8785 (JSON Canonicalization Scheme), via the ``rfc8785`` package.

Every hash and signature in Countersign is computed over these bytes, never over ``json.dumps`` output whose key
order or float formatting could drift between versions.

:func:`ledger_entry_bytes` is a specialisation for the fixed shape of a ledger entry: the payload (arbitrary JSON)
goes through ``rfc8785``; the top-level members are strings, integers or null in a fixed key order, and are
assembled around it exactly as RFC 8785 §3.2 prescribes (members sorted by UTF-16 code units; strings escaped as
ECMAScript ``JSON.stringify`` does, which for strings is what ``json.dumps(..., ensure_ascii=False)`` produces).
The result is byte-for-byte ``rfc8785.dumps`` of the whole entry — ``tests/core/test_canonical.py`` checks this on
adversarial strings — at a third of the cost, which matters when appending tens of thousands of entries a second.
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


_PLAIN = re.compile(r'[ !#-\[\]-~]*')  # printable ASCII except '"' and '\\': serialised as-is


def _string(value: str) -> str:
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
    text = (
        '{"action":' + _string(action)
        + ',"actor":' + _string(actor)
        + ',"key_id":' + _string(key_id)
        + ',"payload":'
    )
    tail = (
        ',"prev":' + _string(prev)
        + ',"role":' + ("null" if role is None else _string(role))
        + ',"seq":' + _integer(seq)
        + ',"subject":' + _string(subject)
        + ',"ts":' + _string(ts)
        + ',"v":' + _integer(version)
        + "}"
    )
    try:
        return text.encode("utf-8") + rfc8785.dumps(payload) + tail.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise rfc8785.CanonicalizationError("input contains non-UTF-8 codepoints") from exc
