"""Dataset registration at scale: peak memory, and hashing speed against ``sha256sum``, measured in the same run.

Goal (issue text): registering a 1 GB CSV and a 10M-row Parquet file keeps peak memory under 1 GB, and hashing runs
at >= 70 % of ``sha256sum``'s speed on the same file in the same run.

* Generates, streamed in chunks (never whole in memory), a ~1 GiB CSV of transactions (ints, floats, dates and a few
  categorical strings) and a 10M-row Parquet file of model predictions (prediction, label, score, a sensitive
  attribute and 15 features: 19 columns, 1M-row row groups).
* For each file: ``sha256sum FILE`` vs :func:`core.catalog.hashing.sha256_file`, best of 2 each, interleaved, both on a
warm
  page cache (the file was just written) → throughput ratio. ``openssl dgst -sha256`` is timed too, for context
  only: coreutils' ``sha256sum`` may use a portable C implementation while ``hashlib`` uses OpenSSL.
* Then ``Countersign.register_dataset`` (streamed digest + DuckDB profile) on a fresh database, by a data scientist,
  in a child process; its peak RSS is measured from outside by GNU time (``%M``) and inside from ``VmHWM``, beside
  the child's high-water mark after imports and login (the interpreter's own baseline) and the wall time.

Run: ``.venv/bin/python -m benchmarks.dataset_register`` (``--smoke`` for a tiny CI run: ~5 MB CSV, 100k rows).
Generated files live in a temporary directory under ``--workdir`` and are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benchmarks._common import fresh_db, parser, peak_rss_mb, report, timed
from core.catalog.hashing import sha256_file
from core.demo.seed import enrol

DS_USER, DS_PW = "bench-ds", "bench-ds-password"
MB = 1_000_000
MEMORY_GOAL_MB = 1024
RATIO_GOAL = 0.70
SEED = 20261122

REGIONS = ["north", "south", "east", "west", "central", "overseas", "online", "unknown"]
PRODUCTS = ["checking", "savings", "credit_card", "mortgage", "personal_loan"]
CHANNELS = ["branch", "web", "mobile", "phone"]
GENDERS = ["F", "M", "X"]
GROUPS = ["group_a", "group_b", "group_c", "group_d"]


def _categorical(rng: np.random.Generator, values: list[str], n: int, p: list[float] | None = None) -> pa.Array:
    indices = pa.array(rng.choice(len(values), size=n, p=p).astype(np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(pa.string())


def _csv_chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    age = rng.integers(18, 91, n)
    income = np.round(rng.lognormal(10.5, 0.6, n), 2)
    balance = np.round(rng.normal(2_500, 4_000, n), 2)
    credit = rng.integers(300, 851, n)
    risk = 1 / (1 + np.exp(-(0.00002 * (60_000 - income) + 0.004 * (650 - credit))))
    return pa.table({
        "transaction_id": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "customer_id": pa.array(rng.integers(1, 5_000_000, n)),
        "event_date": pa.array(rng.integers(19_000, 20_000, n).astype(np.int32), pa.int32()).cast(pa.date32()),
        "age": pa.array(age),
        "income": pa.array(income),
        "account_balance": pa.array(balance),
        "credit_score": pa.array(credit),
        "tenure_months": pa.array(rng.integers(0, 361, n)),
        "risk_score": pa.array(np.round(risk, 4)),
        "region": _categorical(rng, REGIONS, n),
        "product": _categorical(rng, PRODUCTS, n, [0.4, 0.3, 0.15, 0.1, 0.05]),
        "channel": _categorical(rng, CHANNELS, n),
        "gender": _categorical(rng, GENDERS, n, [0.49, 0.49, 0.02]),
        "defaulted": pa.array((rng.random(n) < risk).astype(np.int8)),
    })


def write_csv(path: Path, target_bytes: int, chunk_rows: int) -> int:
    """Append chunks to a CSV until it reaches ``target_bytes``; returns the row count."""
    rng = np.random.default_rng(SEED)
    rows = 0
    options = pacsv.WriteOptions(quoting_style="needed")
    with path.open("wb") as fh:
        writer = None
        while fh.tell() < target_bytes:
            table = _csv_chunk(rng, rows, chunk_rows)
            if writer is None:
                writer = pacsv.CSVWriter(fh, table.schema, write_options=options)
            writer.write_table(table)
            rows += table.num_rows
            fh.flush()
        if writer is not None:
            writer.close()
    return rows


def _predictions_chunk(rng: np.random.Generator, n: int) -> pa.Table:
    features = rng.standard_normal((15, n))
    features[10:] = np.floor(np.abs(features[10:]) * 3)  # five count-like features
    weights = np.linspace(-0.5, 0.5, 15)
    score = 1 / (1 + np.exp(-(weights @ features)))
    columns: dict[str, Any] = {
        "prediction": pa.array((score >= 0.5).astype(np.int8)),
        "label": pa.array((rng.random(n) < score).astype(np.int8)),
        "score": pa.array(score),
        "sensitive_group": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, len(GROUPS), n).astype(np.int8)),
                                                          pa.array(GROUPS)),
    }
    for i in range(15):
        columns[f"feature_{i:02d}"] = pa.array(features[i] if i < 10 else features[i].astype(np.int32))
    return pa.table(columns)


def write_parquet(path: Path, rows: int, chunk_rows: int) -> int:
    """Write ``rows`` rows in row groups of ``chunk_rows``; returns the row count."""
    rng = np.random.default_rng(SEED + 1)
    writer = None
    done = 0
    try:
        while done < rows:
            table = _predictions_chunk(rng, min(chunk_rows, rows - done))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=chunk_rows)
            done += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return done


def compare_hashing(path: Path) -> dict[str, Any]:
    """Best-of-2 ``sha256sum`` vs ``sha256_file`` (interleaved), same file, warm cache."""
    def coreutils() -> str:
        out = subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True).stdout
        return out.split()[0]

    def openssl() -> str:
        out = subprocess.run(["openssl", "dgst", "-sha256", "-r", str(path)], check=True, capture_output=True,
                             text=True).stdout
        return out.split()[0]

    sums, ours, ssl = [], [], []
    have_openssl = shutil.which("openssl") is not None
    for _ in range(2):
        sums.append(timed(coreutils))
        ours.append(timed(lambda: sha256_file(path)))
        if have_openssl:
            ssl.append(timed(openssl))
    (t_sum, d_sum), (t_ours, d_ours) = min(sums), min(ours)
    if d_sum != d_ours or any(d != d_ours for _, d in ssl):
        raise SystemExit(f"digest mismatch on {path}: sha256sum {d_sum}, sha256_file {d_ours}, openssl {ssl}")
    size = path.stat().st_size
    return {"digest": d_ours, "sha256sum_s": round(t_sum, 3), "sha256_file_s": round(t_ours, 3),
            "sha256sum_mb_per_s": round(size / MB / t_sum, 1), "sha256_file_mb_per_s": round(size / MB / t_ours, 1),
            "hash_ratio": round(t_sum / t_ours, 3),
            "openssl_dgst_mb_per_s": round(size / MB / min(ssl)[0], 1) if ssl else None}


def _vm_hwm_mb() -> float:
    """This process's own resident-set high-water mark (``VmHWM``: per address space, reset by ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def register_in_child(workdir: Path, name: str, data: Path) -> dict[str, Any]:
    """``register_dataset`` in a fresh interpreter, its peak RSS measured from outside by GNU time.

    Not ``wait4``/``RUSAGE_CHILDREN``: Linux folds the address space a child execs away from into its ``ru_maxrss``,
    and Python spawns with ``vfork``, so a child of this (large) process would report this process's peak. GNU time
    forks its own small process, so its ``%M`` is the child's alone; the child's ``VmHWM`` is recorded beside it.
    """
    cs, admin = fresh_db(workdir, name)
    enrol(cs, admin, DS_USER, ["data_scientist"], DS_PW)
    del cs
    db = workdir / f"{name}.duckdb"
    cmd = [sys.executable, "-m", "benchmarks.dataset_register", "--child", str(db), str(data), name]
    gnu_time = Path("/usr/bin/time")
    measured = workdir / f"{name}.maxrss"
    if gnu_time.exists():
        cmd = [str(gnu_time), "-f", "%M", "-o", str(measured), *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"registration of {data} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    child = json.loads(proc.stdout)
    outside = int(measured.read_text().split()[-1]) / 1024 if gnu_time.exists() else None
    peak = max(outside or 0.0, child["vm_hwm_mb"])
    return {**child, "child_wall_s": round(wall, 2), "time_maxrss_mb": round(outside, 1) if outside else None,
            "peak_rss_mb": round(peak, 1)}


def child_main(db: str, data: str, name: str) -> None:
    from core.api.countersign import Countersign

    cs = Countersign(db)
    session = cs.login(DS_USER, DS_PW)
    baseline = _vm_hwm_mb()
    start = time.perf_counter()
    result = cs.register_dataset(session, data, name=name, version="1")
    elapsed = time.perf_counter() - start
    print(json.dumps({"registration_s": round(elapsed, 2), "baseline_rss_mb": round(baseline, 1),
                      "vm_hwm_mb": round(_vm_hwm_mb(), 1), "rows": result["rows"],
                      "registered_digest": result["digest"], "format": result["format"]}))


def measure(workdir: Path, name: str, data: Path, rows: int, generated_s: float) -> dict[str, Any]:
    hashing = compare_hashing(data)
    registration = register_in_child(workdir, name, data)
    if registration["registered_digest"] != hashing["digest"] or registration["rows"] != rows:
        raise SystemExit(f"{data}: registered {registration} but expected {rows} rows, digest {hashing['digest']}")
    size = data.stat().st_size
    return {
        "size_bytes": size, "size_mb": round(size / MB, 1), "rows": rows, "generated_s": round(generated_s, 1),
        **{k: v for k, v in hashing.items() if k != "digest"},
        "registration_s": registration["registration_s"], "child_wall_s": registration["child_wall_s"],
        "registration_mb_per_s": round(size / MB / registration["registration_s"], 1),
        "child_baseline_rss_mb": registration["baseline_rss_mb"], "child_vm_hwm_mb": registration["vm_hwm_mb"],
        "gnu_time_maxrss_mb": registration["time_maxrss_mb"], "peak_rss_mb": registration["peak_rss_mb"],
        "goal_peak_rss_under_1gb": registration["peak_rss_mb"] < MEMORY_GOAL_MB,
        "goal_hash_ratio_ge_0_70": hashing["hash_ratio"] >= RATIO_GOAL,
    }


def main() -> None:
    p: argparse.ArgumentParser = parser(__doc__.splitlines()[0])
    p.add_argument("--child", nargs=3, metavar=("DB", "FILE", "NAME"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child_main(*args.child)
        return
    if args.smoke:
        csv_bytes, csv_chunk, pq_rows, pq_chunk = 5 * MB, 20_000, 100_000, 25_000
    else:
        csv_bytes, csv_chunk, pq_rows, pq_chunk = 1024 ** 3, 500_000, 10_000_000, 1_000_000
    version = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True).stdout.splitlines()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        csv_path, pq_path = work / "transactions.csv", work / "predictions.parquet"
        start = time.perf_counter()
        csv_rows = write_csv(csv_path, csv_bytes, csv_chunk)
        csv_result = measure(work, "csv", csv_path, csv_rows, time.perf_counter() - start)
        csv_path.unlink()
        start = time.perf_counter()
        pq_rows = write_parquet(pq_path, pq_rows, pq_chunk)
        pq_result = measure(work, "parquet", pq_path, pq_rows, time.perf_counter() - start)
    report("dataset_register", {
        "smoke": args.smoke,
        "sha256sum": version[0] if version else "unknown",
        "csv": csv_result,
        "parquet": pq_result,
        "goals": {
            "peak_rss_under_1gb": csv_result["goal_peak_rss_under_1gb"] and pq_result["goal_peak_rss_under_1gb"],
            "hash_ratio_ge_0_70": csv_result["goal_hash_ratio_ge_0_70"] and pq_result["goal_hash_ratio_ge_0_70"],
        },
    })


if __name__ == "__main__":
    main()
