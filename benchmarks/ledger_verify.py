"""Full verification of a large ledger against raw Ed25519 verification, measured in the same run.

Builds a ledger of N entries (default 1,000,000) by bulk append, then times ``Countersign.verify`` (every leaf hash,
chain link, signature, key validity, role, checkpoint root and consistency proof) using both cores, and compares its
throughput with raw Ed25519 verification of the same entries on all cores: libsodium (what the ledger verifies with)
in one process per core — the machine's ceiling — and ``cryptography`` (OpenSSL) on a thread per core. Goal:
>= 75 % of the raw throughput, 1M entries in under a minute.

Run: ``.venv/bin/python -m benchmarks.ledger_verify [--entries N]`` (``--smoke`` for a tiny CI run).
"""

from __future__ import annotations

import base64
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks._common import (
    bulk_append,
    fresh_db,
    parser,
    peak_rss_mb,
    raw_libsodium_verifies_per_s,
    report,
    timed,
)
from core.identity.keys import load_public_key


def raw_verify_rates(cs, sample: int, jobs: int) -> dict[str, float]:
    """Entries/s for bare Ed25519 verification of ``sample`` stored entries on ``jobs`` cores."""
    with cs.store.reader() as tx:
        rows = tx.con.execute(
            "SELECT entry, signature, key_id FROM ledger ORDER BY seq LIMIT ?", [sample]).fetchall()
        keys = {k["key_id"]: load_public_key(k["public_key"]) for k in tx.public_keys()}
        raw_keys = {k["key_id"]: k["public_key"] for k in tx.public_keys()}
    data = [(e.encode(), base64.b64decode(s), keys[k]) for e, s, k in rows]
    plain = [(e.encode(), base64.b64decode(s), raw_keys[k]) for e, s, k in rows]
    libsodium = raw_libsodium_verifies_per_s(plain, jobs)
    size = -(-len(data) // jobs)

    def run(part: list) -> None:
        for message, signature, key in part:
            key.verify(signature, message)

    parts = [data[i:i + size] for i in range(0, len(data), size)]
    with ThreadPoolExecutor(jobs) as pool:
        elapsed, _ = timed(lambda: list(pool.map(run, parts)))
    return {"libsodium_processes": libsodium, "openssl_threads": len(data) / elapsed}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=1_000_000)
    args = p.parse_args()
    n = 3_000 if args.smoke else args.entries
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        cs, session = fresh_db(Path(tmp), "verify", interval=10_000)
        build_s, _ = timed(lambda: bulk_append(cs, session, n - 2))
        verify_s, result = timed(lambda: cs.verify(jobs=jobs))
        assert result.ok and result.size == n, result.problems[:3]
        raw = raw_verify_rates(cs, min(n, 200_000), jobs)
    rate = n / verify_s
    report("ledger_verify", {
        "entries": n,
        "cores_used": jobs,
        "build_seconds": round(build_s, 1),
        "bulk_append_per_s": round((n - 2) / build_s, 1),
        "verify_seconds": round(verify_s, 1),
        "verify_entries_per_s": round(rate, 1),
        **{f"raw_ed25519_verify_per_s_{k}": round(v, 1) for k, v in raw.items()},
        **{f"verify_vs_raw_{k}": round(rate / v, 3) for k, v in raw.items()},
        "raw_libsodium_seconds_for_these_entries": round(n / raw["libsodium_processes"], 1),
        "checkpoints_verified": result.checkpoints_verified,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    })


if __name__ == "__main__":
    main()
