"""Evaluation at scale: Countersign's engine against fairlearn and Evidently on the same data, in the same run.

Goal (issue text): evaluating a 10M-row Parquet file (prediction, label, score, a sensitive attribute and 15 feature
columns; fairness and drift checks) completes in under 60 s with under 2 GB peak memory; at 1M rows Countersign is
>= 15x faster than the two peers together — fairlearn's ``MetricFrame`` (+ ``demographic_parity_difference``,
``equalized_odds_difference``) and Evidently's ``DataDriftPreset`` — with the numbers cross-checked.

* Data (seeded NumPy, written by pyarrow in row groups of at most 1M rows, never whole in memory), per size: a
  current file — ``prediction`` (0/1), ``label`` (0/1), ``score`` (float64 in [0, 1], full precision, correlated with
  the label), ``sex`` (2 groups), ``race`` (5 groups of unequal size), 11 float features ``f0``..``f10`` and 4
  categorical string features ``f11``..``f14`` (5-10 categories) — and a reference file of min(rows, 1M) rows drawn
  from a slightly different distribution, so that some columns drift.
* Countersign: ``Evaluator(EvalInputs(...)).run()`` on the external-model path (prediction and score columns of the
  file) with :data:`POLICY` — ROC AUC, accuracy, demographic parity and equalized odds differences by ``sex`` and by
  ``race``, PSI over the 15 features — in a child process. A second child runs a drift-only policy with ``drift: auto``
  (Evidently's defaults: normed Wasserstein for numeric columns, Jensen-Shannon for categorical ones) to cross-check
  Evidently column by column.
* fairlearn (this virtualenv): reads the five columns it needs with ``pandas.read_parquet``, then ``MetricFrame``
  (selection rate, TPR, FPR, accuracy) + ``demographic_parity_difference`` + ``equalized_odds_difference`` for sex and
  for race. scikit-learn's ``roc_auc_score`` is timed separately and *not* counted in the peer's time.
* Evidently 0.7 (``benchmarks/_evidently_peer.py``, in a separate virtualenv with pandas 2 — Evidently 0.7 does not
  import with pandas 3; created with pip on the first full run): reads the 15 features of both files with pandas and
  runs ``Report([DataDriftPreset()])``. At the smallest size it also runs ``DataDriftPreset(method="psi")``: its PSI
  bins numeric columns into equal-width Sturges bins over reference + current, Countersign's into 10 reference
  quantiles, so only categorical PSI is comparable number for number (the numeric values are shown side by side).
* Every child reports its work time (reading the data included, interpreter start and imports excluded — reported
  separately as the child's wall time) and its peak RSS: the larger of GNU time's ``%M`` (measured from outside) and
  the child's own ``VmHWM``. A watchdog kills a child past ``--timeout`` seconds or ``--rss-limit-mb`` resident.
* Speed-up at each size: (fairlearn + Evidently) / Countersign work seconds.

Run: ``.venv/bin/python -m benchmarks.evaluation`` (``--sizes 100000,1000000``; ``--smoke`` for a tiny CI run: 20k
rows, no Evidently). Generated files live in a temporary directory under ``--workdir`` and are deleted as it goes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261123
ROW_GROUP = 1_000_000
REFERENCE_ROWS = 1_000_000
FULL_SIZES = (100_000, 1_000_000, 10_000_000)
SMOKE_SIZE = 20_000
TIME_GOAL_S, MEMORY_GOAL_MB, SPEEDUP_GOAL = 60.0, 2048.0, 15.0
GOAL_ROWS, SPEEDUP_ROWS = 10_000_000, 1_000_000
TOLERANCE = 1e-9
EVIDENTLY_VENV = Path(tempfile.gettempdir()) / "evidently-venv"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.*", "pandas==2.3.3", "pyarrow")

NUMERIC = [f"f{i}" for i in range(11)]
CATEGORICAL = [f"f{i}" for i in range(11, 15)]
FEATURES = NUMERIC + CATEGORICAL
SEXES = ["female", "male"]
RACES = ["group_a", "group_b", "group_c", "group_d", "group_e"]
RACE_P = [0.55, 0.2, 0.12, 0.08, 0.05]
RACE_EFFECT = np.array([0.0, -0.35, 0.15, -0.2, 0.3])
CATEGORIES = {
    "f11": ["red", "green", "blue", "black", "white"],
    "f12": ["retail", "wholesale", "online", "partner", "direct", "agent", "other"],
    "f13": [f"region_{k:02d}" for k in range(10)],
    "f14": ["basic", "silver", "gold", "platinum", "business", "student"],
}
FAIRNESS_IDS = {"dp-sex": ("sex", "demographic_parity_difference"), "eo-sex": ("sex", "equalized_odds_difference"),
                "dp-race": ("race", "demographic_parity_difference"),
                "eo-race": ("race", "equalized_odds_difference")}
GROUP_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
EVIDENTLY_METHODS = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon",
                     "PSI": "psi", "K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z"}


def policy_yaml(drift: str) -> str:
    """The benchmark policy: performance + fairness + PSI drift, or (``auto``) Evidently-default drift only."""
    columns = "[" + ", ".join(FEATURES) + "]"
    if drift == "auto":
        return ("policy: bench-drift-auto\nversion: 1\nchecks:\n"
                f"  - id: drift-auto\n    drift: auto\n    columns: {columns}\n    max_drifted_share: 0.5\n")
    fairness = "".join(f"  - id: {cid}\n    fairness: {name}\n    sensitive_feature: {feature}\n    lte: 0.5\n"
                       "    min_group_size: 1\n" for cid, (feature, name) in FAIRNESS_IDS.items())
    return ("policy: bench\nversion: 1\nchecks:\n"
            "  - id: auc\n    metric: roc_auc\n    gte: 0.6\n"
            "  - id: accuracy\n    metric: accuracy\n    gte: 0.6\n"
            f"{fairness}"
            f"  - id: drift-psi\n    drift: psi\n    columns: {columns}\n    lte: 0.2\n    max_drifted_share: 0.5\n")


# ----------------------------------------------------------------------------------------------- data
def _strings(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index.astype(np.int32)))


def _choice(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return rng.choice(p.size, size=n, p=p / p.sum())


def _chunk(rng: np.random.Generator, n: int, drift: float) -> pa.Table:
    """``n`` rows; ``drift`` 0 is the reference distribution, 1 the shifted current one."""
    d = drift
    sex = _choice(rng, np.array([0.52, 0.48]), n)
    race = _choice(rng, np.array(RACE_P), n)
    numeric = [
        rng.normal(0.5 * d, 1.0, n),                                   # f0: mean shift
        rng.normal(5.0, 2.0, n),
        rng.lognormal(10.0 + 0.05 * d, 0.5, n),                        # f2: income-like, slight shift
        rng.normal(0.0, 1.0 + 0.3 * d, n),                             # f3: wider
        rng.uniform(0.0, 1.0, n),
        rng.exponential(2.0, n),
        rng.normal(100.0 + 2.0 * d, 15.0, n),
        rng.beta(2.0, 5.0, n),
        rng.gamma(2.0, 2.0, n),
        rng.normal(-3.0, 0.5, n),
        np.round(np.clip(rng.normal(40.0 + 3.0 * d, 12.0, n), 18.0, 90.0)),  # f10: age-like, many ties
    ]
    categorical = {
        "f11": _choice(rng, np.full(5, 0.2), n),
        "f12": _choice(rng, np.array([0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05]) * (1 - 0.4 * d)
                       + np.array([0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3]) * 0.4 * d, n),  # mix shifts
        "f13": _choice(rng, 1.0 / np.arange(1, 11), n),
        "f14": _choice(rng, np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05]) + np.array([0, 0, 0, 0.02, 0, 0]) * d, n),
    }
    z = (0.9 * numeric[0] - 0.6 * numeric[3] + 1.6 * (numeric[4] - 0.5) + 0.02 * (numeric[6] - 100.0)
         + 0.3 * sex + RACE_EFFECT[race] + 0.08 * categorical["f12"] - 0.25)
    label = rng.random(n) < 1.0 / (1.0 + np.exp(-z))
    score = 1.0 / (1.0 + np.exp(-(z + rng.normal(0.0, 0.7, n))))
    columns: dict[str, pa.Array] = {
        "prediction": pa.array((score >= 0.5).astype(np.int8)),
        "label": pa.array(label.astype(np.int8)),
        "score": pa.array(score),
        "sex": _strings(SEXES, sex),
        "race": _strings(RACES, race),
    }
    for i, values in enumerate(numeric):
        columns[f"f{i}"] = pa.array(values)
    for name, index in categorical.items():
        columns[name] = _strings(CATEGORIES[name], index)
    return pa.table(columns)


def write_parquet(path: Path, rows: int, seed: int, drift: float) -> None:
    rng = np.random.default_rng(seed)
    writer = None
    done = 0
    try:
        while done < rows:
            table = _chunk(rng, min(ROW_GROUP, rows - done), drift)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=ROW_GROUP)
            done += table.num_rows
    finally:
        if writer is not None:
            writer.close()


# ----------------------------------------------------------------------------------------------- children
def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RssSampler(threading.Thread):
    """Samples this process's resident set every ``interval`` seconds, to attribute the peak to a phase."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval, self.samples, self.done = interval, [], threading.Event()

    def run(self) -> None:
        status = Path("/proc/self/status")
        while not self.done.is_set():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.samples.append((time.perf_counter(), int(line.split()[1]) / 1024))
                    break
            self.done.wait(self.interval)

    def peak(self, start: float, end: float) -> float | None:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return round(max(inside), 1) if inside else None


