"""Issue #11's observed inputs, through the CLI as a user runs them: each must be refused (exit 2, nothing stored),
fail with a reason (exit 1), or give the right value — never pass on a value that was not measured."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.api.countersign import Countersign
from tests.conftest import USERS, run_cli


def dana(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args, user="dana", password=USERS["dana"][1])


def _stored(env: dict[str, str]) -> int:
    con = duckdb.connect(env["COUNTERSIGN_DB"], read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM evaluations").fetchall()[0][0])
    finally:
        con.close()


def _setup(populated: Countersign, env: dict[str, str], tmp: Path, frame: pd.DataFrame,
           reference: pd.DataFrame | None = None) -> None:
    """Register ``frame`` as data@1 (and ``reference`` as ref@1) and an external model m@1 trained on it."""
    session = populated.login("dana", USERS["dana"][1])
    frame.to_csv(tmp / "data.csv", index=False)
    populated.register_dataset(session, tmp / "data.csv", name="data", version="1")
    trained_on = "data@1"
    if reference is not None:
        reference.to_csv(tmp / "ref.csv", index=False)
        populated.register_dataset(session, tmp / "ref.csv", name="ref", version="1")
        trained_on = "ref@1"
    populated.register_model(session, None, name="m", version="1", trained_on=[trained_on], external=True)


def _policy(tmp: Path, body: str, name: str = "p.yaml") -> str:
    path = tmp / name
    path.write_text("policy: p\nversion: 1\n" + body, encoding="utf-8")
    return str(path)


def _evaluate(env: dict[str, str], policy: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return dana(env, "evaluate", "m@1", "--data", "data@1", "--policy", policy, "--label", "y", *extra)


# 1. the positive label absent from the data --------------------------------------------------------------------------
INCOME = pd.DataFrame({
    "y": [">50K", ">50K", ">50K", "<=50K", "<=50K", "<=50K", "<=50K", "<=50K"],
    "p": [">50K", ">50K", "<=50K", "<=50K", "<=50K", ">50K", "<=50K", "<=50K"],
    "sex": ["F", "M", "F", "M", "F", "M", "F", "M"],
})
ACCURACY_AND_DP = """checks:
  - id: acc
    metric: accuracy
    gte: 0.5
  - id: dp
    fairness: demographic_parity_difference
    sensitive_feature: sex
    min_group_size: 1
    lte: 0.9
