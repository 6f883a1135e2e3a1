"""The Spark engine against the DuckDB engine on the same data: every metric, fairness rate and drift statistic equal
(to 1e-12 relative: only the order of additions differs), on real data (UCI Adult with a fitted model's logged
predictions) and on generated data covering every check kind, missing-value kind and column type; a Parquet folder
through the CLI; and the refusals (CSV, model artifacts).

Spark runs for real: PySpark from the package index on Debian's Java 17 (scripts/bootstrap), ``local[2]``. Without
Java or PySpark these tests are skipped, unless ``COUNTERSIGN_REQUIRE_SPARK=1`` (CI sets it in .ci/run): then they
fail, saying what is missing.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from core.api.countersign import Countersign
from core.demo import data as demo_data
from core.errors import BadInput
from core.evaluation.engine import EvalInputs, Evaluator
from core.evaluation.engines import Engine
from core.evaluation.statistics import DataFile
from core.policy.rules import load_policy_file, parse_policy
from tests.conftest import USERS, run_cli
from tests.core.evaluation.spark_engine import MASTER, differences

ROOT = Path(__file__).resolve().parents[3]


def _outcome(inputs: EvalInputs) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(Evaluator(inputs).run())))
    except BadInput as refused:  # refused input: the same refusal, word for word, on both engines
        return {"refused": str(refused)}


def both(inputs: EvalInputs, spark: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outcome on DuckDB and on Spark: results as stored (JSON), or ``{"refused": message}``."""
    duck = _outcome(inputs)
    inputs.engine = spark
    return duck, _outcome(inputs)


# ------------------------------------------------------------------------------------------------ the demo data
@pytest.fixture(scope="module")
def adult_log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """UCI Adult: the training set as the reference, and the test set as a prediction log (a fitted pipeline's
    predictions and positive-class scores as columns), both as Parquet."""
    folder = tmp_path_factory.mktemp("adult")
    prepared = demo_data.prepare_all(folder / "prepared")
    train, test = pd.read_csv(prepared["adult-train"]), pd.read_csv(prepared["adult-test"])
    features = demo_data.ADULT_NUMERIC + demo_data.ADULT_CATEGORICAL
    model = demo_data._pipeline(demo_data.ADULT_NUMERIC, demo_data.ADULT_CATEGORICAL,
                                LogisticRegression(max_iter=500)).fit(train[features], train[demo_data.ADULT_LABEL])
    test["prediction"] = model.predict(test[features])
    test["score"] = model.predict_proba(test[features])[:, 1]
    paths = {"reference": folder / "train.parquet", "log": folder / "log.parquet"}
    train.to_parquet(paths["reference"], index=False)
    test.to_parquet(paths["log"], index=False)
    return paths


@pytest.mark.parametrize("policy_file", sorted((ROOT / "policies").glob("*.yaml")), ids=lambda p: p.name)
def test_the_repository_policies_give_equal_results_on_adult(policy_file: Path, adult_log: dict[str, Path],
                                                             spark: Engine) -> None:
    policy, _text, _sha = load_policy_file(policy_file)
    inputs = EvalInputs(policy=policy, data_path=adult_log["log"], data_format="parquet",
                        label=demo_data.ADULT_LABEL, reference_path=adult_log["reference"],
                        reference_format="parquet", prediction_column="prediction", score_column="score",
                        card={"intended_use": "x", "limitations": "y"})
    duck, other = both(inputs, spark)
    assert not differences(duck, other)
    assert duck["engine"]["name"] == "duckdb" and other["engine"]["name"] == "spark"
    assert other["engine"]["master"] == MASTER and other["engine"]["approximations"] == []
    kinds = {c["kind"] for c in duck["checks"]}
    assert {"metric", "fairness", "drift"} <= kinds, kinds