def countersign_child(current: str, reference: str, drift: str, engine_name: str = "duckdb",
                      master: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    from core.evaluation.engine import EvalInputs, Evaluator
    from core.evaluation.engines import Engine
    from core.policy.rules import parse_policy

    engine = Engine.of(engine_name, master)
    spark_start_s = None
    if engine.name == "spark":  # the JVM's start-up, reported apart from the evaluation's work
        from core.evaluation.spark_source import session

        t_spark = time.perf_counter()
        session(engine.spark_master or "local[*]")
        spark_start_s = round(time.perf_counter() - t_spark, 3)

    # The drift checks import scipy lazily (~1.5-2 s in a fresh interpreter): imported here, with the peers' imports
    # likewise outside their timed work, and reported separately.
    t_scipy = time.perf_counter()
    import scipy.spatial.distance  # noqa: F401
    import scipy.stats  # noqa: F401

    scipy_s = time.perf_counter() - t_scipy
    import_s = time.perf_counter() - started
    baseline = _vm_hwm_mb()
    sampler = _RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    inputs = EvalInputs(policy=parse_policy(policy_yaml(drift), "bench"), data_path=Path(current),
                        data_format="parquet", label="label", reference_path=Path(reference),
                        reference_format="parquet", prediction_column="prediction", score_column="score",
                        engine=engine)
    evaluator = Evaluator(inputs)
    t_run = time.perf_counter()
    result = evaluator.run()
    t_end = time.perf_counter()
    sampler.done.set()
    sampler.join()
    work_s = t_end - t0
    # Checks run one after another: attribute the sampled resident peak to each by its recorded duration.
    check_peaks, at = {}, t_run
    for c in result["checks"]:
        check_peaks[c["id"]] = sampler.peak(at, at + c["seconds"])
        at += c["seconds"]
    out: dict[str, Any] = {"rows": result["rows"], "engine": result.get("engine"), "spark_start_s": spark_start_s,
                           "import_s": round(import_s, 3),
                           "scipy_import_s": round(scipy_s, 3), "work_s": round(work_s, 3),
                           "init_s": round(t_run - t0, 3), "engine_seconds": result["seconds"],
                           "baseline_rss_mb": round(baseline, 1), "vm_hwm_mb": round(_vm_hwm_mb(), 1),
                           "passed": result["passed"],
                           "check_seconds": {c["id"]: c["seconds"] for c in result["checks"]},
                           "sampled_rss_peak_mb": {"init": sampler.peak(t0, t_run), **check_peaks},
                           "values": {c["id"]: c["value"] for c in result["checks"]}, "groups": {}, "drift": {}}
    for c in result["checks"]:
        if c["kind"] == "fairness":
            out["groups"][c["id"]] = {g: {r: v[r] for r in GROUP_RATES} for g, v in c["details"]["groups"].items()}
        elif c["kind"] == "drift":
            out["drift"] = {col: {"method": v["method"], "statistic": v.get("statistic")}
                            for col, v in c["details"]["columns"].items()}
    return out


def fairlearn_child(current: str) -> dict[str, Any]:
    started = time.perf_counter()
    import fairlearn
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, roc_auc_score

    import_s = time.perf_counter() - started
    baseline = _vm_hwm_mb()
    t0 = time.perf_counter()
    frame = pd.read_parquet(current, columns=["prediction", "label", "score", "sex", "race"])
    read_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    y_true, y_pred = frame["label"], frame["prediction"]
    metrics = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
               "false_positive_rate": false_positive_rate, "accuracy": accuracy_score}
    values: dict[str, float] = {}
    groups: dict[str, dict[str, dict[str, float]]] = {}
    for feature in ("sex", "race"):
        frame_metrics = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=frame[feature])
        by_group = frame_metrics.by_group
        rates = {str(g): {r: float(row[r]) for r in GROUP_RATES} for g, row in by_group.iterrows()}
        values["accuracy"] = float(frame_metrics.overall["accuracy"])
        sensitive = frame[feature]
        values[f"dp-{feature}"] = float(demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive))
        values[f"eo-{feature}"] = float(equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive))
        groups[f"dp-{feature}"] = groups[f"eo-{feature}"] = rates
    metrics_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    values["auc"] = float(roc_auc_score(y_true, frame["score"]))
    auc_s = time.perf_counter() - t2
    return {"fairlearn": fairlearn.__version__, "pandas": pd.__version__, "rows": len(frame),
            "import_s": round(import_s, 3), "read_s": round(read_s, 3), "metrics_s": round(metrics_s, 3),
            "work_s": round(read_s + metrics_s, 3), "sklearn_roc_auc_s": round(auc_s, 3),
            "baseline_rss_mb": round(baseline, 1), "vm_hwm_mb": round(_vm_hwm_mb(), 1), "values": values,
            "groups": groups}


