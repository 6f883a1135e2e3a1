"""The lineage registry through the public API: datasets, models (real scikit-learn on real Adult data), documents,
refusals that write nothing, safe loading, and the lineage graph."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from core.api.countersign import Countersign
from core.catalog.artifacts import describe
from core.catalog.lineage import to_dot
from core.errors import BadInput, NotFound, PermissionDenied
from core.identity.users import Session
from tests.conftest import USERS, countersign_exe

ROOT = Path(__file__).resolve().parents[3]
ADULT = ROOT / "data" / "adult" / "adult.data"
COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
           "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
           "income"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "sex"]
FEATURES = NUMERIC + CATEGORICAL
N_TRAIN, N_TEST = 400, 200
SAMPLE = "adult-sample@1"

DATASHEET = """\
motivation: Benchmark income prediction from census attributes.
composition:
  - the first 600 rows of the 1994 US Census extract (UCI Adult)
  - 15 columns; the label is income (<=50K or >50K)
collection_process:
  who: Barry Becker
  when: "1994"
preprocessing: Header row added; values otherwise as published.
uses: Teaching and tests only; not for decisions about people.
distribution: UCI Machine Learning Repository, CC BY 4.0.
maintenance:
  owner: data platform team
"""

CARD = """\
model_details: Gradient-boosted trees on 10 census attributes.
intended_use: Regression tests of the governance service.
out_of_scope_uses:
  - credit, hiring or housing decisions
