"""Writers killed with SIGKILL at a random moment never leave a broken ledger behind.

Each round starts a few real writer processes that append in a tight loop (grant/revoke toggles) and kills them all
with SIGKILL at a random moment after each has committed at least one entry (possibly mid-transaction, mid-commit or
mid-WAL-checkpoint). Afterwards the ledger must verify, be gapless and hash-chained with no partial entry, agree with
the role table it is committed with, and still accept appends.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from core.api.countersign import Countersign
from core.demo.seed import enrol
from core.identity.users import Session
from core.ledger.chain import ZERO_HASH
from core.tlog.merkle import leaf_hash
from tests.conftest import ADMIN, ADMIN_PW

ROUNDS = 6
TOGGLED = "data_scientist"

# argv: db, admin, admin password, user. Appends until killed (gives up on its own after 30 s).
WRITER = r"""
import sys, time

from core.api.countersign import Countersign

db, admin, password, user = sys.argv[1:5]
cs = Countersign(db)
session = cs.login(admin, password)
has = "data_scientist" in {u["name"]: u["roles"] for u in cs.users(session)}[user]
stop = time.monotonic() + 30
first = True
while time.monotonic() < stop:
    (cs.revoke if has else cs.grant)(session, user, "data_scientist")
    has = not has
    if first:
        print("writing", flush=True)
        first = False
"""

LEDGER_SQL = (
    "SELECT seq, prev_hash, leaf_hash, actor, action, subject, payload, signature, entry FROM ledger ORDER BY seq"
)


def read_db(db_path: Path) -> tuple[list[tuple], dict[str, list[str]]]:
    """Ledger rows and each user's roles, read directly (only while no other process has the file open)."""
    con = duckdb.connect(str(db_path))
    try:
        rows = con.execute(LEDGER_SQL).fetchall()
        roles: dict[str, list[str]] = {}
        for name, role in con.execute("SELECT name, role FROM user_roles ORDER BY name, role").fetchall():
            roles.setdefault(name, []).append(role)
        return rows, roles
    finally:
        con.close()


def assert_intact(rows: list[tuple], context: str) -> None:
    """Gapless from 0, hash-chained, and every entry complete and matching its own leaf hash."""
    assert [r[0] for r in rows] == list(range(len(rows))), f"{context}: seq is not exactly 0..n-1"
    for i, (seq, prev, leaf, actor, action, subject, payload, signature, entry) in enumerate(rows):
        assert all((leaf, actor, action, subject, payload, signature, entry)), f"{context}: seq {seq} is partial"
        assert prev == (ZERO_HASH if i == 0 else rows[i - 1][2]), f"{context}: chain broken at seq {seq}"
        assert leaf == leaf_hash(entry.encode("utf-8")).hex(), f"{context}: seq {seq} leaf hash mismatch"
        body = json.loads(entry)
        assert (body["seq"], body["prev"], body["action"]) == (seq, prev, action), f"{context}: seq {seq}"


def wait_until_writing(procs: list[subprocess.Popen[str]], timeout: float) -> None:
    """Block until every writer has printed ``writing`` (it has committed at least one entry)."""
    sel = selectors.DefaultSelector()
    for proc in procs:
        assert proc.stdout is not None
        sel.register(proc.stdout, selectors.EVENT_READ, proc)
    pending = set(procs)
    deadline = time.monotonic() + timeout
    try:
        while pending:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "writers never started writing"
            for key, _ in sel.select(remaining):
                proc = key.data
                line = proc.stdout.readline()
                if line.strip() != "writing":
                    proc.wait()
                    pytest.fail(f"writer exited {proc.returncode} before writing: {proc.stderr.read()}")
                sel.unregister(proc.stdout)
                pending.discard(proc)
    finally:
        sel.close()


@pytest.mark.slow
def test_sigkilled_writers_never_corrupt_the_ledger(cs: Countersign, admin: Session, db_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    users = [f"writer{i}" for i in range(3)]
    for name in users:
        enrol(cs, admin, name, ["auditor"], f"{name}-password")
    size = cs.verify(jobs=1).size

    for round_no in range(ROUNDS):
        context = f"round {round_no} (seed {seed})"
        active = users[: 2 + round_no % 2]
        procs = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), ADMIN, ADMIN_PW, name],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in active
        ]
        try:
            wait_until_writing(procs, timeout=60)
            time.sleep(rng.uniform(0.3, 1.0))
            for proc in procs:
                proc.send_signal(signal.SIGKILL)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()
        for proc in procs:
            assert proc.returncode == -signal.SIGKILL, f"{context}: writer exited {proc.returncode} on its own"

        rows, roles = read_db(db_path)
        assert len(rows) >= size + len(active), f"{context}: the writers' committed entries are missing"
        assert_intact(rows, context)

        # The role table is committed with the ledger entry: each user's role matches its last toggle event.
        for name in users:
            toggles = [r[4] for r in rows if r[5] == f"user:{name}" and r[4].startswith("user.role_")]
            holds = TOGGLED in roles.get(name, [])
            assert holds == (bool(toggles) and toggles[-1] == "user.role_granted"), f"{context}: {name}"

        report = Countersign(db_path).verify(jobs=1)
        assert report.ok, f"{context}: {report.to_dict()}"
        assert report.size == len(rows) and report.first_bad_seq is None

        # The database still accepts appends from a fresh process-local instance.
        fresh = Countersign(db_path)
        name = active[0]
        op = fresh.revoke if TOGGLED in roles.get(name, []) else fresh.grant
        assert op(admin, name, TOGGLED)["seq"] == len(rows), context
        size = len(rows) + 1

    rows, _ = read_db(db_path)
    assert len(rows) == size
    assert_intact(rows, f"final (seed {seed})")
    report = cs.verify(jobs=1)
    assert report.ok, report.to_dict()
    assert report.size == size
    assert report.checkpoints_verified >= 1