def _tree_rss_mb(pid: int) -> float:
    """Resident set of ``pid`` and all its descendants, in MiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                stack += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def run_child(cmd: list[str], work: Path, name: str, timeout: float, rss_limit_mb: float,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` (which prints one JSON object) under GNU time and a watchdog; returns its report + peak RSS."""
    out_path, err_path, rss_path = (work / f"{name}.{ext}" for ext in ("out", "err", "maxrss"))
    gnu_time = Path("/usr/bin/time")
    full = [str(gnu_time), "-f", "%M", "-o", str(rss_path), *cmd] if gnu_time.exists() else cmd
    sampled, reason = 0.0, None
    start = time.perf_counter()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(full, stdout=out, stderr=err, cwd=ROOT, env=env, start_new_session=True)
        while True:
            try:
                proc.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                pass
            rss = _tree_rss_mb(proc.pid)
            sampled = max(sampled, rss)
            if time.perf_counter() - start > timeout:
                reason = f"killed: still running after the {timeout:.0f} s timeout"
            elif rss > rss_limit_mb:
                reason = f"killed: {rss:.0f} MB resident, over the {rss_limit_mb:.0f} MB limit"
            if reason:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
    wall = time.perf_counter() - start
    if reason:
        return {"status": "killed", "reason": reason, "child_wall_s": round(wall, 1),
                "sampled_peak_rss_mb": round(sampled, 1)}
    if proc.returncode != 0:
        return {"status": "failed", "exit": proc.returncode, "child_wall_s": round(wall, 1),
                "sampled_peak_rss_mb": round(sampled, 1), "stderr": err_path.read_text()[-2000:]}
    child = json.loads(out_path.read_text())
    outside = None
    if rss_path.exists():
        lines = rss_path.read_text().split()
        outside = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else None
    peak = max(outside or 0.0, child["vm_hwm_mb"])
    return {"status": "ok", **child, "child_wall_s": round(wall, 2),
            "time_maxrss_mb": round(outside, 1) if outside is not None else None, "peak_rss_mb": round(peak, 1),
            # the whole process tree (a Spark child's JVM included), sampled every 0.25 s
            "sampled_tree_peak_rss_mb": round(sampled, 1)}


