"""Evaluation where the data lives: the DuckDB engine out of core and the Spark engine (local mode) on prediction logs
of growing size, in the same run, with their results compared number for number.

Goals (issue text): DuckDB on a 100M-row Parquet prediction log (15 features, 2 sensitive features, scores) — the
full ``evaluate`` with performance, fairness and PSI drift — in under 5 minutes and under 2 GB peak RSS on a 2-core
machine; Spark local mode at 10M and 100M rows beside it; how time grows from 1M to 100M rows for both; ``drift:
auto`` at 10M rows in under 10 s with the same values as scipy (whose own time on the same columns is measured in the
same run as the raw limit).

* Data: :func:`benchmarks.evaluation.write_parquet` (seeded NumPy, row groups of 1M rows) — ``prediction``,
  ``label``, ``score``, ``sex``, ``race``, 11 numeric and 4 categorical features; the reference is min(rows, 1M) rows
  of the undrifted distribution. Policy: :func:`benchmarks.evaluation.policy_yaml` (ROC AUC, accuracy, demographic
  parity and equalized odds differences by sex and by race, PSI over the 15 features).
* Each engine runs in a child process (``benchmarks.evaluation --child countersign … ENGINE``) under a watchdog; time
  is the evaluation's work (imports and, for Spark, the JVM's start — reported apart — excluded); peak RSS is the
  whole process tree's (Spark's JVM included), sampled every 0.25 s, or GNU time's / the child's own high-water mark
  when larger. Spark runs ``local[2]`` (both cores) with the driver's default heap.
* Cross-check: every check value of the Spark run equals DuckDB's to 1e-12 relative.
* ``drift: auto`` (Wasserstein on the 11 numeric columns, Jensen-Shannon on the 4 categorical ones) runs at the
  ``--auto-rows`` size (default 10M); the raw limit beside it is ``scipy.stats.wasserstein_distance`` on the same 11
  columns (values read with pyarrow), and the values are compared.

Run: ``.venv/bin/python -m benchmarks.engines`` (``--sizes 1000000,10000000,100000000``; ``--smoke`` for CI: 20k
rows). Generated files live under ``--workdir`` and are deleted as it goes (100M rows take ~9.4 GB while they exist).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.evaluation import NUMERIC, REFERENCE_ROWS, SEED, _timing, run_child, write_parquet

FULL_SIZES = (1_000_000, 10_000_000, 100_000_000)
SMOKE_SIZE = 20_000
AUTO_ROWS = 10_000_000
GOAL_ROWS, TIME_GOAL_S, MEMORY_GOAL_MB = 100_000_000, 300.0, 2048.0
AUTO_GOAL_S = 10.0
MASTER = "local[2]"
REL = 1e-12


def _peak(child: dict[str, Any]) -> float | None:
    if child.get("status") != "ok":
        return None
    return max(child.get("peak_rss_mb") or 0.0, child.get("sampled_tree_peak_rss_mb") or 0.0)


def _close(a: Any, b: Any) -> bool:  # noqa: ANN401
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL)
    return bool(a == b)


def compare(duck: dict[str, Any], spark: dict[str, Any]) -> dict[str, Any]:
    """Check values and drift statistics of both engines, equal to 1e-12 relative."""
    if duck.get("status") != "ok" or spark.get("status") != "ok":
        return {"ok": None, "reason": "an engine did not finish"}
    theirs = spark["values"]
    differ = {k: (v, theirs.get(k)) for k, v in duck["values"].items() if not _close(v, theirs.get(k))}
    drift = {c: (v["statistic"], spark["drift"].get(c, {}).get("statistic")) for c, v in duck["drift"].items()
             if not _close(v["statistic"], spark["drift"].get(c, {}).get("statistic"))}
    return {"ok": not differ and not drift, "values_compared": len(duck["values"]),
            "drift_columns_compared": len(duck["drift"]), "differences": {**differ, **drift}}


def scipy_auto_limit(current: Path, reference: Path, cs_drift: dict[str, Any]) -> dict[str, Any]:
    """scipy's Wasserstein distance on the same numeric columns (the raw limit), and whether Countersign's values
    (normed by the reference's standard deviation) equal it."""
    import pyarrow.parquet as pq
    from scipy.stats import wasserstein_distance

    seconds, differ = 0.0, {}
    for column in NUMERIC:
        cur = pq.read_table(current, columns=[column]).column(0).to_numpy()
        ref = pq.read_table(reference, columns=[column]).column(0).to_numpy()
        cur, ref = cur[np.isfinite(cur)], ref[np.isfinite(ref)]
        t0 = time.perf_counter()
        value = float(wasserstein_distance(ref, cur)) / max(float(np.std(ref)), 0.001)
        seconds += time.perf_counter() - t0
        got = cs_drift.get(column, {}).get("statistic")
        if not (isinstance(got, float) and math.isclose(got, value, rel_tol=REL)):
            differ[column] = (got, value)
    return {"scipy_wasserstein_s": round(seconds, 2), "columns": len(NUMERIC), "values_equal": not differ,
            "differences": differ}


def run_size(work: Path, rows: int, timeout: float, limit: float, spark: bool, auto: bool) -> dict[str, Any]:
    ref_rows = min(rows, REFERENCE_ROWS)
    current, reference = work / f"current-{rows}.parquet", work / f"reference-{rows}.parquet"
    t0 = time.perf_counter()
    write_parquet(current, rows, SEED + rows, drift=1.0)
    write_parquet(reference, ref_rows, SEED + 7 * rows + 1, drift=0.0)
    generated = time.perf_counter() - t0
    me = [sys.executable, "-m", "benchmarks.evaluation", "--child", "countersign", str(current), str(reference)]
    duck = run_child([*me, "psi", "duckdb"], work, f"duckdb-{rows}", timeout, limit)
    out: dict[str, Any] = {"rows": rows, "reference_rows": ref_rows,
                           "current_file_mb": round(current.stat().st_size / 1e6, 1),
                           "generate_s": round(generated, 1),
                           "duckdb": {**_timing(duck), "peak_tree_rss_mb": _peak(duck)}}
    if spark:
        other = run_child([*me, "psi", "spark", MASTER], work, f"spark-{rows}", timeout, limit)
        out["spark"] = {**_timing(other), "peak_tree_rss_mb": _peak(other),
                        "spark_start_s": other.get("spark_start_s"), "engine": other.get("engine")}
        out["equal_results"] = compare(duck, other)
    if auto:
        auto_run = run_child([*me, "auto", "duckdb"], work, f"auto-{rows}", timeout, limit)
        out["drift_auto_duckdb"] = {**_timing(auto_run), "peak_tree_rss_mb": _peak(auto_run)}
        if auto_run.get("status") == "ok":
            out["drift_auto_raw_limit"] = scipy_auto_limit(current, reference, auto_run["drift"])
    current.unlink()
    reference.unlink()
    return out


def main() -> None:
    from benchmarks._common import parser, report

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(str(s) for s in FULL_SIZES), help="comma-separated row counts")
    p.add_argument("--spark-sizes", default=None, help="sizes also run on Spark (default: all)")
    p.add_argument("--auto-rows", type=int, default=AUTO_ROWS, help="the size at which drift: auto is timed")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a child is killed")
    p.add_argument("--rss-limit-mb", type=float, default=16384.0, help="resident MB at which a child is killed")
    args = p.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    sizes = [SMOKE_SIZE] if args.smoke else [int(s) for s in args.sizes.split(",") if s]
    spark_sizes = set(sizes) if args.smoke or not args.spark_sizes else {int(s) for s in args.spark_sizes.split(",")}
    auto_rows = SMOKE_SIZE if args.smoke else args.auto_rows
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        results = [run_size(Path(tmp), rows, args.timeout, args.rss_limit_mb, rows in spark_sizes, rows == auto_rows)
                   for rows in sizes]
    by_rows = {r["rows"]: r for r in results}
    goal = by_rows.get(GOAL_ROWS, {}).get("duckdb", {})
    auto = next((r for r in results if "drift_auto_duckdb" in r), {})
    growth = {r["rows"]: {"duckdb_s": r["duckdb"].get("seconds"),
                          "spark_s": r.get("spark", {}).get("seconds")} for r in results}
    equal = [r["equal_results"]["ok"] for r in results if "equal_results" in r]
    report("engines", {
        "smoke": args.smoke,
        "load_average_at_start_and_end": [load_start, [round(x, 2) for x in os.getloadavg()]],
        "spark_master": MASTER,
        "sizes": results,
        "growth": growth,
        "goals": {
            "duckdb_100m_under_300_s": (goal["seconds"] < TIME_GOAL_S) if goal.get("status") == "ok" else None,
            "duckdb_100m_under_2048_mb": (goal["peak_tree_rss_mb"] < MEMORY_GOAL_MB) if goal.get("status") == "ok"
            else None,
            "drift_auto_under_10_s": (auto["drift_auto_duckdb"]["seconds"] < AUTO_GOAL_S)
            if auto.get("drift_auto_duckdb", {}).get("status") == "ok" else None,
            "drift_auto_equals_scipy": auto.get("drift_auto_raw_limit", {}).get("values_equal"),
            "engines_equal": all(e for e in equal) if equal and None not in equal else None,
        },
    })


if __name__ == "__main__":
    main()
