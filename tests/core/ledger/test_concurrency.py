"""Several real OS processes share one Countersign database file.

DuckDB lets a single process hold a file open at a time; Countersign opens it per operation and waits for other
processes' locks (``COUNTERSIGN_LOCK_TIMEOUT``). These tests start real interpreters that append concurrently and
check that the ledger stays gapless, unforked and verifiable, that an operation waits for another process's lock,
and that it gives up cleanly (``StoreUnavailable``, nothing written) once the wait is exhausted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from core.api.countersign import Countersign
from core.demo.seed import enrol
from core.errors import StoreUnavailable
from core.identity.users import Session
from core.ledger.chain import ZERO_HASH
from tests.conftest import ADMIN, ADMIN_PW

WORKERS = 4
K = 25  # toggles per worker (odd: each worker ends holding the toggled role)
TOGGLED = "data_scientist"

# argv: db, admin, admin password, user, k, ready file, start file
WORKER = r"""
import json, sys, time
from pathlib import Path

from core.api.countersign import Countersign

db, admin, password, user, k, ready, start = sys.argv[1:8]
cs = Countersign(db)
session = cs.login(admin, password)          # scrypt once per process, before the race starts
Path(ready).touch()
deadline = time.monotonic() + 60
while not Path(start).exists():             # the barrier: everybody appends at the same moment
    if time.monotonic() > deadline:
        sys.exit("start signal never came")
    time.sleep(0.002)
seqs = []
for i in range(int(k)):
    op = cs.grant if i % 2 == 0 else cs.revoke
    seqs.append(op(session, user, "data_scientist")["seq"])
print(json.dumps(seqs))
"""

# argv: db, seconds to hold the file open
HOLDER = r"""
import sys, time
import duckdb

con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""

LEDGER_SQL = "SELECT seq, prev_hash, leaf_hash, actor, action, subject, signature, entry FROM ledger ORDER BY seq"


def ledger_rows(db_path: Path) -> list[tuple]:
    """Every ledger row, read directly (only while no other process has the file open)."""
    con = duckdb.connect(str(db_path))
    try:
        return con.execute(LEDGER_SQL).fetchall()
    finally:
        con.close()


def assert_gapless_chain(rows: list[tuple]) -> None:
    seqs = [r[0] for r in rows]
    assert seqs == list(range(len(rows))), "ledger seq is not exactly 0..n-1"
    for i, (seq, prev, leaf, *_rest) in enumerate(rows):
        expected = ZERO_HASH if i == 0 else rows[i - 1][2]
        assert prev == expected, f"fork at seq {seq}: prev_hash does not link to the leaf hash of seq {seq - 1}"
        assert leaf, f"seq {seq} has no leaf hash"
    leaves = [r[2] for r in rows]
    assert len(set(leaves)) == len(leaves), "two ledger entries have the same leaf hash"