def ensure_evidently(venv: Path, log: Path) -> tuple[Path | None, str]:
    """The Python of a virtualenv with Evidently 0.7 + pandas 2, created with pip if needed; or None and why not."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas; print(evidently.__version__, pandas.__version__)"]

    def works() -> str | None:
        if not python.exists():
            return None
        done = subprocess.run(probe, capture_output=True, text=True, env={**os.environ, "DO_NOT_TRACK": "1"})
        return done.stdout.strip() if done.returncode == 0 else None

    versions = works()
    if versions:
        return python, versions
    try:
        with log.open("w") as fh:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=fh, stderr=fh,
                               timeout=600)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS], check=True,
                           stdout=fh, stderr=fh, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        tail = log.read_text()[-500:] if log.exists() else ""
        return None, f"could not create the Evidently virtualenv at {venv}: {exc} {tail}".strip()
    versions = works()
    return (python, versions) if versions else (None, f"Evidently does not import in {venv} (see {log})")


# ----------------------------------------------------------------------------------------------- cross-checks
def compare_fairlearn(cs: dict[str, Any], fl: dict[str, Any]) -> dict[str, Any]:
    diffs: dict[str, float] = {}
    for key, value in fl["values"].items():
        ours = cs["values"].get(key)
        diffs[key] = abs(ours - value) if ours is not None else math.inf
    for cid, groups in fl["groups"].items():
        for group, rates in groups.items():
            ours = cs["groups"].get(cid, {}).get(group)
            for rate, value in rates.items():
                diffs[f"{cid}/{group}/{rate}"] = abs(ours[rate] - value) if ours else math.inf
    worst = max(diffs, key=diffs.get)
    return {"values_compared": len(diffs), "max_abs_diff": diffs[worst], "worst": worst,
            "ok": diffs[worst] < TOLERANCE,
            "compared": "ROC AUC (scikit-learn), accuracy, DP and EO differences by sex and race, and each group's "
                        "selection rate, TPR, FPR and accuracy (MetricFrame.by_group)"}


def compare_drift(cs_columns: dict[str, Any], ev_columns: dict[str, Any], only_categorical: bool = False
                  ) -> dict[str, Any]:
    """Max |Countersign - Evidently| per drift method over the columns where both used that method."""
    by_method: dict[str, dict[str, Any]] = {}
    mismatched = []
    for column, ev in ev_columns.items():
        ours = cs_columns.get(column)
        method = EVIDENTLY_METHODS.get(ev["method"], ev["method"])
        if ours is None or ours["method"] != method:
            mismatched.append({"column": column, "countersign": ours and ours["method"], "evidently": method})
            continue
        if only_categorical and column not in CATEGORICAL:
            continue
        entry = by_method.setdefault(method, {"columns": 0, "max_abs_diff": 0.0})
        entry["columns"] += 1
        diff = abs(ours["statistic"] - ev["value"]) if ours["statistic"] is not None and ev["value"] is not None \
            else math.inf
        entry["max_abs_diff"] = max(entry["max_abs_diff"], diff)
    for entry in by_method.values():
        entry["ok"] = entry["max_abs_diff"] < TOLERANCE
    return {"by_method": by_method, "method_mismatches": mismatched,
            "ok": bool(by_method) and not mismatched and all(e["ok"] for e in by_method.values())}


# ----------------------------------------------------------------------------------------------- one size
def _timing(child: dict[str, Any]) -> dict[str, Any]:
    if child.get("status") != "ok":
        return child
    keys = ("work_s", "peak_rss_mb", "child_wall_s", "baseline_rss_mb", "time_maxrss_mb", "import_s",
            "scipy_import_s", "read_s", "run_s", "metrics_s", "sklearn_roc_auc_s", "init_s", "engine_seconds",
            "check_seconds", "sampled_rss_peak_mb", "evidently", "pandas", "fairlearn", "drifted_share")
    out = {"status": "ok", "seconds": child["work_s"]}
    out.update({k: child[k] for k in keys if k in child})
    return out


def run_size(work: Path, rows: int, args: argparse.Namespace, evidently: Path | None, evidently_note: str,
             first: bool) -> dict[str, Any]:
    ref_rows = min(rows, args.reference_rows)
    current, reference = work / f"current-{rows}.parquet", work / f"reference-{rows}.parquet"
    t0 = time.perf_counter()
    write_parquet(current, rows, SEED + rows, drift=1.0)
    write_parquet(reference, ref_rows, SEED + 7 * rows + 1, drift=0.0)
    generated = time.perf_counter() - t0
    me = [sys.executable, "-m", "benchmarks.evaluation"]
    limit, timeout = args.rss_limit_mb, args.timeout
    cs = run_child([*me, "--child", "countersign", str(current), str(reference), "psi"], work, f"cs-{rows}",
                   timeout, limit)
    cs_auto = run_child([*me, "--child", "countersign", str(current), str(reference), "auto"], work,
                        f"cs-auto-{rows}", timeout, limit)
    fl = run_child([*me, "--child", "fairlearn", str(current), "-", "-"], work, f"fl-{rows}", timeout, limit)
    ev: dict[str, Any]
    ev_psi: dict[str, Any] | None = None
    if evidently is None:
        ev = {"status": "skipped", "reason": evidently_note}
    else:
        peer = [str(evidently), str(ROOT / "benchmarks" / "_evidently_peer.py"), "--reference", str(reference),
                "--current", str(current), "--numerical", ",".join(NUMERIC), "--categorical", ",".join(CATEGORICAL)]
        env = {**os.environ, "DO_NOT_TRACK": "1"}
        env.pop("PYTHONPATH", None)
        ev = run_child(peer, work, f"ev-{rows}", timeout, limit, env=env)
        if first:
            ev_psi = run_child([*peer, "--method", "psi"], work, f"ev-psi-{rows}", timeout, limit, env=env)
    current_mb = current.stat().st_size / 1e6
    current.unlink()
    reference.unlink()

    out: dict[str, Any] = {"rows": rows, "reference_rows": ref_rows, "current_file_mb": round(current_mb, 1),
                           "generate_s": round(generated, 1), "countersign": _timing(cs),
                           "countersign_drift_auto": _timing(cs_auto), "fairlearn": _timing(fl),
                           "evidently": _timing(ev)}
    if cs.get("status") == "ok":
        out["countersign_values"] = {k: v for k, v in cs["values"].items()}
    peers = [fl, ev]
    if cs.get("status") == "ok" and all(p.get("status") == "ok" for p in peers):
        out["speedup_vs_peers"] = round(sum(p["work_s"] for p in peers) / cs["work_s"], 2)
    if cs.get("status") == "ok" and fl.get("status") == "ok":
        out["speedup_vs_fairlearn"] = round(fl["work_s"] / cs["work_s"], 2)
    if cs_auto.get("status") == "ok" and ev.get("status") == "ok":
        out["speedup_drift_auto_vs_evidently"] = round(ev["work_s"] / cs_auto["work_s"], 2)
    checks: dict[str, Any] = {}
    if cs.get("status") == "ok" and fl.get("status") == "ok":
        checks["fairlearn_vs_countersign"] = compare_fairlearn(cs, fl)
    if cs_auto.get("status") == "ok" and ev.get("status") == "ok":
        checks["evidently_vs_countersign_drift_auto"] = compare_drift(cs_auto["drift"], ev["columns"])
    if ev_psi is not None:
        entry: dict[str, Any] = {"evidently_psi_run": _timing(ev_psi)}
        if ev_psi.get("status") == "ok" and cs.get("status") == "ok":
            entry["categorical"] = compare_drift(cs["drift"], ev_psi["columns"], only_categorical=True)
            entry["numeric_side_by_side"] = {
                c: {"countersign_psi_10_reference_quantiles": cs["drift"][c]["statistic"],
                    "evidently_psi_sturges_equal_width": ev_psi["columns"][c]["value"]} for c in NUMERIC}
            entry["note"] = ("PSI definitions differ for numeric columns: Countersign bins by 10 reference quantiles, "
                             "Evidently by equal-width Sturges bins over reference + current (and fills empty bins "
                             "differently), so only categorical PSI is compared number for number")
        checks["psi_definitions"] = entry
    out["cross_check"] = checks
    return out


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # before importing Countersign's service: children start lean
        kind, current, reference, drift = sys.argv[2:6]
        engine = sys.argv[6:8]  # optional: ENGINE [MASTER]
        result = (countersign_child(current, reference, drift, *engine) if kind == "countersign"
                  else fairlearn_child(current))
        print(json.dumps(result))
        return
    from benchmarks._common import parser, report

    p: argparse.ArgumentParser = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(str(s) for s in FULL_SIZES), help="comma-separated row counts")
    p.add_argument("--reference-rows", type=int, default=REFERENCE_ROWS, help="reference rows (at most the size)")
    p.add_argument("--no-evidently", action="store_true", help="skip the Evidently peer")
    p.add_argument("--evidently-venv", default=str(EVIDENTLY_VENV), help="virtualenv for Evidently 0.7 + pandas 2")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds before a child is killed")
    p.add_argument("--rss-limit-mb", type=float, default=None, help="resident MB at which a child is killed "
                   "(default: 60 %% of the memory available at start, at most 16 GB)")
    args = p.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    sizes = [SMOKE_SIZE] if args.smoke else [int(s) for s in args.sizes.split(",") if s]
    if args.rss_limit_mb is None:
        available = next((int(line.split()[1]) / 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemAvailable:")), 8192.0)
        args.rss_limit_mb = min(16384.0, 0.6 * available)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        evidently: Path | None = None
        if args.smoke:
            note = "smoke run: the Evidently virtualenv is not created"
        elif args.no_evidently:
            note = "--no-evidently"
        else:
            evidently, note = ensure_evidently(Path(args.evidently_venv), work / "evidently-install.log")
        results = [run_size(work, rows, args, evidently, note, first=(k == 0)) for k, rows in enumerate(sizes)]
    by_rows = {r["rows"]: r for r in results}
    goal = by_rows.get(GOAL_ROWS, {}).get("countersign", {})
    speed = by_rows.get(SPEEDUP_ROWS, {})
    cs_ok = goal.get("status") == "ok"
    checks_ok = [c["ok"] for r in results for c in r["cross_check"].values() if "ok" in c]
    checks_ok += [c["categorical"]["ok"] for r in results for c in r["cross_check"].values() if "categorical" in c]
    report("evaluation", {
        "smoke": args.smoke,
        "load_average_at_start_and_end": [load_start, [round(x, 2) for x in os.getloadavg()]],
        "evidently": ({"venv": args.evidently_venv, "versions": note} if evidently is not None
                      else {"skipped": note}),
        "rss_limit_mb": round(args.rss_limit_mb),
        "timeout_s": args.timeout,
        "sizes": results,
        "goals": {
            "rows_10m_under_60_s": (goal["seconds"] < TIME_GOAL_S) if cs_ok else None,
            "rows_10m_under_2048_mb": (goal["peak_rss_mb"] < MEMORY_GOAL_MB) if cs_ok else None,
            "speedup_1m_ge_15x": (speed["speedup_vs_peers"] >= SPEEDUP_GOAL) if "speedup_vs_peers" in speed
            else None,
            "cross_checks_agree": all(checks_ok) if checks_ok else None,
        },
    })


if __name__ == "__main__":
    main()
