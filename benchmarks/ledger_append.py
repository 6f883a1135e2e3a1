"""Ledger append rates against their raw limits, measured in the same run.

* Durable single-event append (each entry its own committed DuckDB transaction, as every governance action is)
  vs one raw DuckDB single-row commit into a table of the same shape. Goal: >= 70 %.
* Bulk append (one actor, 10,000 entries per transaction) vs raw Ed25519 signing of the same entries: with
  ``cryptography`` (OpenSSL) on one core, as the issue asks, and with libsodium — what the ledger signs with — on
  one core and on every core (the machine's ceiling). Goal: >= 20,000 entries/s.

Run: ``.venv/bin/python -m benchmarks.ledger_append`` (``--smoke`` for a tiny CI run).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

from benchmarks._common import bench_event, bulk_append, fresh_db, parser, raw_libsodium_signs_per_s, report, timed
from core.ledger.chain import seal
from core.storage.migrations import MIGRATIONS


def raw_single_row_commits(path: Path, n: int) -> float:
    """Rows/s for one-row committed transactions into a ledger-shaped table."""
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    ledger_ddl = next(s for s in MIGRATIONS[0].statements if "CREATE TABLE ledger" in s)
    con.execute(ledger_ddl)
    row = ["2026-01-01T00:00:00.000000Z", "actor", "admin", "bench.recorded", "bench:1", '{"i":1}', "0" * 64,
           "f" * 64, "k" * 32, "s" * 88, "e" * 400]
    elapsed, _ = timed(lambda: [
        (con.begin(), con.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [i, *row]),
         con.commit()) for i in range(n)])
    con.close()
    return n / elapsed


def single_appends(cs, session, n: int) -> float:
    ledger = cs.ledger()

    def run() -> None:
        with cs.store.held():
            for i in range(n):
                with cs.store.transaction() as tx:
                    ledger.append(tx, signer=session.signer, actor=session.name, role="admin", event=bench_event(i))

    elapsed, _ = timed(run)
    return n / elapsed


def raw_signing(session, n: int) -> dict[str, float]:
    """Signs/s of bare Ed25519 over the same entry bytes: OpenSSL one core, libsodium one core and all cores."""
    rows = [seal(seq=i, ts="2026-01-01T00:00:00.000000Z", actor="a", role="admin", event=bench_event(i),
                 prev="0" * 64, signer=session.signer).entry.encode() for i in range(min(n, 40_000))]
    key = session.signer.private_key
    elapsed, _ = timed(lambda: [key.sign(r) for r in rows])
    cores = os.cpu_count() or 1
    return {
        "openssl_1_core": len(rows) / elapsed,
        "libsodium_1_core": raw_libsodium_signs_per_s(session.signer.seed, rows, 1),
        f"libsodium_{cores}_cores": raw_libsodium_signs_per_s(session.signer.seed, rows, cores),
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    single_n, bulk_n = (50, 2_000) if args.smoke else (2_000, 200_000)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        raw_commit = raw_single_row_commits(work / "raw.duckdb", single_n)
        cs, session = fresh_db(work, "single")
        single = single_appends(cs, session, single_n)
        assert cs.verify().ok
        raw_sign = raw_signing(session, bulk_n)
        cs2, session2 = fresh_db(work, "bulk")
        elapsed, _ = timed(lambda: bulk_append(cs2, session2, bulk_n))
        bulk = bulk_n / elapsed
        assert cs2.verify().ok
    report("ledger_append", {
        "single_event_appends": single_n,
        "raw_single_row_commits_per_s": round(raw_commit, 1),
        "single_event_appends_per_s": round(single, 1),
        "single_vs_raw_commit": round(single / raw_commit, 3),
        "bulk_entries": bulk_n,
        **{f"raw_ed25519_signs_per_s_{k}": round(v, 1) for k, v in raw_sign.items()},
        "bulk_appends_per_s": round(bulk, 1),
        **{f"bulk_vs_raw_{k}": round(bulk / v, 3) for k, v in raw_sign.items()},
    })


if __name__ == "__main__":
    main()
