"""The ledger-entry fast path must be byte-identical to the rfc8785 package on any input."""

from __future__ import annotations

import random

import pytest
import rfc8785

from core.canonical import canonical_bytes, ledger_entry_bytes

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
