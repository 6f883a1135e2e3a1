"""``countersign dataset|model|lineage`` as a user runs them: real subprocesses on a real database and real data."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.api.countersign import Countersign
from tests.cli.test_main import run
from tests.conftest import USERS

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "data" / "adult" / "adult.data"
COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
           "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
           "income"]
DANA = {"user": "dana", "password": USERS["dana"][1]}
N_ROWS = 300


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ledger_size(db: str) -> int:
    con = duckdb.connect(db)
    try:
        return con.execute("SELECT count(*) FROM ledger").fetchall()[0][0]
    finally:
        con.close()


def write_sample(path: Path, rows: int = N_ROWS) -> Path:
    """The first ``rows`` rows of the real adult.data as a headed CSV."""
    with ADULT.open() as fh:
        lines = [next(fh).rstrip("\n").replace(", ", ",") for _ in range(rows)]
    path.write_text(",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny real pipeline, saved with skops and (for the refusal) as a pickle."""
    folder = tmp_path_factory.mktemp("cli-models")
    df = pd.read_csv(write_sample(folder / "train.csv"))
    numeric, categorical = ["age", "education_num", "hours_per_week"], ["workclass", "sex"]
    model = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), numeric),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])),
        ("clf", LogisticRegression(max_iter=500)),
    ]).fit(df[numeric + categorical], df["income"] == ">50K")
    sio.dump(model, folder / "income.skops")
    (folder / "income.pkl").write_bytes(pickle.dumps(model))
    return {"skops": folder / "income.skops", "pickle": folder / "income.pkl"}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "adult-sample.csv")


def test_dataset_register_json_then_same_content_again(populated: Countersign, cli_env: dict[str, str],
                                                       sample: Path) -> None:
    result = run(cli_env, "dataset", "register", str(sample), "--name", "adult-sample", "--version", "1", "--json",
                 **DANA)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["ref"] == "adult-sample@1" and body["name"] == "adult-sample" and body["version"] == "1"
    assert body["digest"] == sha256(sample) and body["format"] == "csv" and body["rows"] == N_ROWS
    assert body["size_bytes"] == sample.stat().st_size and body["registered_by"] == "dana"
    assert body["created"] is True and isinstance(body["seq"], int)
    size = ledger_size(cli_env["COUNTERSIGN_DB"])
    assert size == body["seq"] + 1

    again = run(cli_env, "dataset", "register", str(sample), "--name", "adult-sample", "--version", "1", **DANA)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Already registered (same content) adult-sample@1")
    assert sha256(sample) in again.stdout
    assert ledger_size(cli_env["COUNTERSIGN_DB"]) == size


def test_other_content_under_the_same_ref_exits_2_naming_both_digests(
        populated: Countersign, cli_env: dict[str, str], sample: Path, tmp_path: Path) -> None:
    first = populated.register_dataset(populated.login("dana", DANA["password"]), sample, name="adult-sample",
                                       version="1")
    other = write_sample(tmp_path / "bigger.csv", N_ROWS + 1)
    before = ledger_size(cli_env["COUNTERSIGN_DB"])
    result = run(cli_env, "dataset", "register", str(other), "--name", "adult-sample", "--version", "1", **DANA)
    assert result.returncode == 2
    assert first["digest"] in result.stderr and sha256(other) in result.stderr
    assert "new version" in result.stderr and "Traceback" not in result.stderr
    assert ledger_size(cli_env["COUNTERSIGN_DB"]) == before


def test_dataset_check_exits_2_after_the_file_changes(populated: Countersign, cli_env: dict[str, str],
                                                      sample: Path) -> None:
    registered = populated.register_dataset(populated.login("dana", DANA["password"]), sample,
                                            name="adult-sample", version="1")
    ok = run(cli_env, "dataset", "check", "adult-sample@1", "--json", **DANA)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"ref": "adult-sample@1", "path": str(sample.resolve()),
                                     "digest": registered["digest"], "unchanged": True}
    sample.write_text(sample.read_text().replace("State-gov", "State-gow", 1))
    changed = run(cli_env, "dataset", "check", "adult-sample@1", **DANA)
    assert changed.returncode == 2
    assert registered["digest"] in changed.stderr and sha256(sample) in changed.stderr
    assert "Traceback" not in changed.stderr