def test_drift_auto_and_every_fairness_metric_on_adult(adult_log: dict[str, Path], spark: Engine) -> None:
    from core.policy.rules import FAIRNESS_METRICS

    checks = "".join(f"  - {{id: f{i}, fairness: {name}, sensitive_feature: sex, lte: 1.0, min_group_size: 1}}\n"
                     for i, name in enumerate(FAIRNESS_METRICS))
    policy = parse_policy("policy: adult-all\nversion: 1\nchecks:\n" + checks +
                          "  - {id: auto, drift: auto, columns: all, max_drifted_share: 1.0}\n", "adult-all.yaml")
    inputs = EvalInputs(policy=policy, data_path=adult_log["log"], data_format="parquet",
                        label=demo_data.ADULT_LABEL, reference_path=adult_log["reference"],
                        reference_format="parquet", prediction_column="prediction", score_column="score")
    duck, other = both(inputs, spark)
    assert not differences(duck, other)
    methods = {c.get("method") for c in duck["checks"][-1]["details"]["columns"].values()}
    assert {"wasserstein", "jensenshannon"} <= methods, methods


# ------------------------------------------------------------------------------------------------ generated data
EVERY_KIND = """
policy: spark-every-kind
version: 1
checks:
  - {id: acc, metric: accuracy, gte: 0.5, missing: drop}
  - {id: bal, metric: balanced_accuracy, gte: 0.1, missing: drop}
  - {id: prec, metric: precision, gte: 0.1, missing: drop}
  - {id: rec-at, metric: recall, decision_threshold: 0.35, gte: 0.1, missing: drop}
  - {id: f1-macro, metric: f1, average: macro, gte: 0.1, missing: drop}
  - {id: f1-weighted, metric: f1, average: weighted, gte: 0.1, missing: drop}
  - {id: auc, metric: roc_auc, gte: 0.5, missing: drop}
  - {id: ap, metric: average_precision, gte: 0.1, missing: drop}
  - {id: logloss, metric: log_loss, lte: 5, missing: drop}
  - {id: brier, metric: brier, lte: 1, missing: drop}
  - {id: dp, fairness: demographic_parity_difference, sensitive_feature: g, lte: 0.9, min_group_size: 2,
     missing: drop}
  - {id: dpr, fairness: demographic_parity_ratio, sensitive_feature: g, gte: 0.1, min_group_size: 2, missing: drop}
  - {id: eo, fairness: equalized_odds_difference, sensitive_feature: flag, lte: 0.9, min_group_size: 2,
     missing: drop}
  - {id: fnr, fairness: false_negative_rate_difference, sensitive_feature: g, lte: 0.9, missing: drop}
  - {id: prec-ratio, fairness: precision_ratio, sensitive_feature: g, gte: 0.1, missing: drop}
  - {id: psi, drift: psi, columns: [x, xi, xd, xf, c, flag], max_drifted_share: 1.0}
  - {id: psi3, drift: psi, bins: 3, columns: [x, xi], max_drifted_share: 1.0}
  - {id: ks, drift: ks, columns: [x, xi, xd, xf, c], max_drifted_share: 1.0}
  - {id: ws, drift: wasserstein, columns: [x, xi, xd, xf], max_drifted_share: 1.0}
  - {id: js, drift: jensenshannon, columns: [x, xi, c, flag], max_drifted_share: 1.0}
  - {id: chi, drift: chisquare, columns: [xi, c, flag], max_drifted_share: 1.0}
  - {id: auto, drift: auto, columns: [x, xi, xd, xf, c, flag], max_drifted_share: 1.0}
  - {id: missing, data_quality: missing_rate, columns: [x, g, c, s], lte: 0.05, severity: warn}
  - {id: schema, data_quality: schema_match}
  - {id: card, documentation: model_card, required: [intended_use, limitations]}
"""

REGRESSION = """
policy: spark-regression
version: 1
checks:
  - {id: rmse, metric: rmse, lte: 100, missing: drop}
  - {id: mae, metric: mae, lte: 100, missing: drop}
  - {id: r2, metric: r2, gte: -10, missing: drop}
"""


