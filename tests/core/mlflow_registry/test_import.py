"""Issue 18: an MLflow registry imported into Countersign, against a real MLflow store made by MLflow in the test.

Models are real scikit-learn pipelines on the real German credit data, logged and registered through MLflow's API;
Countersign reads them with MLflow's client and never with MLflow's loader.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.api.countersign import Countersign
from core.errors import BadInput
from core.mlflow_registry.names import countersign_name
from tests.conftest import USERS
from tests.mlflow_fixtures import GERMAN_FEATURES, MlflowStore, german_model

NAME = "credit risk"  # a space: not a Countersign name, so the mapping is exercised


def login(cs: Countersign, name: str) -> Any:  # noqa: ANN401
    return cs.login(name, USERS[name][1])


def entries(cs: Countersign, after: int) -> list[dict[str, Any]]:
    rows = cs._read(lambda tx: [tx.ledger_entry(s) for s in range(after + 1, (tx.ledger_max_seq() or 0) + 1)])
    return [{"action": r.action, "actor": r.actor, "subject": r.subject, "payload": json.loads(r.payload)}
            for r in rows if r is not None]


def head(cs: Countersign) -> int:
    return int(cs._read(lambda tx: tx.ledger_max_seq()) or 0)


def folder_digest(folder: Path) -> str:
    """The folder recipe, computed here independently: SHA-256 of ``<sha256>  <path>\\n`` lines sorted by path."""
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())
    manifest = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}\n"
                       for p in files)
    return hashlib.sha256(manifest.encode()).hexdigest()


@pytest.fixture
def data_root(tmp_path: Path, german_frame: tuple[Path, Any]) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    (root / "german_credit.csv").write_bytes(german_frame[0].read_bytes())
    return root


def test_import_registers_versions_runs_and_datasets_with_lineage(
        populated: Countersign, mlflow_store: MlflowStore, german_frame: tuple[Path, Any], data_root: Path) -> None:
    frame = german_frame[1]
    first, second = german_model(frame), german_model(frame, c=0.1)
    assert mlflow_store.log_version(NAME, first, frame, data_root / "german_credit.csv") == "1"
    assert mlflow_store.log_version(NAME, second, frame, data_root / "german_credit.csv") == "2"
    mlflow_store.client.set_registered_model_alias(NAME, "champion", "1")
    dana = login(populated, "dana")
    before = head(populated)

    result = populated.import_mlflow(dana, mlflow_store.uri, data_root=data_root)

    name = countersign_name(NAME)
    assert name.startswith("credit-risk-") and name != NAME
    assert [(i["mlflow_name"], i["version"], i["model"], i["format"]) for i in result["imported"]] == [
        (NAME, "1", f"{name}@1", "skops"), (NAME, "2", f"{name}@2", "skops")]
    data_sha = hashlib.sha256((data_root / "german_credit.csv").read_bytes()).hexdigest()
    dataset_ref = f"german-credit@{data_sha[:12]}"
    assert {d.get("ref") for d in result["datasets"]} == {dataset_ref}
    assert populated.dataset(dana, dataset_ref)["digest"] == data_sha

    new = entries(populated, before)
    assert [e["action"] for e in new] == ["dataset.registered", "model.registered", "model.registered",
                                          "mlflow.imported"]
    assert {e["actor"] for e in new} == {"dana"}
    for entry, model in zip(new[1:3], (first, second), strict=True):
        source = entry["payload"]["imported_from"]
        version = source["version"]
        folder = Path(mlflow_store.client.get_model_version_download_uri(NAME, version).removeprefix("file://"))
        assert source["model_folder_sha256"] == folder_digest(folder)  # the same recipe, computed independently
        assert source["name"] == NAME and source["serialization_format"] == "skops"
        assert source["aliases_at_import"] == (["champion"] if version == "1" else [])
        assert source["created_ms"] == mlflow_store.client.get_model_version(NAME, version).creation_timestamp
        assert source["run"]["params"] == {"max_iter": "2000"}
        assert source["run"]["metrics"] == {"loss_at_start": "nan", "train_rows": 1000}
        assert source["datasets"][0]["registered_as"] == dataset_ref
        assert entry["payload"]["trained_on"] == [dataset_ref]
        assert entry["payload"]["artifact_sha256"] == hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
        _, loaded = populated.load_model(dana, f"{name}@{version}")
        x = frame[GERMAN_FEATURES]
        assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))

    graph = populated.lineage(dana, f"{name}@2", "upstream")
    kinds = {(e["from"].split(":")[0], e["kind"], e["to"].split(":")[0]) for e in graph["edges"]}
    assert {("mlflow-model-version", "imported_as", "model"), ("mlflow-run", "produced", "mlflow-model-version"),
            ("dataset", "input_to", "mlflow-run"), ("dataset", "trained_on", "model")} <= kinds

    # A re-run is a no-op that only records it looked; a new MLflow version is then picked up alone.
    again = populated.import_mlflow(dana, mlflow_store.uri, data_root=data_root)
    assert again["imported"] == [] and [s["reason"] for s in again["skipped"]] == ["imported before"] * 2
    mlflow_store.log_version(NAME, german_model(frame, c=0.5), frame, data_root / "german_credit.csv",
                             params={"max_iter": 2000, "notes": "x" * 6000})  # MLflow's longest parameter value
    before_third = head(populated)
    third = populated.import_mlflow(dana, mlflow_store.uri, data_root=data_root)
    assert [i["version"] for i in third["imported"]] == ["3"]
    [kept] = [e["payload"]["imported_from"]["run"]["params"] for e in entries(populated, before_third)
              if e["action"] == "model.registered"]
    assert kept["notes"] == "x" * 500 + "… (6,000 characters in MLflow)" and kept["max_iter"] == "2000"
    assert [m["ref"] for m in populated.models(dana)] == [f"{name}@1", f"{name}@2", f"{name}@3"]


def test_a_pickled_version_needs_the_importers_own_trust_and_nothing_is_written_without_it(
        populated: Countersign, mlflow_store: MlflowStore, german_frame: tuple[Path, Any], data_root: Path) -> None:
    frame = german_frame[1]
    mlflow_store.log_version(NAME, german_model(frame), frame, data_root / "german_credit.csv")
    mlflow_store.log_version(NAME, german_model(frame, c=0.2), frame, data_root / "german_credit.csv",
                             fmt="cloudpickle")
    dana = login(populated, "dana")
    before = head(populated)
    with pytest.raises(BadInput, match="version 2 was saved with cloudpickle.*nothing imported"):
        populated.import_mlflow(dana, mlflow_store.uri, data_root=data_root)
    assert head(populated) == before and populated.models(dana) == [] and populated.datasets(dana) == []

    result = populated.import_mlflow(dana, mlflow_store.uri, data_root=data_root, trust_pickle=True)
    assert [i["format"] for i in result["imported"]] == ["skops", "pickle"]
    actions = [(e["action"], e["actor"]) for e in entries(populated, before)]
    assert actions[0] == ("model.pickle_trusted", "dana")  # vouched before the bytes were unpickled
    assert actions.count(("model.registered", "dana")) == 2


def test_datasets_not_read_by_content_stay_references_saying_why(
        populated: Countersign, mlflow_store: MlflowStore, german_frame: tuple[Path, Any], data_root: Path,
        tmp_path: Path) -> None:
    frame = german_frame[1]
    path = data_root / "german_credit.csv"
    mlflow_store.log_version(NAME, german_model(frame), frame, path)
    dana = login(populated, "dana")
    without_root = populated.import_mlflow(dana, mlflow_store.uri, model=NAME)
    notes = [d["note"] for d in without_root["datasets"]]
    assert notes == ["no --data-root given: MLflow's record only"]
    assert populated.datasets(dana) == []

    # The file changed after the run logged it: MLflow's digest no longer matches, so it is not registered.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(",".join(str(v) for v in frame.iloc[0].tolist()) + "\n")
    mlflow_store.log_version(NAME, german_model(frame, c=0.3), frame, path)
    changed = populated.import_mlflow(dana, mlflow_store.uri, data_root=data_root)
    assert "the file changed since" in changed["datasets"][0]["note"]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    mlflow_store.log_version(NAME, german_model(frame, c=0.4), frame, german_frame[0])
    other = populated.import_mlflow(dana, mlflow_store.uri, data_root=outside)
    assert "is outside --data-root" in other["datasets"][0]["note"]
    assert populated.datasets(dana) == []
    graph = populated.lineage(dana, f"{countersign_name(NAME)}@1", "upstream")
    assert any(n["id"].startswith("mlflow-dataset:") for n in graph["nodes"])
    shown = populated.model(dana, f"{countersign_name(NAME)}@1")  # what `model show` says of it
    assert shown["trained_on"] == []
    assert [(u["kind"], u["label"], u["node"].split(":")[0]) for u in shown["upstream"]] == [
        ("imported_as", f"{NAME} v1", "mlflow-model-version"), ("trained_on", "german-credit", "mlflow-dataset")]


@pytest.mark.parametrize("uri", ["sqlite:///{tmp}/missing.db", "{tmp}/no-such-mlruns", "  "])
def test_a_store_that_does_not_exist_is_refused_and_never_created(populated: Countersign, tmp_path: Path,
                                                                   uri: str) -> None:
    given = uri.format(tmp=tmp_path)
    with pytest.raises(BadInput, match="no MLflow store|is empty"):
        populated.import_mlflow(login(populated, "dana"), given)
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "no-such-mlruns").exists()
    assert not os.path.exists("mlflow.db")


def test_an_empty_data_root_is_refused_not_taken_for_the_current_folder(populated: Countersign,
                                                                       mlflow_store: MlflowStore) -> None:
    with pytest.raises(BadInput, match="--data-root is empty"):
        populated.import_mlflow(login(populated, "dana"), mlflow_store.uri, data_root=" ")


def test_importing_needs_the_register_permission(populated: Countersign, mlflow_store: MlflowStore) -> None:
    from core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        populated.import_mlflow(login(populated, "aude"), mlflow_store.uri)