factors: [sex, race, age]
metrics: Accuracy and ROC AUC on held-out rows.
evaluation_data: 200 held-out rows of adult.data.
training_data: 400 rows of adult.data.
ethical_considerations: Census labels encode historical bias.
caveats_and_recommendations: Tiny sample; do not deploy.
limitations: Trained on 400 rows.
"""


# ----------------------------------------------------------------------------------------------- helpers
class NotOnAllowList:
    """A custom type skops will not trust by default."""

    def __init__(self) -> None:
        self.weights = [1.0, 2.0]


class OpensAFile:
    """Unpickling this creates ``marker`` (``open(marker, 'w')``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


class RunsAShell:
    """Unpickling this runs ``touch marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch '{self.marker}'",))


def _db(db_path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(db_path))


def snapshot(db_path: Path) -> dict[str, list[tuple]]:
    """Every row of every table a registration could touch, in a stable order."""
    con = _db(db_path)
    try:
        out = {"ledger": con.execute("SELECT * FROM ledger ORDER BY seq").fetchall()}
        for table in ("datasets", "models", "documents", "lineage_nodes", "lineage_edges", "checkpoints"):
            out[table] = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def ledger_actions(db_path: Path) -> list[tuple[int, str, str, str, dict[str, Any]]]:
    con = _db(db_path)
    try:
        rows = con.execute("SELECT seq, actor, action, subject, payload FROM ledger ORDER BY seq").fetchall()
    finally:
        con.close()
    return [(seq, actor, action, subject, json.loads(payload)) for seq, actor, action, subject, payload in rows]


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def store_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".artifacts")


def stored_files(db_path: Path) -> list[str]:
    folder = store_dir(db_path)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def login(cs: Countersign, name: str) -> Session:
    return cs.login(name, USERS[name][1])


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return pd.read_csv(ADULT, names=COLUMNS, sep=", ", engine="python", nrows=N_TRAIN + N_TEST)


def _pipeline(estimator: Any) -> Pipeline:  # noqa: ANN401
    prep = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                              ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL)])
    return Pipeline([("prep", prep), ("clf", estimator)])


@pytest.fixture(scope="module")
def trained(adult: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two real pipelines trained once on 400 rows, saved with skops (and one benign pickle)."""
    folder = tmp_path_factory.mktemp("models")
    X, y = adult[FEATURES], (adult["income"] == ">50K").astype(int)
    out: dict[str, Any] = {"X_test": X.iloc[N_TRAIN:], "dir": folder}
    for key, estimator in (("hgb", HistGradientBoostingClassifier(max_iter=15, random_state=0)),
                           ("lr", LogisticRegression(max_iter=1000))):
        model = _pipeline(estimator).fit(X.iloc[:N_TRAIN], y.iloc[:N_TRAIN])
        sio.dump(model, folder / f"{key}.skops")
        out[key] = model
    (folder / "lr.pkl").write_bytes(pickle.dumps(out["lr"]))
    return out


@pytest.fixture
def sample_csv(adult: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "adult-sample.csv"
    adult.to_csv(path, index=False)
    return path


@pytest.fixture
def dana(populated: Countersign) -> Session:
    return login(populated, "dana")


@pytest.fixture
def with_sample(populated: Countersign, dana: Session, sample_csv: Path) -> dict[str, Any]:
    """``adult-sample@1`` registered by dana."""
    return populated.register_dataset(dana, sample_csv, name="adult-sample", version="1")


def register(cs: Countersign, session: Session, artifact: Path | None, name: str = "income",
             version: str = "1", **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
    return cs.register_model(session, artifact, name=name, version=version, trained_on=[SAMPLE], **kwargs)


# ----------------------------------------------------------------------------------------------- datasets
def test_registered_digest_equals_sha256sum(populated: Countersign, dana: Session, db_path: Path) -> None:
    result = populated.register_dataset(dana, ADULT, name="adult", version="1994")
    assert result["created"] is True
    assert result["digest"] == sha256sum(ADULT)
    assert result["ref"] == "adult@1994" and result["rows"] == 32561 and result["format"] == "csv"
    assert result["size_bytes"] == ADULT.stat().st_size and result["registered_by"] == "dana"
    shown = populated.dataset(dana, "adult@1994")
    assert shown["digest"] == sha256sum(ADULT) and len(shown["schema"]) == 15
    assert shown["path"] == str(ADULT.resolve()) and shown["source_uri"] == ADULT.resolve().as_uri()
    last = ledger_actions(db_path)[-1]
    assert last[1:4] == ("dana", "dataset.registered", "dataset:adult@1994")
    assert last[4]["digest"] == sha256sum(ADULT) and last[4]["rows"] == 32561
    assert populated.verify().ok


def test_same_ref_with_other_content_is_refused_and_nothing_changes(
        populated: Countersign, dana: Session, with_sample: dict[str, Any], sample_csv: Path, tmp_path: Path,
        db_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_bytes(sample_csv.read_bytes().replace(b"State-gov", b"State-gaw", 1))
    before = snapshot(db_path)
    with pytest.raises(BadInput) as info:
        populated.register_dataset(dana, other, name="adult-sample", version="1")
    assert info.value.exit_code == 2
    assert with_sample["digest"] in info.value.message and sha256sum(other) in info.value.message
    assert snapshot(db_path) == before
    assert populated.verify().ok


def test_same_content_again_is_idempotent(populated: Countersign, dana: Session, with_sample: dict[str, Any],
                                          sample_csv: Path, tmp_path: Path, db_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "same.csv"
    copy.parent.mkdir()
    shutil.copyfile(sample_csv, copy)
    before = snapshot(db_path)
    again = populated.register_dataset(dana, copy, name="adult-sample", version="1")
    assert again["created"] is False and again["digest"] == with_sample["digest"]
    assert snapshot(db_path) == before
    assert [d["ref"] for d in populated.datasets(dana)] == [SAMPLE]


def test_use_dataset_refuses_a_file_modified_after_registration(
        populated: Countersign, dana: Session, with_sample: dict[str, Any], sample_csv: Path) -> None:
    record, path = populated.use_dataset(dana, SAMPLE)
    assert path == sample_csv.resolve() and record["digest"] == with_sample["digest"]
    flip_byte(sample_csv, 200)
    with pytest.raises(BadInput) as info:
        populated.use_dataset(dana, SAMPLE)
    assert with_sample["digest"] in info.value.message and sha256sum(sample_csv) in info.value.message
    assert info.value.exit_code == 2


def test_derived_from_an_unknown_or_malformed_ref_is_refused(populated: Countersign, dana: Session,
                                                            sample_csv: Path, db_path: Path) -> None:
    before = snapshot(db_path)
    with pytest.raises(NotFound, match="adult@missing") as info:
        populated.register_dataset(dana, sample_csv, name="adult-sample", version="1", derived_from=["adult@missing"])
    assert info.value.exit_code == 2
    with pytest.raises(BadInput, match="--derived-from reference"):
        populated.register_dataset(dana, sample_csv, name="adult-sample", version="1", derived_from=["adult"])
    assert snapshot(db_path) == before


def test_datasheet_stored_then_edited_with_history(populated: Countersign, dana: Session, sample_csv: Path,
                                                   tmp_path: Path, db_path: Path) -> None:
    sheet = write_yaml(tmp_path / "datasheet.yaml", DATASHEET)
    populated.register_dataset(dana, sample_csv, name="adult-sample", version="1", datasheet=sheet)
    shown = populated.dataset(dana, SAMPLE)
    assert shown["datasheet"] == yaml.safe_load(DATASHEET)
    assert set(shown["datasheet"]) == {"motivation", "composition", "collection_process", "preprocessing", "uses",
                                       "distribution", "maintenance"}
    assert [h["revision"] for h in shown["datasheet_history"]] == [1]
    first_sha = shown["datasheet_history"][0]["sha256"]
    registered = ledger_actions(db_path)[-1]
    assert registered[2] == "dataset.registered" and registered[4]["datasheet_sha256"] == first_sha

    edited_text = DATASHEET.replace("Teaching and tests only", "Teaching, tests and demos only")
    edited = write_yaml(tmp_path / "datasheet-v2.yaml", edited_text)
    chloe = login(populated, "chloe")  # compliance officers may edit datasheets too
    result = populated.edit_datasheet(chloe, SAMPLE, edited)
    assert result["revision"] == 2 and result["sections_changed"] == ["uses"]
    seq, actor, action, subject, payload = ledger_actions(db_path)[-1]
    assert (actor, action, subject) == ("chloe", "dataset.datasheet_edited", f"dataset:{SAMPLE}")
    assert payload["revision"] == 2 and payload["previous_sha256"] == first_sha and seq == result["seq"]
    shown = populated.dataset(dana, SAMPLE)
    assert shown["datasheet"] == yaml.safe_load(edited_text)
    assert [(h["revision"], h["author"]) for h in shown["datasheet_history"]] == [(1, "dana"), (2, "chloe")]
    assert shown["datasheet_history"][0]["sha256"] == first_sha
    con = _db(db_path)
    try:
        contents = con.execute("SELECT revision, content FROM documents WHERE kind = 'datasheet' ORDER BY revision"
                               ).fetchall()
    finally:
        con.close()
    assert [(r, json.loads(c)) for r, c in contents] == [(1, yaml.safe_load(DATASHEET)),
                                                          (2, yaml.safe_load(edited_text))]

    before = snapshot(db_path)
    with pytest.raises(BadInput, match="already has exactly this content"):
        populated.edit_datasheet(dana, SAMPLE, edited)
    assert snapshot(db_path) == before
    assert populated.verify().ok


INVALID_SHEETS = [
    pytest.param("motivation: ok\ncomposition: ok\ncolection_process: typo\n", 3, "colection_process",
                 "unknown field", id="unknown-section"),
    pytest.param("motivation: ok\nuses: 42\n", 2, "uses", "valid string", id="number-not-text"),
    pytest.param("motivation: ok\nmaintenance:\n  owner: [a, b]\n", 3, "maintenance.owner", "valid string",
                 id="nested-list-not-text"),
]


@pytest.mark.parametrize("text, line, field, problem", INVALID_SHEETS)
def test_invalid_datasheet_names_file_line_and_field(populated: Countersign, dana: Session, sample_csv: Path,
                                                     tmp_path: Path, db_path: Path, text: str, line: int,
                                                     field: str, problem: str) -> None:
    sheet = write_yaml(tmp_path / "bad-sheet.yaml", text)
    before = snapshot(db_path)
    with pytest.raises(BadInput) as info:
        populated.register_dataset(dana, sample_csv, name="adult-sample", version="1", datasheet=sheet)
    message = info.value.message
    assert f"{sheet}:{line}: {field}: " in message and problem in message and info.value.exit_code == 2
    assert "Traceback" not in message
    assert snapshot(db_path) == before

    populated.register_dataset(dana, sample_csv, name="adult-sample", version="1")
    with pytest.raises(BadInput, match=f"{sheet}:{line}: {field}: "):
        populated.edit_datasheet(dana, SAMPLE, sheet)


def test_model_card_stored_edited_and_validated(populated: Countersign, dana: Session, with_sample: dict[str, Any],
                                                trained: dict[str, Any], tmp_path: Path, db_path: Path) -> None:
    card = write_yaml(tmp_path / "card.yaml", CARD)
    result = register(populated, dana, trained["dir"] / "hgb.skops", card=card, risk_tier="high",
                      code_ref="https://git.example/income@0123abcd")
    shown = populated.model(dana, "income@1")
    assert shown["card"] == yaml.safe_load(CARD) and len(shown["card"]) == 10
    assert shown["risk_tier"] == "high" and shown["code_ref"] == "https://git.example/income@0123abcd"
    assert ledger_actions(db_path)[-1][4]["card_sha256"] == shown["card_history"][0]["sha256"]
    assert result["seq"] == shown["card_history"][0]["seq"]

    lee = login(populated, "lee")
    edited_text = CARD.replace("Trained on 400 rows.", "Trained on 400 rows; no fairness evaluation yet.")
    edited = populated.edit_card(lee, "income@1", write_yaml(tmp_path / "card-v2.yaml", edited_text))
    assert edited["revision"] == 2 and edited["sections_changed"] == ["limitations"]
    last = ledger_actions(db_path)[-1]
    assert last[1:4] == ("lee", "model.model_card_edited", "model:income@1")
    assert last[4]["previous_sha256"] == shown["card_history"][0]["sha256"]
    history = populated.model(dana, "income@1")["card_history"]
    assert [(h["revision"], h["author"]) for h in history] == [(1, "dana"), (2, "lee")]

    bad = write_yaml(tmp_path / "bad-card.yaml", "model_details: ok\nintended_uses: typo\nmetrics: [1, [2]]\n")
    before = snapshot(db_path)
    with pytest.raises(BadInput) as info:
        populated.edit_card(lee, "income@1", bad)
    assert f"{bad}:2: intended_uses: unknown field" in info.value.message
    assert f"{bad}:3: metrics" in info.value.message
    with pytest.raises(BadInput, match=f"{bad}:2: intended_uses: unknown field"):
        register(populated, dana, trained["dir"] / "lr.skops", version="2", card=bad)
    assert snapshot(db_path) == before
    assert populated.verify().ok


def test_auditor_registering_is_denied_and_only_the_refusal_is_written(
        populated: Countersign, with_sample: dict[str, Any], sample_csv: Path, trained: dict[str, Any],
        db_path: Path) -> None:
    aude = login(populated, "aude")
    before = snapshot(db_path)
    with pytest.raises(PermissionDenied, match="data_scientist") as info:
        populated.register_dataset(aude, sample_csv, name="adult-sample", version="2")
    assert info.value.exit_code == 3
    with pytest.raises(PermissionDenied) as info:
        populated.register_model(aude, trained["dir"] / "hgb.skops", name="income", version="1",
                                 trained_on=[SAMPLE])
    assert info.value.exit_code == 3
    after = snapshot(db_path)
    new = after["ledger"][len(before["ledger"]):]
    assert after["ledger"][:len(before["ledger"])] == before["ledger"]
    assert [(r[2], r[4], r[5]) for r in new] == [("aude", "access.denied", "dataset:adult-sample@2"),
                                                 ("aude", "access.denied", "model:income@1")]
    assert {t: rows for t, rows in after.items() if t not in ("ledger", "checkpoints")} == {
        t: rows for t, rows in before.items() if t not in ("ledger", "checkpoints")}
    assert stored_files(db_path) == []
    assert populated.verify().ok


# ----------------------------------------------------------------------------------------------- models
@pytest.mark.parametrize("key, final", [
    ("hgb", "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier"),
    ("lr", "sklearn.linear_model._logistic.LogisticRegression"),
])
def test_skops_round_trip_predicts_identically(populated: Countersign, dana: Session, with_sample: dict[str, Any],
                                               trained: dict[str, Any], db_path: Path, key: str,
                                               final: str) -> None:
    artifact = trained["dir"] / f"{key}.skops"
    result = register(populated, dana, artifact, name=f"income-{key}")
    assert result["created"] is True and result["trusted_pickle"] is False and result["external"] is False
    assert result["artifact_digest"] == sha256sum(artifact)
    assert result["estimator"] == "sklearn.pipeline.Pipeline"
    assert stored_files(db_path) == [f"{result['artifact_digest']}.skops"]

    record, model = populated.load_model(dana, f"income-{key}@1")
    assert record["artifact_digest"] == result["artifact_digest"]
    X_test = trained["X_test"]
    assert np.array_equal(model.predict_proba(X_test), trained[key].predict_proba(X_test))
    assert np.array_equal(model.predict(X_test), trained[key].predict(X_test))

    shown = populated.model(dana, f"income-{key}@1")
    assert shown["framework"].startswith("scikit-learn ") and shown["trained_on"] == [SAMPLE]
    assert shown["features"] == [{"name": f, "type": "BIGINT" if f in NUMERIC else "VARCHAR"} for f in FEATURES]
    entry = ledger_actions(db_path)[-1]
    assert entry[2] == "model.registered" and entry[4]["artifact_sha256"] == result["artifact_digest"]
    assert entry[4]["estimator"] == "sklearn.pipeline.Pipeline" and entry[4]["trusted_pickle"] is False
    assert describe(model)["final_estimator"] == final

    before = snapshot(db_path)
    again = register(populated, dana, artifact, name=f"income-{key}")
    assert again["created"] is False and snapshot(db_path) == before
    other = trained["dir"] / ("lr.skops" if key == "hgb" else "hgb.skops")
    with pytest.raises(BadInput, match="immutable"):
        register(populated, dana, other, name=f"income-{key}")
    assert snapshot(db_path) == before
    assert populated.verify().ok


def test_model_needs_known_training_data(populated: Countersign, dana: Session, trained: dict[str, Any],
                                        db_path: Path) -> None:
    before = snapshot(db_path)
    with pytest.raises(NotFound, match="--trained-on adult@nope"):
        populated.register_model(dana, trained["dir"] / "lr.skops", name="m", version="1", trained_on=["adult@nope"])
    with pytest.raises(BadInput, match="at least one --trained-on"):
        populated.register_model(dana, trained["dir"] / "lr.skops", name="m", version="1")
    assert snapshot(db_path) == before and stored_files(db_path) == []


def test_pickle_without_trust_is_refused_and_nothing_is_written(
        populated: Countersign, dana: Session, with_sample: dict[str, Any], trained: dict[str, Any],
        db_path: Path) -> None:
    before = snapshot(db_path)
    with pytest.raises(BadInput) as info:
        register(populated, dana, trained["dir"] / "lr.pkl")
    assert "--trust-pickle" in info.value.message and "skops" in info.value.message
    assert info.value.exit_code == 2
    assert snapshot(db_path) == before
    assert stored_files(db_path) == []


def _malicious(kind: str, marker: Path, folder: Path) -> Path:
    if kind == "pickle-open":
        path = folder / "evil.pkl"
        path.write_bytes(pickle.dumps(OpensAFile(marker)))
    elif kind == "pickle-shell":
        path = folder / "evil.pickle"
        path.write_bytes(pickle.dumps(RunsAShell(marker), protocol=2))
    elif kind == "pickle-protocol-0":
        path = folder / "evil.pkl"
        path.write_bytes(pickle.dumps(OpensAFile(marker), protocol=0))
    elif kind == "joblib":
        path = folder / "evil.joblib"
        joblib.dump(RunsAShell(marker), path)
    else:  # joblib, zlib-compressed
        path = folder / "evil.joblib"
        joblib.dump(OpensAFile(marker), path, compress=3)
    return path


MALICIOUS_KINDS = ("pickle-open", "pickle-shell", "pickle-protocol-0", "joblib", "joblib-zlib")


def test_malicious_pickles_are_never_unpickled(populated: Countersign, dana: Session, with_sample: dict[str, Any],
                                              tmp_path: Path, db_path: Path) -> None:
    """One database for all variants (each refusal must leave it untouched, so they cannot interfere)."""
    before = snapshot(db_path)
    for kind in MALICIOUS_KINDS:
        # sanity: a twin of the file really creates its marker when unpickled
        (tmp_path / kind / "probe").mkdir(parents=True)
        probe = tmp_path / kind / "probe" / "PROBED"
        twin = _malicious(kind, probe, tmp_path / kind / "probe")
        joblib.load(twin) if "joblib" in kind else pickle.loads(twin.read_bytes())
        assert probe.exists(), kind

        marker = tmp_path / kind / "PWNED"
        evil = _malicious(kind, marker, tmp_path / kind)
        with pytest.raises(BadInput) as info:
            register(populated, dana, evil, name="evil")
        assert info.value.exit_code == 2, kind
        expected = "unsupported model artifact format" if kind == "pickle-protocol-0" else "--trust-pickle"
        assert expected in info.value.message and str(evil) in info.value.message, kind
        assert not marker.exists(), kind
        assert snapshot(db_path) == before and stored_files(db_path) == [], kind


def test_malicious_pickle_is_refused_by_the_cli(populated: Countersign, with_sample: dict[str, Any],
                                               cli_env: dict[str, str], tmp_path: Path, db_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil = _malicious("pickle-open", marker, tmp_path)
    before = snapshot(db_path)
    env = {**cli_env, "COUNTERSIGN_USER": "dana", "COUNTERSIGN_PASSWORD": USERS["dana"][1]}
    result = subprocess.run([*countersign_exe(), "model", "register", str(evil), "--name", "evil", "--version", "1",
                             "--trained-on", SAMPLE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "--trust-pickle" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()
    assert snapshot(db_path) == before and stored_files(db_path) == []


def test_trusted_pickle_is_registered_flagged_and_ledgered(
        populated: Countersign, dana: Session, with_sample: dict[str, Any], trained: dict[str, Any],
        db_path: Path) -> None:
    artifact = trained["dir"] / "lr.pkl"
    result = register(populated, dana, artifact, trust_pickle=True)
    assert result["created"] is True and result["trusted_pickle"] is True
    assert populated.model(dana, "income@1")["trusted_pickle"] is True
    assert [m["trusted_pickle"] for m in populated.models(dana)] == [True]
    entries = ledger_actions(db_path)[-2:]
    # the trust is ledgered before the file is unpickled, then the registration
    assert [(e[1], e[2], e[3]) for e in entries] == [("dana", "model.pickle_trusted", "model:income@1"),
                                                    ("dana", "model.registered", "model:income@1")]
    assert entries[1][4]["trusted_pickle"] is True and entries[1][4]["artifact_format"] == "pickle"
    assert entries[0][4]["artifact_sha256"] == sha256sum(artifact) and "dana trusts" in entries[0][4]["statement"]
    assert stored_files(db_path) == [f"{sha256sum(artifact)}.pickle"]
    _, model = populated.load_model(dana, "income@1")
    X_test = trained["X_test"]
    assert np.array_equal(model.predict_proba(X_test), trained["lr"].predict_proba(X_test))
    assert populated.verify().ok


def test_external_model_has_no_artifact_and_cannot_be_loaded(
        populated: Countersign, dana: Session, with_sample: dict[str, Any], trained: dict[str, Any],
        db_path: Path) -> None:
    result = populated.register_model(dana, None, name="vendor-score", version="2024.1", trained_on=[SAMPLE],
                                      external=True, features=["age", "hours_per_week", "occupation", "zip"])
    assert result["external"] is True and result["artifact_digest"] is None and result["estimator"] is None
    shown = populated.model(dana, "vendor-score@2024.1")
    assert shown["features"] == [{"name": "age", "type": "BIGINT"}, {"name": "hours_per_week", "type": "BIGINT"},
                                 {"name": "occupation", "type": "VARCHAR"}, {"name": "zip", "type": "unknown"}]
    assert stored_files(db_path) == []
    with pytest.raises(BadInput, match="external") as info:
        populated.load_model(dana, "vendor-score@2024.1")
    assert "vendor-score@2024.1" in info.value.message
    with pytest.raises(BadInput, match="no artifact"):
        populated.register_model(dana, trained["dir"] / "lr.skops", name="vendor-score", version="2024.2",
                                 trained_on=[SAMPLE], external=True)
    assert populated.verify().ok


@pytest.mark.parametrize("make, expected", [
    (NotOnAllowList, f"{__name__}.NotOnAllowList"),
    (lambda: FunctionTransformer(math.sqrt), "math.sqrt"),
])
def test_skops_type_off_the_allow_list_is_refused_by_name(
        populated: Countersign, dana: Session, with_sample: dict[str, Any], tmp_path: Path, db_path: Path,
        make: Any, expected: str) -> None:
    artifact = tmp_path / "odd.skops"
    sio.dump(make(), artifact)
    untrusted = sio.get_untrusted_types(file=artifact)
    assert expected in untrusted
    before = snapshot(db_path)
    with pytest.raises(BadInput, match="not on the allow-list") as info:
        register(populated, dana, artifact, name="odd")
    for name in untrusted:
        assert name in info.value.message
    assert snapshot(db_path) == before and stored_files(db_path) == []


def test_tampered_stored_artifact_is_refused_naming_digests(
        populated: Countersign, dana: Session, with_sample: dict[str, Any], trained: dict[str, Any],
        db_path: Path) -> None:
    result = register(populated, dana, trained["dir"] / "lr.skops")
    stored = store_dir(db_path) / f"{result['artifact_digest']}.skops"
    flip_byte(stored, stored.stat().st_size // 2)
    with pytest.raises(BadInput) as info:
        populated.load_model(dana, "income@1")
    assert result["artifact_digest"] in info.value.message and sha256sum(stored) in info.value.message
    stored.unlink()
    with pytest.raises(BadInput, match="missing"):
        populated.load_model(dana, "income@1")


def test_unauthorised_trust_pickle_runs_nothing(populated: Countersign, with_sample: dict[str, Any],
                                                tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil = _malicious("pickle-open", marker, tmp_path)
    with pytest.raises(PermissionDenied):
        register(populated, login(populated, "aude"), evil, name="evil", trust_pickle=True)
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------- lineage
def test_lineage_upstream_of_a_model_and_dot(populated: Countersign, dana: Session, sample_csv: Path,
                                             trained: dict[str, Any]) -> None:
    raw = populated.register_dataset(dana, ADULT, name="adult", version="1994")
    sample = populated.register_dataset(dana, sample_csv, name="adult-sample", version="1",
                                        derived_from=["adult@1994"])
    assert populated.dataset(dana, SAMPLE)["derived_from"] == ["adult@1994"]
    model = register(populated, dana, trained["dir"] / "hgb.skops")

    graph = populated.lineage(dana, "model:income@1", "upstream")
    assert graph["root"] == "model:income@1" and graph["direction"] == "upstream"
    digests = {n["id"]: n["digest"] for n in graph["nodes"]}
    assert digests == {"dataset:adult@1994": sha256sum(ADULT), f"dataset:{SAMPLE}": sha256sum(sample_csv),
                       "model:income@1": model["artifact_digest"]}
    assert raw["digest"] == digests["dataset:adult@1994"] and sample["digest"] == digests[f"dataset:{SAMPLE}"]
    assert {(e["from"], e["to"], e["kind"]) for e in graph["edges"]} == {
        ("dataset:adult@1994", f"dataset:{SAMPLE}", "derived_from"),
        (f"dataset:{SAMPLE}", "model:income@1", "trained_on")}
    assert {n["id"]: n["kind"] for n in graph["nodes"]}["model:income@1"] == "model"

    dot = to_dot(graph)
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    for node_id, digest in digests.items():
        assert f'"{node_id}"' in dot and digest[:12] in dot
    assert f'"dataset:adult@1994" -> "dataset:{SAMPLE}"' in dot

    down = populated.lineage(dana, "adult@1994", "downstream")  # a bare NAME@VERSION resolves too
    assert {n["id"] for n in down["nodes"]} == set(digests)
    with pytest.raises(NotFound):
        populated.lineage(dana, "model:nope@1", "upstream")
    assert populated.verify().ok


@pytest.mark.parametrize("make", [lambda: __import__("sklearn.ensemble", fromlist=["x"]).RandomForestClassifier(
    n_estimators=5, random_state=0), lambda: __import__("sklearn.tree", fromlist=["x"]).DecisionTreeClassifier(
    max_depth=3, random_state=0)])
def test_tree_models_saved_with_skops_register_and_load(populated: Countersign, dana: Session,
                                                        with_sample: dict[str, Any], trained: dict[str, Any],
                                                        tmp_path: Path, make: Any) -> None:
    X, y = trained["X_test"], trained["lr"].predict(trained["X_test"])
    numeric = X.select_dtypes("number")
    model = make().fit(numeric, y)
    sio.dump(model, tmp_path / "tree.skops")
    register(populated, dana, tmp_path / "tree.skops", name="tree")
    _, loaded = populated.load_model(dana, "tree@1")
    assert np.array_equal(loaded.predict_proba(numeric), model.predict_proba(numeric))