def start_holder(db_path: Path, seconds: float) -> subprocess.Popen[str]:
    """A second process that holds the database file open for ``seconds`` (returns once it holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "locked":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"lock holder did not start: {line!r} {err}")
    return proc


@pytest.mark.slow
def test_concurrent_appends_from_many_processes(cs: Countersign, admin: Session, db_path: Path,
                                                tmp_path: Path) -> None:
    users = [f"worker{i}" for i in range(WORKERS)]
    for name in users:
        enrol(cs, admin, name, ["auditor"], f"{name}-password")
    before = ledger_rows(db_path)
    initial = len(before)

    start = tmp_path / "start"
    procs = []
    for name in users:
        ready = tmp_path / f"{name}.ready"
        args = [str(db_path), ADMIN, ADMIN_PW, name, str(K), str(ready), str(start)]
        procs.append((name, ready, subprocess.Popen([sys.executable, "-c", WORKER, *args],
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for _, ready, _ in procs):
            assert time.monotonic() < deadline, "workers never became ready"
            dead = [(n, p.returncode) for n, _, p in procs if p.poll() is not None]
            assert not dead, f"worker exited before the start signal: {dead}"
            time.sleep(0.01)
        start.touch()
        results = {}
        for name, _, proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{err}"
            results[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        for _, _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    rows = ledger_rows(db_path)
    n = len(rows)
    assert n == initial + WORKERS * K, f"expected {initial + WORKERS * K} entries, found {n}"
    assert_gapless_chain(rows)
    assert rows[:initial] == before, "entries written before the race were changed"

    # Every append each worker was told about is in the ledger exactly once, with nothing else beside them.
    reported = sorted(seq for seqs in results.values() for seq in seqs)
    assert reported == list(range(initial, n)), "workers' acknowledged seqs are not exactly the new entries"
    # The race really happened: appends interleave (running one worker after another would switch WORKERS-1 times).
    owners = [r[5] for r in rows[initial:]]
    switches = sum(a != b for a, b in zip(owners, owners[1:], strict=False))
    assert switches >= WORKERS, f"workers did not run concurrently ({switches} switches)"
    by_seq = {r[0]: r for r in rows}
    for name, seqs in results.items():
        assert len(seqs) == K
        assert seqs == sorted(seqs), f"{name}'s appends were not recorded in the order it made them"
        actions = [by_seq[s][4] for s in seqs]
        expected = ["user.role_granted" if i % 2 == 0 else "user.role_revoked" for i in range(K)]
        assert actions == expected, f"{name}'s events are out of order: {actions}"
        for s in seqs:
            _, _, _, actor, _, subject, _, entry = by_seq[s]
            assert (actor, subject) == (ADMIN, f"user:{name}")
            body = json.loads(entry)
            assert body["seq"] == s and body["payload"] == {"name": name, "role": TOGGLED}
        # the worker's own subject appears nowhere else among the new entries
        mine = [r[0] for r in rows[initial:] if r[5] == f"user:{name}"]
        assert mine == seqs

    # The state changes and the ledger agree: K is odd, so each worker ends holding the role.
    roles = {u["name"]: u["roles"] for u in Countersign(db_path).users(admin)}
    for name in users:
        assert sorted(roles[name]) == sorted(["auditor", TOGGLED]), roles[name]

    report = Countersign(db_path).verify(jobs=1)
    assert report.ok, report.to_dict()
    assert report.size == n
    assert report.first_bad_seq is None
    assert report.checkpoints_verified >= 1


def test_operation_waits_for_another_process_then_succeeds(cs: Countersign, admin: Session,
                                                           db_path: Path) -> None:
    enrol(cs, admin, "dana", ["auditor"], "dana-password")
    size = cs.verify(jobs=1).size
    holder = start_holder(db_path, 1.5)
    try:
        t0 = time.monotonic()
        result = cs.grant(admin, "dana", TOGGLED)
        waited = time.monotonic() - t0
        assert holder.wait(timeout=30) == 0, holder.stderr.read() if holder.stderr else ""
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    assert waited >= 1.0, f"the grant did not wait for the other process (took {waited:.2f} s)"
    assert result["seq"] == size
    report = cs.verify(jobs=1)
    assert report.ok, report.to_dict()
    assert report.size == size + 1
    rows = ledger_rows(db_path)
    assert_gapless_chain(rows)
    assert rows[-1][4:6] == ("user.role_granted", "user:dana")


@pytest.mark.parametrize("how", ["env", "argument"])
def test_lock_timeout_fails_cleanly_and_writes_nothing(cs: Countersign, admin: Session, db_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    enrol(cs, admin, "dana", ["auditor"], "dana-password")
    before = ledger_rows(db_path)
    if how == "env":
        monkeypatch.setenv("COUNTERSIGN_LOCK_TIMEOUT", "0.3")
        impatient = Countersign(db_path)
    else:
        impatient = Countersign(db_path, lock_timeout=0.3)
    holder = start_holder(db_path, 5)
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            impatient.grant(admin, "dana", TOGGLED)
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.communicate()
    message = str(caught.value)
    assert "another process" in message and "lock" in message.lower(), message
    assert "nothing was written" in message
    assert caught.value.exit_code == 4
    assert 0.25 <= waited < 3.0, f"gave up after {waited:.2f} s with a 0.3 s lock timeout"

    # The holder is gone: nothing was written by the failed operation (no entry, no role, no refusal event).
    assert ledger_rows(db_path) == before
    report = Countersign(db_path).verify(jobs=1)
    assert report.ok and report.size == len(before)
    roles = {u["name"]: u["roles"] for u in cs.users(admin)}
    assert roles["dana"] == ["auditor"]


PROBE = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def test_a_process_holds_the_sidecar_lock_exactly_while_it_has_the_database_open(cs: Countersign,
                                                                                  db_path: Path) -> None:
    """DuckDB's fcntl lock drops when the process closes any descriptor of the file; the flock on
    ``<database>.lock`` does not, and it is held from before the open until after the last close."""
    lock = db_path.with_name(db_path.name + ".lock")

    def probe() -> str:
        return subprocess.run([sys.executable, "-c", PROBE, str(lock)], capture_output=True, text=True,
                              check=True).stdout.strip()

    cs.verify(jobs=1)
    assert probe() == "free"
    with cs.store.held():
        assert probe() == "held"
        with open(db_path, "rb") as other:  # an unrelated descriptor of the database file, opened and closed
            other.read(16)
        assert probe() == "held"
    assert probe() == "free"