def _generated(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    """Every column type and missing-value kind: NULL and NaN and infinities in doubles, empty text, NULL groups,
    booleans, decimals, 32-bit floats, few-valued integers, tied scores, a category that only the current side has."""
    y = rng.integers(0, 2, n)
    noise = rng.normal(0, 0.3, n)
    score = np.clip(0.5 + (y - 0.5) * 0.6 + noise, 0, 1).round(2)  # ties
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.03] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    cats = np.array(["red", "green", "blue"] + (["violet"] if shift else []))
    groups = rng.choice(["a", "b", "c", ""], n, p=[0.5, 0.3, 0.15, 0.05])
    t = rng.normal(10, 3, n)
    return pa.table({
        "y": pa.array(y, mask=rng.random(n) < 0.02),
        "p": pa.array((score >= 0.5).astype(np.int64), mask=rng.random(n) < 0.02),
        "s": pa.array(score, mask=rng.random(n) < 0.02),
        "g": pa.array(groups, mask=rng.random(n) < 0.02),
        "flag": pa.array(rng.random(n) < 0.4 + shift / 10),
        "x": pa.array(x, mask=rng.random(n) < 0.02),
        "xi": pa.array(rng.integers(0, 4 + int(shift), n)),
        "xd": pa.array([f"{v:.2f}" for v in rng.normal(100 + shift, 5, n)]).cast(pa.decimal128(10, 2)),
        "xf": pa.array(rng.normal(shift, 2, n).astype(np.float32)),
        "c": pa.array(rng.choice(cats, n)),
        "t": t, "tp": t + rng.normal(0, 1, n),
    })


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A current side written as a folder of three Parquet files (one in a subfolder), and a reference file."""
    folder = tmp_path_factory.mktemp("generated")
    rng = np.random.default_rng(17)
    current = folder / "current"
    (current / "part").mkdir(parents=True)
    for i, target in enumerate([current / "a.parquet", current / "b.parquet", current / "part" / "c.parquet"]):
        pq.write_table(_generated(rng, 700 + 150 * i, 0.8), target)
    reference = folder / "reference.parquet"
    pq.write_table(_generated(rng, 1600, 0.0), reference)
    return {"current": current, "reference": reference}


@pytest.mark.parametrize(("text", "label", "prediction", "score"),
                         [(EVERY_KIND, "y", "p", "s"), (EVERY_KIND, "y", None, "s"), (EVERY_KIND, "y", "p", None),
                          (REGRESSION, "t", "tp", None)], ids=["predictions+scores", "scores", "predictions (refused)",
                                                                "regression"])
def test_generated_data_of_every_check_kind_gives_equal_results(text: str, label: str, prediction: str | None,
                                                                score: str | None, generated: dict[str, Path],
                                                                spark: Engine) -> None:
    inputs = EvalInputs(policy=parse_policy(text, "p.yaml"), data_path=generated["current"],
                        data_format="parquet-dir", label=label, reference_path=generated["reference"],
                        reference_format="parquet", prediction_column=prediction, score_column=score,
                        card={"intended_use": "tests"},
                        training_schema=[{"name": "x", "type": "DOUBLE"}, {"name": "xd", "type": "DECIMAL(10,2)"}])
    duck, other = both(inputs, spark)
    assert not differences(duck, other)
    if text == EVERY_KIND and score is None:  # a decision threshold and the score metrics need scores
        assert "refused" in duck and "refused" in other, duck
        return
    assert duck["rows"] == 700 + 850 + 1000
    if text == EVERY_KIND:
        kinds = {c["kind"] for c in duck["checks"]}
        assert kinds == {"metric", "fairness", "drift", "data_quality", "documentation"}
        measured = [c for c in duck["checks"] if c["value"] is not None]
        assert len(measured) >= len(duck["checks"]) - 2  # the numbers compared are numbers, not all "not computed"


def test_a_policy_that_contradicts_the_data_is_refused_alike(generated: dict[str, Path], spark: Engine) -> None:
    """Both engines refuse the same bad input with the same words (here a label column that is not there)."""
    messages = []
    for engine in (Engine(), spark):
        inputs = EvalInputs(policy=parse_policy(REGRESSION, "p.yaml"), data_path=generated["current"],
                            data_format="parquet-dir", label="nope", prediction_column="tp", engine=engine)
        with pytest.raises(BadInput) as refused:
            Evaluator(inputs).run()
        messages.append(str(refused.value))
    assert messages[0] == messages[1] and "nope" in messages[0]


# ------------------------------------------------------------------------------------------------ refusals
def test_spark_refuses_csv_and_model_artifacts(tmp_path: Path, spark: Engine) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("y,p\n1,1\n0,0\n")
    with pytest.raises(BadInput, match="reads Parquet"):
        spark.open(DataFile(csv, "csv"))
    frame = tmp_path / "d.parquet"
    pq.write_table(pa.table({"y": [0, 1], "x": [0.5, 1.5]}), frame)
    model = LogisticRegression().fit(pd.DataFrame({"x": [0.5, 1.5]}), [0, 1])
    inputs = EvalInputs(policy=parse_policy(REGRESSION, "p.yaml"), data_path=frame, data_format="parquet",
                        label="y", model=model, feature_names=["x"], engine=spark)
    with pytest.raises(BadInput, match="outside Countersign's sandbox"):
        Evaluator(inputs)


def test_engine_choice_is_checked() -> None:
    with pytest.raises(BadInput, match="unknown engine"):
        Engine.of("presto")
    with pytest.raises(BadInput, match="for --engine spark"):
        Engine.of("duckdb", "local[1]")
    assert Engine.of("SPARK", "spark://host:7077").spark_master == "spark://host:7077"
    for master in ("spark://u:s3cret@host:7077", "spark://u:p/s3cret@host:7077", "k8s://https://u:s3cret@h:6443"):
        with pytest.raises(BadInput, match="carries credentials") as refused:  # Spark would log the URL
            Engine.of("spark", master)
        assert "s3cret" not in str(refused.value)
    for master in ("local[0]", "foo://x", "local[x]", "spark:/host"):
        with pytest.raises(BadInput, match="not a Spark master URL"):
            Engine.of("spark", master)
    from core.evaluation.spark_source import shown_master

    assert shown_master("spark://u:p/s@cret@host:7077") == "spark://host:7077"


# ------------------------------------------------------------------------------------------------ the CLI
# One check of each kind the engine computes: every check kind's equality on this data is the in-process test above;
# this one is the command a user runs (a JVM started by the CLI, the folder read by reference, the result as JSON).
CLI_POLICY = """
policy: spark-cli
version: 1
checks:
  - {id: acc, metric: accuracy, gte: 0.5, missing: drop}
  - {id: auc, metric: roc_auc, gte: 0.5, missing: drop}
  - {id: dp, fairness: demographic_parity_difference, sensitive_feature: g, lte: 0.9, min_group_size: 2,
     missing: drop}
  - {id: psi, drift: psi, columns: [x, c], max_drifted_share: 1.0}
  - {id: missing, data_quality: missing_rate, columns: [x, g], lte: 0.05, severity: warn}
