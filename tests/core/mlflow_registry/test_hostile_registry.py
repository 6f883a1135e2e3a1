"""Issue 18, break-it cases as kinds: an MLflow registry that lies, changes or collides is refused or reported,
never trusted — against a real MLflow store (SQLite, made by MLflow in the test)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.api.countersign import Countersign
from core.errors import BadInput
from core.mlflow_registry.names import countersign_name
from tests.core.mlflow_registry.test_aliases import POLICY, aliases, release
from tests.core.mlflow_registry.test_import import NAME, head, login
from tests.mlflow_fixtures import MlflowStore, german_model


def folder(store: MlflowStore, version: str, name: str = NAME) -> Path:
    return Path(store.client.get_model_version_download_uri(name, version).removeprefix("file://"))


def edit_mlmodel(store: MlflowStore, version: str, change: Any) -> None:  # noqa: ANN401
    path = folder(store, version) / "MLmodel"
    spec = yaml.safe_load(path.read_text())
    change(spec)
    path.write_text(yaml.safe_dump(spec))


@pytest.fixture
def logged(mlflow_store: MlflowStore, german_frame: tuple[Path, Any]) -> MlflowStore:
    frame = german_frame[1]
    for c in (1.0, 0.1):
        mlflow_store.log_version(NAME, german_model(frame, c=c), frame, german_frame[0])
    return mlflow_store


def test_a_version_whose_files_changed_gets_no_alias_and_is_reported(populated: Countersign, logged: MlflowStore,
                                                                     german_frame: tuple[Path, Any],
                                                                     tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    frame = german_frame[1].iloc[:-1]  # other content: MLflow keeps one dataset record per name and digest
    frame.to_csv(root / "german_credit.csv", index=False)
    logged.log_version(NAME, german_model(frame, c=0.5), frame, root / "german_credit.csv")
    cs = populated
    result = cs.import_mlflow(login(cs, "dana"), logged.uri, data_root=root)
    assert len(result["imported"]) == 3, result
    data = next(d["ref"] for d in result["datasets"] if "ref" in d)
    policy = tmp_path / "house.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    cs.add_policy(login(cs, "chloe"), policy)
    name = countersign_name(NAME)
    cs.assign_policy(login(cs, "chloe"), name, "house")

    # v3 approved for staging while its files in MLflow were replaced by v1's: the alias is not set.
    original = tmp_path / "v3.skops"
    shutil.copy(folder(logged, "3") / "model.skops", original)
    shutil.copy(folder(logged, "1") / "model.skops", folder(logged, "3") / "model.skops")
    staged = release(cs, f"{name}@3", data, "staging")
    assert "files changed since the import" in staged["mlflow_error"] and aliases(logged) == {}

    # Put back, sync sets the alias; replaced again afterwards, the check reports it and flags the version.
    shutil.copy(original, folder(logged, "3") / "model.skops")
    assert [c["version"] for c in cs.sync_mlflow(login(cs, "lee"))] == ["3"]
    assert cs.check_mlflow(login(cs, "lee"))["findings"] == []
    shutil.copy(folder(logged, "1") / "model.skops", folder(logged, "3") / "model.skops")
    [finding] = cs.check_mlflow(login(cs, "lee"))["findings"]
    assert (finding["kind"], finding["alias"], finding["model"], finding["flagged"]) == (
        "changed", "challenger", f"{name}@3", True)
    assert "files changed since the import" in finding["reason"]


def test_a_lying_mlmodel_is_refused_and_nothing_is_written(populated: Countersign, logged: MlflowStore) -> None:
    dana = login(populated, "dana")
    before = head(populated)

    def serve_other(spec: dict[str, Any]) -> None:
        spec["flavors"]["python_function"]["model_path"] = "served.skops"

    shutil.copy(folder(logged, "1") / "model.skops", folder(logged, "2") / "served.skops")
    edit_mlmodel(logged, "2", serve_other)
    with pytest.raises(BadInput, match="MLflow would serve another model"):
        populated.import_mlflow(dana, logged.uri)
    assert head(populated) == before and populated.models(dana) == []


def test_a_pickle_without_its_sklearn_flavour_is_still_a_pickle(populated: Countersign, logged: MlflowStore,
                                                                german_frame: tuple[Path, Any]) -> None:
    frame = german_frame[1]
    logged.log_version(NAME, german_model(frame, c=0.3), frame, german_frame[0], fmt="cloudpickle")
    edit_mlmodel(logged, "3", lambda spec: spec["flavors"].pop("sklearn"))
    dana = login(populated, "dana")
    with pytest.raises(BadInput, match="version 3 was saved with pickle, which runs code"):
        populated.import_mlflow(dana, logged.uri)
    assert populated.models(dana) == []


def test_no_pickle_is_trusted_when_another_version_is_refused_for_its_files(
        populated: Countersign, logged: MlflowStore, german_frame: tuple[Path, Any]) -> None:
    frame = german_frame[1]
    logged.log_version(NAME, german_model(frame, c=0.3), frame, german_frame[0], fmt="cloudpickle")
    logged.log_version(NAME, german_model(frame, c=0.4), frame, german_frame[0])
    edit_mlmodel(logged, "4", lambda spec: spec["flavors"]["sklearn"].update(serialization_format="weird"))
    dana = login(populated, "dana")
    before = head(populated)
    with pytest.raises(BadInput, match="unknown serialization_format"):
        populated.import_mlflow(dana, logged.uri, trust_pickle=True)
    assert head(populated) == before  # no model.pickle_trusted entry for version 3


def test_stores_that_are_not_mlflow_stores_are_refused_untouched(populated: Countersign, tmp_path: Path) -> None:
    other = tmp_path / "other-app.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
    csv = tmp_path / "g.csv"
    csv.write_text("a,b\n1,2\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    dana = login(populated, "dana")
    for uri, words in ((f"sqlite:///{other}", "not an MLflow store"), (f"sqlite:///{csv}", "not an MLflow store"),
                       (f"sqlite:///{empty}", "no such SQLite file"), ("sqlite:///", "no such SQLite file"),
                       ("sqlite://", "no such SQLite file"), (str(empty), "not an MLflow store folder"),
                       (f"file:{empty}", "not an MLflow store folder")):
        with pytest.raises(BadInput, match=words):
            populated.import_mlflow(dana, uri)
    with sqlite3.connect(other) as con:
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    assert list(empty.iterdir()) == []


def test_names_that_meet_are_refused_naming_both(populated: Countersign, mlflow_store: MlflowStore,
                                                 german_frame: tuple[Path, Any]) -> None:
    frame = german_frame[1]
    slug = countersign_name(NAME)
    for name in (NAME, slug):
        mlflow_store.log_version(name, german_model(frame), frame, german_frame[0])
    dana = login(populated, "dana")
    with pytest.raises(BadInput, match="both map to the Countersign name"):
        populated.import_mlflow(dana, mlflow_store.uri)
    populated.import_mlflow(dana, mlflow_store.uri, model=NAME)
    with pytest.raises(BadInput, match="holds versions imported from"):
        populated.import_mlflow(dana, mlflow_store.uri, model=slug)


def test_a_reimport_with_nothing_new_writes_nothing(populated: Countersign, logged: MlflowStore) -> None:
    dana = login(populated, "dana")
    populated.import_mlflow(dana, logged.uri)
    before = head(populated)
    again = populated.import_mlflow(dana, logged.uri)
    assert again["seq"] is None and head(populated) == before
