"""The ledger-entry fast path must be byte-identical to the rfc8785 package on any input."""

from __future__ import annotations

import random

import pytest
import rfc8785

from core.tlog.canonical import EntryTemplate, _encoder_safe, canonical_bytes, canonical_payload, ledger_entry_bytes

NASTY = ["", "plain", 'quote " and \\ backslash', "\x00\x01\x1f\x7f controls", "\b\f\n\r\t", "é ü ß 中文 🙂",
         "\u2028\u2029", "</script>", "\ud7ff\ue000\uffff", "emoji 👩‍💻 zwj", "key_id"]


def _random_text(rng: random.Random) -> str:
    alphabet = [chr(c) for c in range(0, 0x80)] + ["é", "中", "🙂", "\u2028", "\uffff", "\U0010ffff"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def _random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 6 if depth < 3 else 3)
    if kind == 0:
        return _random_text(rng)
    if kind == 1:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if kind == 2:
        return rng.choice([None, True, False, 0.1, 1e21, -0.0, 5e-324, 123.456, 1e-7])
    if kind == 3:
        return rng.choice(NASTY)
    if kind == 4:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_random_text(rng): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


@pytest.mark.parametrize("seed", range(300))
def test_fast_path_equals_rfc8785(seed: int) -> None:
    rng = random.Random(seed)
    body = {
        "action": rng.choice(NASTY + [_random_text(rng)]),
        "actor": _random_text(rng),
        "key_id": _random_text(rng),
        "payload": {_random_text(rng): _random_json(rng) for _ in range(rng.randint(0, 5))},
        "prev": rng.choice(["0" * 64, _random_text(rng)]),
        "role": rng.choice([None, "admin", _random_text(rng)]),
        "seq": rng.randint(0, 2**53 - 1),
        "subject": rng.choice(NASTY),
        "ts": _random_text(rng),
        "v": 1,
    }
    fields = {k: v for k, v in body.items() if k != "v"}
    assert ledger_entry_bytes(**fields) == rfc8785.dumps(body) == canonical_bytes(body)


def test_fast_path_refuses_what_rfc8785_refuses() -> None:
    base = dict(action="a", actor="b", key_id="c", payload={}, prev="d", role=None, subject="e", ts="f")
    with pytest.raises(ValueError):
        ledger_entry_bytes(**base, seq=2**53)
    with pytest.raises(rfc8785.CanonicalizationError):
        ledger_entry_bytes(**{**base, "actor": "\ud800"}, seq=1)
    with pytest.raises(rfc8785.CanonicalizationError):
        ledger_entry_bytes(**{**base, "payload": {"x": float("nan")}}, seq=1)


def _float_free(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 5 if depth < 3 else 3)
    if kind == 0:
        return _random_text(rng)
    if kind == 1:
        return rng.choice([0, -1, 2**53 - 1, -(2**53) + 1, rng.randint(-(2**53) + 1, 2**53 - 1)])
    if kind == 2:
        return rng.choice([None, True, False])
    if kind == 3:
        return rng.choice(NASTY)
    if kind == 4:
        return [_float_free(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice([_random_text(rng), *NASTY]): _float_free(rng, depth + 1) for _ in range(rng.randint(0, 5))}


@pytest.mark.parametrize("seed", range(300))
def test_payload_shortcut_equals_rfc8785(seed: int) -> None:
    rng = random.Random(seed)
    payload = {_random_text(rng): _float_free(rng) for _ in range(rng.randint(0, 6))}
    expected_fast = all(max(k, default="a") <= "\uffff" for k in _keys(payload))
    assert _encoder_safe(payload) is expected_fast
    assert canonical_payload(payload) == rfc8785.dumps(payload)


def _keys(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*value.keys(), *(k for v in value.values() for k in _keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


def test_keys_beyond_the_bmp_sort_by_utf16_code_units() -> None:
    """U+1F642 is one code point above U+FFFF but its UTF-16 surrogates sort below U+E000 (RFC 8785 §3.2.3)."""
    payload = {"\ue000": 1, "\U0001f642": 2}
    assert not _encoder_safe(payload)
    assert canonical_payload(payload) == rfc8785.dumps(payload) == '{"🙂":2,"\ue000":1}'.encode()


@pytest.mark.parametrize("value", [{"x": 0.5}, {"x": [1.0]}, {"x": 2**53}, {1: "int key"}, {"x": ("tuple",)},
                                   {"x": float("inf")}, {"x": "\ud800"}])
def test_payload_shortcut_leaves_the_rest_to_rfc8785(value: dict) -> None:
    assert not _encoder_safe(value) or "\ud800" in str(value.get("x"))
    try:
        expected: bytes | type[Exception] = rfc8785.dumps(value)
    except Exception as exc:  # noqa: BLE001 - whatever rfc8785 raises, we must raise too
        expected = type(exc)
    if isinstance(expected, bytes):
        assert canonical_payload(value) == expected
    else:
        with pytest.raises(expected):
            canonical_payload(value)


def test_a_self_referencing_payload_is_refused_not_walked_forever() -> None:
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(RecursionError):
        canonical_payload(loop)


def test_template_entries_equal_one_off_entries() -> None:
    template = EntryTemplate(actor="aude", key_id="k" * 32, role=None)
    for seq, action in enumerate(["model.registered", "model.registered", "é \u2028 action"]):
        fields = dict(action=action, payload={"seq": seq}, prev=f"{seq:064x}", seq=seq, subject=f"m@{seq}",
                      ts="2026-11-22T10:00:00.000000Z")
        entry, payload = template.parts(**fields)
        assert entry == ledger_entry_bytes(actor="aude", key_id="k" * 32, role=None, **fields)
        assert payload == rfc8785.dumps({"seq": seq}) and payload in entry
