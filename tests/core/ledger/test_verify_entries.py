"""Per-entry checks give the same answer in this process and in a worker process."""

from __future__ import annotations

import pytest

from core.api.countersign import Countersign
from core.identity.users import Session
from core.ledger import parallel
from core.ledger.verify_entries import COLUMNS, check_entries


def _columns(cs: Countersign) -> tuple[dict[str, list], dict[str, bytes]]:
    with cs.store.reader() as tx:
        cols = tx.ledger_columns()
        keymap = {k["key_id"]: k["public_key"] for k in tx.public_keys()}
    return {c: list(cols[c]) for c in COLUMNS}, keymap


def test_worker_and_local_checks_agree_on_good_and_tampered_rows(
    populated: Countersign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNTERSIGN_WORKERS", "1")
    admin = populated.login("root", "root-password")
    for _ in range(3):
        populated.grant(admin, "aude", "ml_lead")
        populated.revoke(admin, "aude", "ml_lead")
    cols, keymap = _columns(populated)
    assert len(cols["seq"]) > 8
    blob, problems = check_entries(0, cols, keymap)
    assert problems == [] and len(blob) == 32 * len(cols["seq"])
    cols["actor"][2] = "mallory"
    cols["signature"][3] = cols["signature"][4]
    cols["leaf_hash"][5] = "0" * 64
    cols["payload"][6] = '{"forged":true}'
    cols["key_id"][7] = "f" * 32
    cols["entry"][8] = "{not json"
    local = check_entries(0, cols, keymap)
    future = parallel.submit("check_entries", 0, cols, keymap)
    assert future is not None
    remote = future.result(timeout=60)
    assert remote[0] == local[0] and remote[1] == [tuple(p) for p in local[1]]
    def flagged(seq: int, words: str) -> bool:
        return any(s == seq and words in what for s, what in local[1])

    assert flagged(2, "column 'actor' holds 'mallory'")
    assert flagged(3, "signature does not verify")
    assert flagged(5, "leaf hash")
    assert flagged(6, "column 'payload'")
    assert flagged(7, "unknown key") and flagged(7, "column 'key_id'")
    assert flagged(8, "not valid JSON")
    assert not any(s in (0, 1, 4) for s, _ in local[1])
    parallel.shutdown()


def test_rows_without_a_seq_are_named_by_position(admin: Session, cs: Countersign) -> None:
    cols, keymap = _columns(cs)
    cols["seq"][1] = None
    _, problems = check_entries(100, cols, keymap)
    assert any(seq == 101 for seq, _ in problems)
