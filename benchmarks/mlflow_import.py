"""Importing an MLflow registry: time per model version, beside the raw limit measured in the same run.

* Builds a real MLflow store (SQLite backend, local artifact root, MLflow's own API): ``--versions`` versions of one
  registered model, each a scikit-learn pipeline on the German credit data logged with skops and its dataset input,
  and times MLflow's own logging of them (context).
* The raw limit: what no importer can avoid — MLflow's client listing the versions, reading each run and downloading
  each version's files (``search_model_versions``, ``get_run``, ``download_artifacts``), timed alone.
* ``Countersign.import_mlflow`` of all of it on a fresh site (download, folder digest, the skops checks and load, one
  transaction ledgering every dataset and version), then a re-run with nothing new.

Goal: the import within the raw limit plus 0.1 s per version of Countersign's own work (the folder digest, the skops
checks and safe load, the ledger entries). From a local SQLite store the raw limit is small, so the own work shows;
over HTTP the raw limit (the downloads) dominates.

Run: ``.venv/bin/python -m benchmarks.mlflow_import`` (``--smoke``: 2 versions).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from benchmarks._common import fresh_db, parser, peak_rss_mb, report, timed  # noqa: E402
from core.demo import data as demo_data  # noqa: E402
from core.demo.seed import enrol  # noqa: E402

DS_USER, DS_PW = "bench-ds", "bench-ds-password"
OWN_WORK_GOAL_S = 0.1  # per version
FEATURES = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL


def _store(work: Path, versions: int) -> tuple[str, float]:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    csv = work / "german_credit.csv"
    demo_data.prepare_german(demo_data.DATA_DIR / "german-credit" / "german.data",
                             demo_data.DATA_DIR / "german-credit" / "values_maps.json", csv)
    frame = pd.read_csv(csv)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench", artifact_location=(work / "artifacts").as_uri())

    def log_all() -> None:
        for i in range(versions):
            model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                        LogisticRegression(max_iter=2000, C=1.0 / (i + 1)))
            model.fit(frame[FEATURES], frame[demo_data.GERMAN_LABEL])
            with mlflow.start_run(experiment_id=experiment):
                mlflow.log_input(mlflow.data.from_pandas(frame, source=str(csv), name="german-credit"),
                                 context="training")
                mlflow.sklearn.log_model(model, name="model", serialization_format="skops",
                                         registered_model_name="credit-scorer", pip_requirements=["scikit-learn"])

    seconds, _ = timed(log_all)
    return uri, seconds


def _raw_limit(uri: str, work: Path) -> float:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    client = MlflowClient(tracking_uri=uri)

    def read_all() -> None:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            for i, mv in enumerate(client.search_model_versions(max_results=1000)):
                client.get_run(mv.run_id)
                download_artifacts(artifact_uri=client.get_model_version_download_uri(mv.name, mv.version),
                                   dst_path=str(Path(tmp, str(i))), tracking_uri=uri)

    return timed(read_all)[0]


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    versions = 2 if args.smoke else 20
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        uri, logging = _store(work, versions)
        raw = min(_raw_limit(uri, work) for _ in range(2))
        cs, admin = fresh_db(work, "mlflow-import")
        enrol(cs, admin, DS_USER, ["data_scientist"], DS_PW)
        dana = cs.login(DS_USER, DS_PW)
        seconds, result = timed(lambda: cs.import_mlflow(dana, uri, data_root=work))
        again, noop = timed(lambda: cs.import_mlflow(dana, uri, data_root=work))
        assert len(result["imported"]) == versions and noop["seq"] is None
        ok = cs.verify()
        report("mlflow_import", {
            "versions": versions, "mlflow_logging_s": round(logging, 2),
            "raw_limit_s": round(raw, 2), "import_s": round(seconds, 2),
            "per_version_s": round(seconds / versions, 3), "ratio_to_raw_limit": round(seconds / raw, 2),
            "own_work_per_version_s": round((seconds - raw) / versions, 3), "goal_own_work_per_version_s":
            OWN_WORK_GOAL_S, "goal_met": seconds <= raw + OWN_WORK_GOAL_S * versions,
            "noop_reimport_s": round(again, 2),
            "ledger_verified": ok.ok, "peak_rss_mb": round(peak_rss_mb(), 1)})


if __name__ == "__main__":
    main()