"""


def test_positive_label_absent_is_refused_naming_the_values(populated: Countersign, cli_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    _setup(populated, cli_env, tmp_path, INCOME)
    refused = _evaluate(cli_env, _policy(tmp_path, ACCURACY_AND_DP), "--prediction-column", "p")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "check dp" in refused.stderr and "'>50K' (3)" in refused.stderr and "'<=50K' (5)" in refused.stderr
    assert "positive_label" in refused.stderr and "Traceback" not in refused.stderr
    assert _stored(cli_env) == 0  # nothing written

    # accuracy needs no positive class: 6 of 8 right, whatever the positive class
    only_accuracy = _policy(tmp_path, "checks:\n  - id: acc\n    metric: accuracy\n    gte: 0.5\n", "acc.yaml")
    result = _evaluate(cli_env, only_accuracy, "--prediction-column", "p", "--json")
    assert result.returncode == 0, result.stderr
    (acc,) = json.loads(result.stdout)["checks"]
    assert acc["value"] == 0.75 and acc["details"]["data"]["label_classes"] == {"<=50K": 5, ">50K": 3}

    # declared, the same data evaluates: selection rates F 1/4, M 2/4
    declared = _evaluate(cli_env, _policy(tmp_path, ACCURACY_AND_DP), "--prediction-column", "p",
                         "--positive-label", ">50K", "--json")
    assert declared.returncode == 0, declared.stderr
    checks = {c["id"]: c for c in json.loads(declared.stdout)["checks"]}
    assert checks["dp"]["value"] == 0.25 and checks["dp"]["details"]["data"]["positive_class"] == ">50K"
    assert checks["acc"]["value"] == 0.75


# 2. NaN scores ------------------------------------------------------------------------------------------------------
SCORES = pd.DataFrame({"y": [0, 0, 0, 0, 1, 1, 1, 1],
                       "s": [0.1, 0.5, 0.6, 0.7, 0.2, np.nan, np.nan, np.nan]})


def test_nan_scores_are_refused_or_dropped_and_counted(populated: Countersign, cli_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    frame = SCORES.copy()
    frame["s"] = frame["s"].map(lambda v: "nan" if np.isnan(v) else v)  # as a model writing float('nan') would
    _setup(populated, cli_env, tmp_path, frame)
    auc = "checks:\n  - id: auc\n    metric: roc_auc\n    gte: 0.5\n"
    refused = _evaluate(cli_env, _policy(tmp_path, auc), "--score-column", "s")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "score column 's' has 3 NaN (of 8 rows)" in refused.stderr and "missing: drop" in refused.stderr
    assert _stored(cli_env) == 0

    dropped = _evaluate(cli_env, _policy(tmp_path, auc + "    missing: drop\n", "drop.yaml"), "--score-column", "s",
                        "--json")
    assert dropped.returncode == 1, dropped.stderr  # AUC on the finite rows is 0.25: the check fails
    (check,) = json.loads(dropped.stdout)["checks"]
    assert check["value"] == 0.25 and check["passed"] is False
    assert check["details"]["data"]["dropped"] == 3
    assert check["details"]["data"]["dropped_because"] == {"score column 's'": {"NaN": 3}}

    recall = ("checks:\n  - id: recall\n    metric: recall\n    decision_threshold: 0.5\n    gte: 0.1\n"
              "    missing: drop\n")
    shown = _evaluate(cli_env, _policy(tmp_path, recall, "recall.yaml"), "--score-column", "s", "--json")
    (check,) = json.loads(shown.stdout)["checks"]
    assert check["details"]["decision"] == "score >= 0.5"  # the threshold applied, never "score >= None"
    assert check["details"]["confusion"] == {"tp": 0, "fp": 3, "tn": 1, "fn": 1}  # NaN never counts as positive
    assert shown.returncode == 1 and check["value"] == 0.0


# 3. drift columns entirely empty in the current data -----------------------------------------------------------------
def test_columns_gone_missing_are_the_largest_drift(populated: Countersign, cli_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"income": rng.normal(50, 10, 200).round(2), "region": rng.choice(["N", "S"], 200),
                              "y": rng.integers(0, 2, 200)})
    current = pd.DataFrame({"income": [None] * 200, "region": [None] * 200, "y": rng.integers(0, 2, 200),
                            "p": rng.integers(0, 2, 200)})
    _setup(populated, cli_env, tmp_path, current, reference)
    policy = _policy(tmp_path, "checks:\n  - id: drift\n    drift: psi\n    columns: [income, region]\n"
                               "    max_drifted_share: 0.3\n")
    result = _evaluate(cli_env, policy, "--prediction-column", "p", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    assert check["value"] == 1.0 and check["passed"] is False
    assert check["details"]["drifted_columns"] == ["income", "region"]
    for column in ("income", "region"):
        entry = check["details"]["columns"][column]
        assert entry["drifted"] is True and entry["current"]["missing_share"] == 1.0
        assert entry["reference"]["missing_share"] == 0.0 and "missing share" in entry["reason"]


# 4. multiclass labels ------------------------------------------------------------------------------------------------
def _multiclass() -> pd.DataFrame:
    y = [0, 1, 2] * 20
    group = ["A"] * 30 + ["B"] * 30
    p = [2 if (g == "B" and t == 0) else t for t, g in zip(y, group, strict=True)]
    return pd.DataFrame({"y": y, "p": p, "group": group})


def test_multiclass_is_exact_match_and_binary_metrics_need_a_positive_class(
        populated: Countersign, cli_env: dict[str, str], tmp_path: Path) -> None:
    _setup(populated, cli_env, tmp_path, _multiclass())
    body = ("checks:\n  - id: acc\n    metric: accuracy\n    gte: 0.8\n  - id: eo\n"
            "    fairness: equalized_odds_difference\n    sensitive_feature: group\n    lte: 0.1\n")
    refused = _evaluate(cli_env, _policy(tmp_path, body), "--prediction-column", "p")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "check eo" in refused.stderr and "3 classes" in refused.stderr and "positive_label" in refused.stderr
    assert _stored(cli_env) == 0

    accuracy = _evaluate(cli_env, _policy(tmp_path, "checks:\n  - id: acc\n    metric: accuracy\n    gte: 0.8\n",
                                          "acc.yaml"), "--prediction-column", "p", "--json")
    (acc,) = json.loads(accuracy.stdout)["checks"]
    assert acc["value"] == pytest.approx(50 / 60, abs=1e-12) and acc["details"]["data"]["task"] == "multiclass"

    macro = _evaluate(cli_env, _policy(tmp_path, "checks:\n  - id: r\n    metric: recall\n    average: macro\n"
                                                 "    gte: 0.9\n", "macro.yaml"), "--prediction-column", "p", "--json")
    (r,) = json.loads(macro.stdout)["checks"]
    assert macro.returncode == 1 and r["value"] == pytest.approx((0.5 + 1 + 1) / 3, abs=1e-12)

    # one-vs-rest with class 0 declared: group B never predicts 0 for a true 0 — TPR 1.0 vs 0.0
    ovr = _evaluate(cli_env, _policy(tmp_path, body), "--prediction-column", "p", "--positive-label", "0", "--json")
    assert ovr.returncode == 1, ovr.stderr
    eo = {c["id"]: c for c in json.loads(ovr.stdout)["checks"]}["eo"]
    assert eo["value"] == 1.0 and eo["details"]["data"]["one_vs_rest"] is True
    assert eo["details"]["data"]["positive_class"] == 0


# 5. explanations through a common pipeline shape --------------------------------------------------------------------
def test_explanations_through_a_scaler_after_the_encoder_name_input_columns(
        populated: Countersign, cli_env: dict[str, str], tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "region": rng.choice(["N", "S", "E"], n),
                          "income": rng.normal(50, 10, n).round(2)})
    frame["y"] = ((frame["sex"] == "M").astype(int) ^ (rng.random(n) < 0.1)).astype(int)
    model = Pipeline([("ct", ColumnTransformer([("oh", OneHotEncoder(), ["sex", "region"]),
                                                ("num", "passthrough", ["income"])])),
                      ("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(frame[["sex", "region",
                                                                                              "income"]], frame["y"])
    sio.dump(model, tmp_path / "model.skops")
    frame.to_csv(tmp_path / "data.csv", index=False)
    session = populated.login("dana", USERS["dana"][1])
    populated.register_dataset(session, tmp_path / "data.csv", name="data", version="1")
    populated.register_model(session, tmp_path / "model.skops", name="m", version="1", trained_on=["data@1"])
    policy = _policy(tmp_path, "checks:\n  - id: proxy\n    explain: shap_top_features\n    top_k: 1\n"
                               "    must_not_include: [sex]\n    sample_size: 100\n")
    result = _evaluate(cli_env, policy, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    assert check["details"]["top_features"] == ["sex"] and check["details"]["violations"] == ["sex"]
    assert set(check["details"]["importance"]) == {"sex", "region", "income"}


# found by trying the change as a new user --------------------------------------------------------------------------
def _csv(tmp: Path, text: str) -> Path:
    path = tmp / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _engine(path: Path, body: str, **extra: object) -> list[dict[str, object]]:
    from core.evaluation.engine import EvalInputs, Evaluator
    from core.policy.rules import parse_policy

    policy = parse_policy("policy: p\nversion: 1\n" + body, "p.yaml")
    return Evaluator(EvalInputs(policy=policy, data_path=path, data_format="csv", label="y",
                                prediction_column="p", **extra)).run()["checks"]  # type: ignore[arg-type]


ACCURACY = "checks:\n  - id: a\n    metric: accuracy\n    gte: 0.8\n"


def test_pandas_missing_markers_are_missing_not_classes(tmp_path: Path) -> None:
    from core.errors import BadInput

    path = _csv(tmp_path, "y,p\ncat,cat\ndog,dog\ncat,dog\nNA,NA\nNULL,NULL\nNone,None\ndog,dog\nN/A,N/A\n")
    with pytest.raises(BadInput, match="missing-value marker"):
        _engine(path, ACCURACY)
    (check,) = _engine(path, ACCURACY.replace("gte: 0.8", "gte: 0.8\n    missing: drop"))
    assert check["value"] == 0.75 and check["passed"] is False  # 3 of the 4 present rows


def test_yes_no_text_is_never_compared_with_numbers(tmp_path: Path) -> None:
    from core.errors import BadInput

    with pytest.raises(BadInput, match="text values \\('yes'"):
        _engine(_csv(tmp_path, "y,p\n1,yes\n0,no\n1,yes\n0,yes\n1,yes\n"), ACCURACY)
    (check,) = _engine(_csv(tmp_path, "y,p\nyes,yes\nno,no\nyes,no\nno,no\nyes,yes\n"),
                       "positive_label: 'yes'\nchecks:\n  - id: r\n    metric: recall\n    gte: 0.5\n")
    assert check["value"] == pytest.approx(2 / 3) and check["details"]["data"]["positive_class"] == "yes"
    (same,) = _engine(_csv(tmp_path, "y,p\nYes,YES\nNo,NO\nYes,YES\nNo,NO\n"), ACCURACY)
    assert same["value"] == 0.0  # compared as the text pandas keeps, not as booleans


def test_numbers_with_blank_labels_are_numbers_and_blanks_can_be_dropped(tmp_path: Path) -> None:
    path = _csv(tmp_path, "y,p\n1,1\n0,0\n  ,1\n1,0\n0,0\n,1\n")
    (check,) = _engine(path, ACCURACY.replace("gte: 0.8", "gte: 0.5\n    missing: drop"))
    assert check["value"] == 0.75 and check["details"]["data"]["dropped"] == 2


def test_a_dataset_with_infinities_registers(populated: Countersign, tmp_path: Path) -> None:
    dana = populated.login("dana", USERS["dana"][1])
    path = _csv(tmp_path, "y,s\n1,0.9\n0,inf\n1,-inf\n")
    assert populated.register_dataset(dana, path, name="inf", version="1")["rows"] == 3


def test_a_model_fitted_on_arrays_needs_its_input_names(populated: Countersign, tmp_path: Path) -> None:
    """Columns are never guessed: the label must not become an input because the counts happen to match."""
    from core.errors import BadInput

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(size=60), "sex": rng.integers(0, 2, 60)})
    frame["y"] = (frame["a"] > 0).astype(int)
    model = LogisticRegression().fit(frame[["a", "sex", "y"]].to_numpy(), frame["y"])  # 3 inputs, no names
    sio.dump(model, tmp_path / "m.skops")
    frame.to_csv(tmp_path / "data.csv", index=False)
    dana = populated.login("dana", USERS["dana"][1])
    populated.register_dataset(dana, tmp_path / "data.csv", name="data", version="1")
    populated.register_model(dana, tmp_path / "m.skops", name="m", version="1", trained_on=["data@1"])
    policy = tmp_path / "p.yaml"
    policy.write_text("policy: p\nversion: 1\n" + ACCURACY, encoding="utf-8")
    with pytest.raises(BadInput, match="no input column names"):
        populated.evaluate(dana, "m@1", data="data@1", policy=str(policy), label="y")
    with pytest.raises(BadInput, match="takes 3 input"):
        populated.register_model(dana, tmp_path / "m.skops", name="m", version="2", trained_on=["data@1"],
                                 features=["a", "sex"])
    populated.register_model(dana, tmp_path / "m.skops", name="m", version="3", trained_on=["data@1"],
                             features=["a", "sex", "extra"])
    assert [f["name"] for f in populated.model(dana, "m@3")["features"]] == ["a", "sex", "extra"]
    with pytest.raises(BadInput, match="lacks the model's input column"):
        populated.evaluate(dana, "m@3", data="data@1", policy=str(policy), label="y")


def test_reserved_names_exact_classes_and_parquet_text_markers(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.errors import BadInput
    from core.evaluation.engine import EvalInputs, Evaluator
    from core.policy.rules import parse_policy

    def run(table: pa.Table, body: str = ACCURACY, **extra: object) -> list[dict[str, object]]:
        pq.write_table(table, tmp_path / "d.parquet")
        policy = parse_policy("policy: p\nversion: 1\n" + body, "p.yaml")
        return Evaluator(EvalInputs(policy=policy, data_path=tmp_path / "d.parquet", data_format="parquet",
                                    label="y", **extra)).run()["checks"]  # type: ignore[arg-type]

    with pytest.raises(BadInput, match="reserves"):  # a column cannot stand in for the declared predictions
        run(pa.table({"y": [1, 0] * 4, "p": [0, 1] * 4, "__cs_prediction": [1, 0] * 4}), prediction_column="p")
    big = 2**53
    with pytest.raises(BadInput, match="exactly"):
        run(pa.table({"y": [big, big + 1] * 2, "p": [big + 1, big] * 2}), prediction_column="p")
    (check,) = run(pa.table({"y": ["NA", "EU"] * 4, "p": ["NA", "EU"] * 4}), prediction_column="p")
    assert check["value"] == 1.0  # in Parquet, "NA" is the text of a class (North America), not a missing value
    with pytest.raises(BadInput, match="continuous"):
        run(pa.table({"y": [0.1, 0.2] * 4, "p": [0.1, 0.2] * 4}), prediction_column="p")
    with pytest.raises(BadInput, match="not class labels"):
        run(pa.table({"y": [[1], [0]] * 2, "p": [[1], [0]] * 2}), prediction_column="p")


def test_digit_separators_are_text_as_pandas_reads_them(tmp_path: Path) -> None:
    from core.errors import BadInput

    with pytest.raises(BadInput, match="mix of label input types"):
        _engine(_csv(tmp_path, "y,p\n1_0,10\n2_0,20\n"), ACCURACY)