"""


def test_cli_evaluates_a_parquet_folder_on_spark_as_on_duckdb(populated: Countersign, generated: dict[str, Path],
                                                              cli_env: dict[str, str], spark: Engine,
                                                              tmp_path: Path) -> None:
    dana = populated.login("dana", USERS["dana"][1])
    populated.register_dataset(dana, generated["reference"], name="gen-ref", version="1")
    populated.register_dataset(dana, generated["current"], name="gen-log", version="1")
    user = {"user": "dana", "password": USERS["dana"][1]}
    registered = run_cli(cli_env, "model", "register", "--external", "--name", "vendor", "--version", "1",
                         "--trained-on", "gen-ref@1", "--feature", "x", **user)
    assert registered.returncode == 0, registered.stderr
    policy = tmp_path / "policy.yaml"
    policy.write_text(CLI_POLICY)
    results = {}
    for engine in ("duckdb", "spark"):
        extra = ["--spark-master", MASTER] if engine == "spark" else []
        done = run_cli(cli_env, "evaluate", "--json", "vendor@1", "--data", "gen-log@1", "--policy", str(policy),
                       "--label", "y", "--prediction-column", "p", "--score-column", "s", "--engine", engine,
                       *extra, **user, timeout=600)  # a JVM's start on a busy 2-core machine
        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr and "INFO" not in done.stderr, done.stderr
        results[engine] = json.loads(done.stdout)
    assert not differences({k: v for k, v in results["duckdb"].items() if k not in ("id", "evaluated_at", "seq")},
                           {k: v for k, v in results["spark"].items() if k not in ("id", "evaluated_at", "seq")})
    assert results["spark"]["engine"]["name"] == "spark" and results["duckdb"]["engine"]["name"] == "duckdb"
    checks = results["spark"]["checks"]
    assert [c["id"] for c in checks] == ["acc", "auc", "dp", "psi", "missing"]
    assert all(c["value"] is not None for c in checks), checks


# ------------------------------------------------------------------------------------------------ found by breaking it
FAIRNESS_G = """
policy: p
version: 1
checks:
  - {id: dp, fairness: demographic_parity_difference, sensitive_feature: g, lte: 1, min_group_size: 1, missing: drop}
  - {id: missing, data_quality: missing_rate, columns: [g], lte: 1}
