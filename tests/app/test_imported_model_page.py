"""A model version imported from MLflow (issue 18) says so on its card: where it was imported from, and the training
data Countersign knows only by reference — against a real MLflow store (SQLite, made by MLflow in the test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.api.countersign import Countersign
from core.mlflow_registry.names import countersign_name
from tests.app.conftest import OpenApp
from tests.app.test_model_card_page import _unescape
from tests.core.mlflow_registry.test_import import login
from tests.mlflow_fixtures import MlflowStore, german_model

HOSTILE = "**credit** [risk](x.example)"  # Markdown in an MLflow name stays text on the page


def test_the_card_names_the_mlflow_version_and_the_reference_only_data(
        populated: Countersign, db_path: Path, open_app: OpenApp, mlflow_store: MlflowStore,
        german_frame: tuple[Path, Any]) -> None:
    frame = german_frame[1]
    mlflow_store.log_version(HOSTILE, german_model(frame), frame, german_frame[0])
    aude = login(populated, "aude")
    populated.import_mlflow(login(populated, "dana"), mlflow_store.uri)  # no --data-root: data by reference only
    at = open_app(db_path, aude)
    at.query_params["model"] = f"{countersign_name(HOSTILE)}@1"
    at.switch_page("app_pages/model_card.py").run()
    assert not at.exception, at.exception
    [imported] = [c.value for c in at.caption if c.value.startswith("Imported from ")]
    assert imported.startswith("Imported from \\*\\*credit\\*\\* \\[risk\\]\\(x"), imported  # escaped: text
    assert _unescape(imported).startswith(f"Imported from {HOSTILE} v1 (mlflow-model-version:"), imported
    at.session_state["card_tab"] = "Data"
    at.run()
    assert any(_unescape(c.value).startswith("Trained on german-credit, known by reference only (mlflow-dataset:")
               for c in at.caption), [c.value for c in at.caption]
