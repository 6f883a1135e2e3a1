"""Bulk appends: signed on worker processes while being sequenced, byte-identical to signing in-process."""

from __future__ import annotations

import base64
import os
from concurrent.futures import Future

import pytest

from core.api.countersign import Countersign
from core.identity.users import Session
from core.ledger import chain as ledger, parallel
from core.ledger.chain import Event, _BatchSigner
from core.tlog.ed25519 import verify


@pytest.fixture()
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ship to workers after a few dozen entries, so a test-sized batch takes the process path."""
    monkeypatch.setattr(ledger, "PROCESS_SIGNING_MIN", 64)
    monkeypatch.setattr(ledger, "SIGN_CHUNK", 16)


def _events(n: int) -> list[Event]:
    return [Event("bench.recorded", f"bench:{i}", {"i": i, "note": "é", "digest": f"{i:064x}"}) for i in range(n)]


def _bulk(cs: Countersign, admin: Session, n: int) -> list:
    with cs.store.transaction() as tx:
        return cs.ledger().append_many(tx, signer=admin.signer, actor=admin.name, role="admin", events=_events(n))


def test_worker_signatures_equal_in_process_signatures(admin: Session, small_chunks: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNTERSIGN_WORKERS", "2")
    parallel.shutdown()
    messages = [os.urandom(300) for _ in range(200)]
    batch = _BatchSigner(admin.signer)
    for message in messages:
        batch.add(message)
    assert batch.chunks and all(future is not None for _, future in batch.chunks)  # really shipped
    assert all(len(chunk) == ledger.SIGN_CHUNK for chunk, _ in batch.chunks)  # in shares, not one big task
    assert batch.signatures() == [admin.signer.sign(m) for m in messages]
    assert parallel.running()


def test_bulk_append_through_workers_verifies(cs: Countersign, admin: Session, small_chunks: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNTERSIGN_WORKERS", "2")
    parallel.shutdown()
    rows = _bulk(cs, admin, 500)
    assert parallel.running()  # the batch really went through worker processes
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + 500))
    public = admin.signer._fast.public_key
    assert all(verify(public, base64.b64decode(r.signature), r.entry.encode()) for r in rows)
    report = cs.verify()
    assert report.ok, report.problems[:3]


def test_bulk_append_without_workers_is_the_same_ledger(cs: Countersign, admin: Session, small_chunks: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNTERSIGN_WORKERS", "0")
    parallel.shutdown()
    rows = _bulk(cs, admin, 300)
    assert not parallel.running()
    assert cs.verify().ok and len(rows) == 300


def test_a_failing_worker_costs_speed_not_correctness(cs: Countersign, admin: Session, small_chunks: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str, *args: object) -> Future:
        future: Future = Future()
        future.set_exception(parallel.WorkerError("worker process failed: simulated"))
        return future

    monkeypatch.setattr(parallel, "submit", broken)
    rows = _bulk(cs, admin, 200)
    assert len(rows) == 200 and cs.verify().ok
