"""A real MLflow tracking store per test, made by MLflow itself: SQLite backend, local artifact root.

The migrated empty SQLite database is built once per worker (MLflow's migrations take seconds) and copied per test;
everything in it — experiments, runs, logged models, registered versions, dataset inputs — is written through
MLflow's own API. MLflow is imported only by the tests that use these fixtures.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.demo import data as demo_data

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

GERMAN_FEATURES = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL
GERMAN_LABEL = demo_data.GERMAN_LABEL


@dataclass
class MlflowStore:
    """A tracking store: its URI, folder, an :class:`mlflow.MlflowClient` and one experiment."""

    uri: str
    root: Path
    client: Any
    experiment_id: str

    def log_version(self, name: str, model: Any, frame: Any, data_path: Path | None, *,  # noqa: ANN401
                    fmt: str = "skops", context: str = "training", params: dict[str, Any] | None = None) -> str:
        """Fit nothing: log ``model`` (a fitted scikit-learn estimator) in a new run with its dataset input, register
        it as a new version of ``name``; return the version."""
        import mlflow

        with mlflow.start_run(experiment_id=self.experiment_id):
            mlflow.log_params(params or {"max_iter": 2000})
            mlflow.log_metric("train_rows", float(len(frame)))
            mlflow.log_metric("loss_at_start", float("nan"))  # MLflow accepts it; JSON has no NaN
            if data_path is not None:
                mlflow.log_input(mlflow.data.from_pandas(frame, source=str(data_path), name="german-credit"),
                                 context=context)
            info = mlflow.sklearn.log_model(model, name="model", serialization_format=fmt,
                                            registered_model_name=name, pip_requirements=["scikit-learn"],
                                            input_example=frame[GERMAN_FEATURES].head(3))
        return str(info.registered_model_version)


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # runs MLflow's migrations
    return path


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _mlflow_template: Path) -> MlflowStore:
    from mlflow import MlflowClient

    root = tmp_path / "mlflow"
    root.mkdir()
    shutil.copyfile(_mlflow_template, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow writes ./mlruns or ./mlflow.db when a default leaks through
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("credit", artifact_location=(root / "artifacts").as_uri())
    return MlflowStore(uri, root, client, experiment)


@pytest.fixture(scope="session")
def german_frame(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The real German credit data, prepared as the demo does: the CSV file and its pandas frame."""
    import pandas as pd

    path = tmp_path_factory.mktemp("german") / "german_credit.csv"
    demo_data.prepare_german(demo_data.DATA_DIR / "german-credit" / "german.data",
                             demo_data.DATA_DIR / "german-credit" / "values_maps.json", path)
    return path, pd.read_csv(path)


def german_model(frame: Any, c: float = 1.0) -> Any:  # noqa: ANN401
    """A logistic regression pipeline on the German credit features (fitted)."""
    from sklearn.linear_model import LogisticRegression

    model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                LogisticRegression(max_iter=2000, C=c))
    return model.fit(frame[GERMAN_FEATURES], frame[GERMAN_LABEL])