"""


def test_hostile_inputs_found_by_breaking_it_are_decided_alike(tmp_path: Path, spark: Engine) -> None:
    """Inputs on which the engines once disagreed: Unicode white space and 'İ' in text (Python's strip().lower()
    decides, with ASCII spellings), integers a double cannot hold (refused on both), r2 with a large offset (equal,
    and as scikit-learn within 1e-9), text numbers beyond the double range (no value, on both)."""
    from sklearn.metrics import r2_score

    def run(table: pa.Table, text: str, label: str, prediction: str, **extra: Any) -> tuple[dict[str, Any], ...]:  # noqa: ANN401
        path = tmp_path / f"{label}-{len(text)}.parquet"
        pq.write_table(table, path)
        inputs = EvalInputs(policy=parse_policy(text, "p.yaml"), data_path=path, data_format="parquet", label=label,
                            prediction_column=prediction, **extra)
        duck, other = both(inputs, spark)
        assert not differences(duck, other)
        return duck, other

    spaces = ["a", "\u00a0", "\u3000NA\t", "İNF", "Inf\u2028", " b ", "\x1c", "nan ", "x"] * 6
    duck, _ = run(pa.table({"y": [0, 1, 1] * 18, "p": [0, 1, 0] * 18, "g": spaces}), FAIRNESS_G, "y", "p")
    expected_missing = sum(1 for v in spaces if v.strip().lower() in ("", "nan", "inf")) / len(spaces)
    assert duck["checks"][1]["value"] == pytest.approx(expected_missing, rel=1e-12)  # "\u3000NA\t": text in Parquet
    assert set(duck["checks"][0]["details"]["groups"]) == {"a", "\u3000NA\t", "İNF", " b ", "x"}

    wide = pa.table({"y": pa.array([2**63 - 1] * 5 + [0] * 4, pa.int64()), "p": pa.array([0] * 9, pa.int64())})
    refused, _ = run(wide, "policy: p\nversion: 1\nchecks:\n  - {id: a, metric: accuracy, gte: 0}\n", "y", "p")
    assert "exactly" in refused["refused"]

    rng = np.random.default_rng(3)
    t = 1.6e12 + rng.normal(0, 1, 400)
    tp = t + rng.normal(0, 0.3, 400)
    duck, _ = run(pa.table({"t": t, "tp": tp}), REGRESSION, "t", "tp")
    r2 = next(c["value"] for c in duck["checks"] if c["id"] == "r2")
    # the exact r2 of these doubles, in rational arithmetic: Countersign's passes come within 1e-11 of it, where
    # scikit-learn's (whose mean is summed from values of 1.6e12) is 6e-9 away
    exact_t, exact_p = [Fraction(v) for v in t], [Fraction(v) for v in tp]
    mean = sum(exact_t) / len(exact_t)
    exact = float(1 - sum((a - b) ** 2 for a, b in zip(exact_t, exact_p, strict=True))
                  / sum((a - mean) ** 2 for a in exact_t))
    assert r2 == pytest.approx(exact, rel=1e-11)
    assert abs(r2 - exact) <= abs(r2_score(t, tp) - exact)

    reference = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0] * 20}), reference)
    current = pa.table({"y": [0, 1] * 30, "p": [0, 1] * 30, "x": ["1e400", "2", "3"] * 20})
    duck, _ = run(current, "policy: p\nversion: 1\nchecks:\n  - {id: d, drift: psi, columns: [x], "
                           "max_drifted_share: 1}\n", "y", "p", reference_path=reference,
                  reference_format="parquet")
    assert duck["checks"][0]["details"]["columns"]["x"]["statistic"] is not None


def test_data_spark_cannot_read_whole_is_refused_in_one_line(tmp_path: Path, spark: Engine) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    table = pa.table({"y": [0, 1] * 5, "p": [0, 1] * 5})
    pq.write_table(table, folder / "part-0.parquet")
    pq.write_table(table, folder / "_part-1.parquet")
    with pytest.raises(BadInput, match="Spark skips files whose names begin with '_' or '.'"):
        spark.open(DataFile(folder, "parquet-dir"))
    nanos = tmp_path / "nanos.parquet"
    pq.write_table(pa.table({"y": [0, 1], "when": pa.array([1, 2], pa.timestamp("ns"))}), nanos)
    cased = tmp_path / "cased.parquet"
    pq.write_table(pa.table({"p": [0, 1], "P": [1, 0]}), cased)
    for path in (nanos, cased):
        with pytest.raises(BadInput, match="^Spark cannot read") as refused:
            spark.open(DataFile(path, "parquet"))
        assert "\n" not in str(refused.value) and "at org." not in str(refused.value)


# ------------------------------------------------------------------------------------------------ the ranking
def test_ranges_of_scores_ranked_apart_on_spark_give_duckdbs_ranking(tmp_path: Path, spark: Engine) -> None:
    """A cluster ranks the distinct scores in ranges (:func:`core.evaluation.spark_source.ranking_ranges`; ``local[2]``
    uses one window): every count, sum and kept curve point equals DuckDB's one window, for any number of ranges."""
    from core.evaluation.duckdb_source import DuckDBSource
    from core.evaluation.spark_source import SparkSource, ranking_ranges

    assert [ranking_ranges(n) for n in (1, 2, 3, 8, 500)] == [0, 0, 12, 32, 1024]
    rng = np.random.default_rng(11)
    scores = np.concatenate([rng.random(3_000), np.round(rng.random(3_000), 2), [0.0, -0.0, 1.0, 5e-324] * 50])
    labels = (rng.random(scores.size) < np.clip(scores, 0, 1)).astype(np.int64)
    pq.write_table(pa.table({"y": labels, "s": scores}), tmp_path / "scored.parquet")
    data = DataFile(tmp_path / "scored.parquet", "parquet")
    duck = DuckDBSource(data)
    duck.attach_columns(None, "s")
    expected = duck.score_ranking("y", 1.0, True, max_points=50)
    duck.close()
    source = SparkSource(data, spark.spark_master or MASTER)
    source.attach_columns(None, "s")
    try:
        assert source.ranking_buckets == 0  # local[2]
        for buckets in (0, 1, 3, 64, 1024):
            assert source.score_ranking("y", 1.0, True, max_points=50, buckets=buckets) == expected, buckets
    finally:
        source.close()
