"""Evidently's ``DataDriftPreset`` on a reference and a current Parquet file: the peer of ``benchmarks/evaluation.py``.

Runs in its own virtualenv (Evidently 0.7 does not import with pandas 3, which Countersign uses), started by
``benchmarks/evaluation.py`` as a child process, so it imports nothing from Countersign. Prints one JSON object:
seconds to read the two files into pandas and to run the report, the process's resident-set high-water mark, and
each column's drift method and score as Evidently reports them.

Run: ``/tmp/evidently-venv/bin/python benchmarks/_evidently_peer.py --reference REF --current CUR
--numerical f0,f1 --categorical f2 [--method psi]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")  # no usage telemetry from a benchmark


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True)
    p.add_argument("--current", required=True)
    p.add_argument("--numerical", default="")
    p.add_argument("--categorical", default="")
    p.add_argument("--method", default=None, help="one drift method for every column (default: Evidently's choice)")
    args = p.parse_args()
    numerical = [c for c in args.numerical.split(",") if c]
    categorical = [c for c in args.categorical.split(",") if c]
    columns = numerical + categorical

    started = time.perf_counter()
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    import_s = time.perf_counter() - started
    baseline = vm_hwm_mb()

    t0 = time.perf_counter()
    reference = pd.read_parquet(args.reference, columns=columns)
    current = pd.read_parquet(args.current, columns=columns)
    read_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    report = Report([DataDriftPreset(method=args.method)])
    snapshot = report.run(Dataset.from_pandas(current, data_definition=definition),
                          Dataset.from_pandas(reference, data_definition=definition))
    result = snapshot.dict()
    run_s = time.perf_counter() - t1

    per_column: dict[str, dict[str, object]] = {}
    drifted_share = None
    for metric in result["metrics"]:
        config = metric.get("config", {})
        kind = config.get("type", "")
        if kind.endswith("ValueDrift"):
            value = metric["value"]
            per_column[config["column"]] = {"method": config.get("method"), "threshold": config.get("threshold"),
                                            "value": float(value) if value is not None else None}
        elif kind.endswith("DriftedColumnsCount"):
            drifted_share = metric["value"].get("share")
    print(json.dumps({
        "evidently": evidently.__version__, "pandas": pd.__version__,
        "rows_reference": len(reference), "rows_current": len(current),
        "import_s": round(import_s, 3), "read_s": round(read_s, 3), "run_s": round(run_s, 3),
        "work_s": round(read_s + run_s, 3), "baseline_rss_mb": round(baseline, 1), "vm_hwm_mb": round(vm_hwm_mb(), 1),
        "method": args.method or "auto", "drifted_share": drifted_share,
        "columns": per_column,
    }))


if __name__ == "__main__":
    main()