def test_model_register_of_a_pickle_exits_2_pointing_at_trust_pickle(
        populated: Countersign, cli_env: dict[str, str], sample: Path, models: dict[str, Path]) -> None:
    populated.register_dataset(populated.login("dana", DANA["password"]), sample, name="adult-sample", version="1")
    before = ledger_size(cli_env["COUNTERSIGN_DB"])
    refused = run(cli_env, "model", "register", str(models["pickle"]), "--name", "income", "--version", "1",
                  "--trained-on", "adult-sample@1", **DANA)
    assert refused.returncode == 2
    assert "--trust-pickle" in refused.stderr and "Traceback" not in refused.stderr
    assert ledger_size(cli_env["COUNTERSIGN_DB"]) == before



def test_lineage_dot_and_upstream_json(populated: Countersign, cli_env: dict[str, str], sample: Path,
                                       models: dict[str, Path]) -> None:
    dana = populated.login("dana", DANA["password"])
    raw = populated.register_dataset(dana, ADULT, name="adult", version="1994")
    derived = populated.register_dataset(dana, sample, name="adult-sample", version="1", derived_from=["adult@1994"])
    model = populated.register_model(dana, models["skops"], name="income", version="1",
                                     trained_on=["adult-sample@1"])
    assert model["artifact_digest"] == sha256(models["skops"])

    dot = run(cli_env, "lineage", "model:income@1", "--format", "dot", **DANA)
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph lineage {") and dot.stdout.rstrip().endswith("}")
    for node, digest in (("dataset:adult@1994", raw["digest"]), ("dataset:adult-sample@1", derived["digest"]),
                         ("model:income@1", model["artifact_digest"])):
        assert f'"{node}"' in dot.stdout and digest[:12] in dot.stdout
    assert '"dataset:adult-sample@1" -> "model:income@1" [label="trained_on"]' in dot.stdout

    up = run(cli_env, "lineage", "income@1", "--upstream", "--format", "json", **DANA)
    assert up.returncode == 0, up.stderr
    graph = json.loads(up.stdout)
    assert graph["root"] == "model:income@1" and graph["direction"] == "upstream"
    assert {n["id"]: n["digest"] for n in graph["nodes"]} == {
        "dataset:adult@1994": raw["digest"], "dataset:adult-sample@1": derived["digest"],
        "model:income@1": model["artifact_digest"]}
    assert sorted((e["from"], e["kind"]) for e in graph["edges"]) == [
        ("dataset:adult-sample@1", "trained_on"), ("dataset:adult@1994", "derived_from")]


def test_dataset_register_reads_a_headerless_space_separated_file_as_told(
        populated: Countersign, cli_env: dict[str, str]) -> None:
    german = Path(__file__).resolve().parents[2] / "data" / "german-credit" / "german.data"
    result = run(cli_env, "dataset", "register", str(german), "--name", "german-raw", "--version", "1",
                 "--delimiter", "space", "--no-header", "--columns", "checking, duration", "--json", **DANA)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["rows"] == 1000 and body["csv"] == {"delimiter": " ", "header": False,
                                                     "columns": ["checking", "duration"]}
    shown = run(cli_env, "dataset", "show", "german-raw@1", **DANA)
    assert "read as CSV with: delimiter space, no header line, columns checking, duration" in shown.stdout
    assert "column02" in shown.stdout  # columns beyond the given names keep DuckDB's names

    before = ledger_size(cli_env["COUNTERSIGN_DB"])
    bad = run(cli_env, "dataset", "register", str(german), "--name", "german-raw", "--version", "2",
              "--delimiter", "ab", **DANA)
    assert bad.returncode == 2 and "CSV delimiter must be one character" in bad.stderr
    assert "Traceback" not in bad.stderr and ledger_size(cli_env["COUNTERSIGN_DB"]) == before
