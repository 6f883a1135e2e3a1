"""Countersign's performance and fairness numbers against the reference libraries (scikit-learn, fairlearn), on the
real UCI Adult and German credit data, to 1e-9: through ``core.evaluation.metrics`` from confusion counts built with
NumPy, and
through the whole evaluation engine (DuckDB sufficient statistics)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from fairlearn import metrics as flm
from sklearn.linear_model import LogisticRegression

from core.demo import data as demo_data
from core.evaluation import metrics as m
from core.evaluation.engine import EvalInputs, Evaluator
from core.policy.rules import CLASSIFICATION_METRICS, GROUP_RATES, NAMED_FAIRNESS, Policy
from tests.core.evaluation.ranking import ranking_of

TOL = 1e-9
#: fairlearn / scikit-learn callables for every group rate core.evaluation.metrics computes.
RATE_FUNCTIONS = {
    "selection_rate": flm.selection_rate,
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "precision": functools.partial(skm.precision_score, zero_division=0),
    "recall": functools.partial(skm.recall_score, zero_division=0),
    "f1": functools.partial(skm.f1_score, zero_division=0),
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "true_negative_rate": flm.true_negative_rate,
    "false_negative_rate": flm.false_negative_rate,
}
assert set(RATE_FUNCTIONS) == set(GROUP_RATES)

#: NAMED_FAIRNESS → fairlearn's own function (or the MetricFrame aggregation it stands for).
FAIRLEARN_NAMED = {
    "demographic_parity_difference": flm.demographic_parity_difference,
    "demographic_parity_ratio": flm.demographic_parity_ratio,
    "equalized_odds_difference": flm.equalized_odds_difference,
    "equalized_odds_ratio": flm.equalized_odds_ratio,
    "equal_opportunity_difference": getattr(flm, "equal_opportunity_difference", None),
    "equal_opportunity_ratio": getattr(flm, "equal_opportunity_ratio", None),
}


def _frame_metric(rate: str, kind: str):  # noqa: ANN202
    def compute(y_true: Any, y_pred: Any, *, sensitive_features: Any) -> float:  # noqa: ANN401
        frame = flm.MetricFrame(metrics=RATE_FUNCTIONS[rate], y_true=y_true, y_pred=y_pred,
                                sensitive_features=sensitive_features)
        return frame.difference() if kind == "difference" else frame.ratio()
    return compute


FAIRLEARN_NAMED["false_positive_rate_difference"] = _frame_metric("false_positive_rate", "difference")
FAIRLEARN_NAMED["false_negative_rate_difference"] = _frame_metric("false_negative_rate", "difference")
assert set(FAIRLEARN_NAMED) == set(NAMED_FAIRNESS)


@dataclass
class Scored:
    """A model's predictions on a real test file."""

    name: str
    path: Path
    frame: pd.DataFrame
    label: str
    features: list[str]
    model: Any
    y_true: np.ndarray
    y_pred: np.ndarray
    score: np.ndarray
    sensitive: dict[str, list[str]]


_SHARED: dict[tuple[Path, str], Any] = {}


def shared_prepared(factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The prepared real data (core.demo.data.prepare_all), once per test session; test_drift and test_governance
    import this so the session prepares the data and trains the Adult model only once."""
    key = (factory.getbasetemp(), "prepared")
    if key not in _SHARED:
        _SHARED[key] = demo_data.prepare_all(factory.mktemp("prepared"))
    return _SHARED[key]


def _demo_logreg(numeric: list[str], categorical: list[str], max_iter: int) -> Any:  # noqa: ANN401
    # The demo's own pipeline (StandardScaler + OneHotEncoder + LogisticRegression), as train_models builds it.
    return demo_data._pipeline(numeric, categorical, LogisticRegression(max_iter=max_iter))


def shared_adult_model(factory: pytest.TempPathFactory) -> Any:  # noqa: ANN401
    """The demo's Adult logistic regression ("adult-logreg" in core.demo.data.train_models) fitted on prepared
    Adult train, once per test session."""
    key = (factory.getbasetemp(), "adult-logreg")
    if key not in _SHARED:
        train = pd.read_csv(shared_prepared(factory)["adult-train"])
        model = _demo_logreg(demo_data.ADULT_NUMERIC, demo_data.ADULT_CATEGORICAL, 1000)
        _SHARED[key] = model.fit(train[demo_data.ADULT_NUMERIC + demo_data.ADULT_CATEGORICAL],
                                 train[demo_data.ADULT_LABEL])
    return _SHARED[key]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return shared_prepared(tmp_path_factory)


def _score(name: str, model: Any, test: pd.DataFrame, path: Path, features: list[str], label: str,  # noqa: ANN401
           sensitive: dict[str, list[str]]) -> Scored:
    x = test[features]
    return Scored(name, path, test, label, features, model, test[label].to_numpy(), model.predict(x),
                  model.predict_proba(x)[:, 1], sensitive)


@pytest.fixture(scope="module")
def adult(prepared: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Scored:
    return _score("adult", shared_adult_model(tmp_path_factory), pd.read_csv(prepared["adult-test"]),
                  prepared["adult-test"], demo_data.ADULT_NUMERIC + demo_data.ADULT_CATEGORICAL, demo_data.ADULT_LABEL,
                  {"sex": ["sex"], "race": ["race"], "sex.race": ["sex", "race"]})


@pytest.fixture(scope="module")
def german(prepared: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Scored:
    frame = pd.read_csv(prepared["german-credit"])
    train, test = frame.iloc[:700], frame.iloc[700:].reset_index(drop=True)
    path = tmp_path_factory.mktemp("german") / "german_test.csv"
    test.to_csv(path, index=False)
    features = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL
    model = _demo_logreg(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL, 2000)
    model.fit(train[features], train[demo_data.GERMAN_LABEL])
    return _score("german", model, test, path, features, demo_data.GERMAN_LABEL,
                  {"sex": ["sex"], "sex.foreign_worker": ["sex", "foreign_worker"]})


@pytest.fixture(scope="module", params=["adult", "german"])
def scored(request: pytest.FixtureRequest) -> Scored:
    return request.getfixturevalue(request.param)


def _counts(y_true: np.ndarray, y_pred: np.ndarray) -> m.Counts:
    t, p = y_true == 1, y_pred == 1
    return m.Counts(tp=int(np.sum(t & p)), fp=int(np.sum(~t & p)), tn=int(np.sum(~t & ~p)), fn=int(np.sum(t & ~p)))


def _group_counts(s: Scored, features: list[str]) -> dict[tuple[str, ...], m.Counts]:
    joined = np.array(["\x1f".join(row) for row in s.frame[features].astype(str).to_numpy()])
    out = {}
    for key in np.unique(joined):
        mask = joined == key
        out[tuple(str(key).split("\x1f"))] = _counts(s.y_true[mask], s.y_pred[mask])
    return out


def _metric_frame(s: Scored, features: list[str]) -> flm.MetricFrame:
    sensitive = s.frame[features[0]] if len(features) == 1 else s.frame[features]
    return flm.MetricFrame(metrics={**RATE_FUNCTIONS, "count": flm.count}, y_true=s.y_true, y_pred=s.y_pred,
                           sensitive_features=sensitive)


@dataclass
class Reference:
    """fairlearn's numbers for one sensitive-feature set, computed once per module."""

    frame: flm.MetricFrame
    named: dict[str, float]


@pytest.fixture(scope="module")
def fairlearn_refs(scored: Scored) -> dict[str, Reference]:
    out = {}
    for key, features in scored.sensitive.items():
        named = {name: fn(scored.y_true, scored.y_pred, sensitive_features=_sensitive(scored, features))
                 for name, fn in FAIRLEARN_NAMED.items() if fn is not None}
        out[key] = Reference(_metric_frame(scored, features), named)
    return out


def _group_key(index: Any) -> tuple[str, ...]:  # noqa: ANN401
    return tuple(str(v) for v in index) if isinstance(index, tuple) else (str(index),)


def _sensitive(s: Scored, features: list[str]) -> Any:  # noqa: ANN401
    return s.frame[features[0]] if len(features) == 1 else s.frame[features]


# ------------------------------------------------------------------------------------------- core.evaluation.metrics
def test_counts_and_rates_basics() -> None:
    c = m.Counts(tp=3, fp=1, tn=5, fn=2)
    assert c.n == 11
    r = m.rates(c)
    assert r["selection_rate"] == 4 / 11 and r["precision"] == 3 / 4 and r["recall"] == 3 / 5
    assert r["balanced_accuracy"] == (3 / 5 + 5 / 6) / 2
    empty = m.rates(m.Counts(0, 0, 0, 0))
    assert set(empty) == set(GROUP_RATES) and all(v == 0.0 for v in empty.values())
    # only negatives present: balanced accuracy is the true-negative rate alone (as scikit-learn computes it)
    assert m.rates(m.Counts(tp=0, fp=2, tn=6, fn=0))["balanced_accuracy"] == 0.75
    assert m.disparity([0.2, 0.5, 0.4], "difference") == pytest.approx(0.3)
    assert m.disparity([0.2, 0.5, 0.4], "ratio") == pytest.approx(0.4)
    assert math.isnan(m.disparity([0.0, 0.0], "ratio"))
    assert m.finite(math.nan) is None and m.finite(math.inf) is None and m.finite(0.5) == 0.5


def test_overall_rates_match_sklearn(scored: Scored) -> None:
    y, p = scored.y_true, scored.y_pred
    counts = _counts(y, p)
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    assert (counts.tp, counts.fp, counts.tn, counts.fn) == (tp, fp, tn, fn)
    rates = m.rates(counts)
    for name, reference in RATE_FUNCTIONS.items():
        assert rates[name] == pytest.approx(reference(y, p), abs=TOL), name


def test_group_rates_and_aggregations_match_metricframe(scored: Scored, fairlearn_refs: dict[str, Reference]) -> None:
    for key, features in scored.sensitive.items():
        frame = fairlearn_refs[key].frame
        counts = _group_counts(scored, features)
        by_group = {_group_key(i): row for i, row in frame.by_group.iterrows()}
        assert set(by_group) == set(counts), features
        group_rates = {k: m.rates(c) for k, c in counts.items()}
        for key, row in by_group.items():
            assert counts[key].n == row["count"], (features, key)
            for rate in GROUP_RATES:
                assert group_rates[key][rate] == pytest.approx(row[rate], abs=TOL), (features, key, rate)
        difference, ratio = frame.difference(), frame.ratio()
        for rate in GROUP_RATES:
            values = [r[rate] for r in group_rates.values()]
            assert m.disparity(values, "difference") == pytest.approx(difference[rate], abs=TOL), (features, rate)
            ours = m.disparity(values, "ratio")
            assert (math.isnan(ours) and math.isnan(ratio[rate])) or ours == pytest.approx(ratio[rate], abs=TOL), (
                features, rate)
            for kind in ("difference", "ratio"):
                name = f"{rate}_{kind}"
                expected = difference[rate] if kind == "difference" else ratio[rate]
                value = m.fairness_value(name, {str(k): r for k, r in group_rates.items()})
                if not (math.isnan(value) and math.isnan(expected)):
                    assert value == pytest.approx(expected, abs=TOL), (features, name)


def test_named_fairness_metrics_match_fairlearn(scored: Scored, fairlearn_refs: dict[str, Reference]) -> None:
    for key, features in scored.sensitive.items():
        group_rates = {str(k): m.rates(c) for k, c in _group_counts(scored, features).items()}
        for name in NAMED_FAIRNESS:
            if name not in fairlearn_refs[key].named:  # pragma: no cover - older fairlearn
                continue
            expected = fairlearn_refs[key].named[name]
            assert m.fairness_value(name, group_rates) == pytest.approx(expected, abs=TOL), (features, name)


def test_score_metrics_match_sklearn(scored: Scored) -> None:
    ranking = ranking_of(scored.y_true == 1, scored.score)
    assert m.roc_auc(ranking) == pytest.approx(skm.roc_auc_score(scored.y_true, scored.score), abs=TOL)
    assert m.average_precision(ranking) == pytest.approx(skm.average_precision_score(scored.y_true, scored.score),
                                                         abs=TOL)


def test_score_metrics_handle_ties_like_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    score = np.round(rng.random(2000) * 0.5 + 0.4 * y, 1)  # heavy ties
    ranking = ranking_of(y, score)
    assert ranking.distinct == np.unique(score).size
    assert m.roc_auc(ranking) == pytest.approx(skm.roc_auc_score(y, score), abs=TOL)
    assert m.average_precision(ranking) == pytest.approx(skm.average_precision_score(y, score), abs=TOL)
    one_class = ranking_of([0, 0, 0], [0.3, 0.7, 0.3])
    assert math.isnan(m.roc_auc(one_class)) and math.isnan(m.average_precision(one_class))


# ------------------------------------------------------------------------------------------- the engine
def _full_policy(s: Scored) -> Policy:
    checks: list[dict[str, Any]] = []
    for metric, (lo, hi) in CLASSIFICATION_METRICS.items():
        checks.append({"id": f"m-{metric}", "metric": metric, "gte": lo, **({"lte": hi} if hi < math.inf else {})})
    checks.append({"id": "m-recall-at-0.3", "metric": "recall", "gte": 0, "decision_threshold": 0.3})
    for key, features in s.sensitive.items():
        for name in NAMED_FAIRNESS:
            checks.append({"id": f"f-{name}-{key}", "fairness": name, "sensitive_feature":
                           features[0] if len(features) == 1 else features, "gte": 0, "min_group_size": 1})
    return Policy.model_validate({"policy": f"cross-check-{s.name}", "version": 1, "checks": checks})


@pytest.fixture(scope="module")
def engine(scored: Scored) -> dict[str, Any]:
    inputs = EvalInputs(policy=_full_policy(scored), data_path=scored.path, data_format="csv", label=scored.label,
                        model=scored.model, feature_names=scored.features)
    return Evaluator(inputs).run()


def test_engine_performance_metrics_match_sklearn(scored: Scored, engine: dict[str, Any]) -> None:
    y, p, s = scored.y_true, scored.y_pred, scored.score
    references = {
        "accuracy": skm.accuracy_score(y, p),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p),
        "precision": skm.precision_score(y, p, zero_division=0),
        "recall": skm.recall_score(y, p, zero_division=0),
        "f1": skm.f1_score(y, p, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, s),
        "average_precision": skm.average_precision_score(y, s),
        "log_loss": skm.log_loss(y, s),
        "brier": skm.brier_score_loss(y, s),
    }
    checks = {c["id"]: c for c in engine["checks"]}
    assert engine["rows"] == len(scored.frame)
    for metric, expected in references.items():
        check = checks[f"m-{metric}"]
        assert (check["kind"], check["metric"]) == ("metric", metric)
        assert check["value"] == pytest.approx(expected, abs=TOL), metric
        assert check["passed"] is True and check["details"]["n"] == len(scored.frame)
    confusion = checks["m-accuracy"]["details"]["confusion"]
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    assert confusion == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    at_03 = checks["m-recall-at-0.3"]
    assert at_03["details"]["decision"] == "score >= 0.3"
    assert at_03["value"] == pytest.approx(skm.recall_score(y, (s >= 0.3).astype(int)), abs=TOL)
    assert checks["m-roc_auc"]["details"]["positives"] == int(np.sum(y == 1))


def test_engine_fairness_matches_fairlearn(scored: Scored, engine: dict[str, Any],
                                           fairlearn_refs: dict[str, Reference]) -> None:
    checks = {c["id"]: c for c in engine["checks"]}
    for key, features in scored.sensitive.items():
        frame = fairlearn_refs[key].frame
        by_group = {", ".join(_group_key(i)): row for i, row in frame.by_group.iterrows()}
        for name in NAMED_FAIRNESS:
            check = checks[f"f-{name}-{key}"]
            assert (check["kind"], check["metric"]) == ("fairness", name)
            details = check["details"]
            assert details["sensitive_features"] == features and details["min_group_size"] == 1
            assert details["excluded_groups"] == []
            assert set(details["groups"]) == set(by_group), (key, name)
            for group, row in by_group.items():
                ours = details["groups"][group]
                assert ours["included"] is True and ours["count"] == row["count"]
                c = ours["confusion"]
                assert c["tp"] + c["fp"] + c["tn"] + c["fn"] == row["count"]
                for rate in GROUP_RATES:
                    assert ours[rate] == pytest.approx(row[rate], abs=TOL), (key, group, rate)
            if name not in fairlearn_refs[key].named:  # pragma: no cover - older fairlearn
                continue
            expected = fairlearn_refs[key].named[name]
            if math.isnan(expected):
                assert check["value"] is None and check["passed"] is False
            else:
                assert check["value"] == pytest.approx(expected, abs=TOL), (key, name)
                assert check["passed"] is True
            rates, kind = m.fairness_definition(name)
            for rate in rates:  # the MetricFrame aggregation of each underlying rate agrees as well
                aggregated = frame.difference()[rate] if kind == "difference" else frame.ratio()[rate]
                values = [details["groups"][g][rate] for g in details["groups"]]
                assert m.disparity(values, kind) == pytest.approx(aggregated, abs=TOL)
    assert engine["passed"] is True and engine["failed_block_checks"] == []


def test_adult_demographic_parity_by_sex_is_the_documented_gap(adult: Scored) -> None:
    value = flm.demographic_parity_difference(adult.y_true, adult.y_pred, sensitive_features=adult.frame["sex"])
    assert value == pytest.approx(0.178, abs=0.01)  # the number the credit-scoring gate fails on


# ------------------------------------------------------------------------------------------- regression
def test_regression_metrics_match_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=500)
    y = 3 * x + rng.normal(scale=0.5, size=500)
    pred = 2.8 * x + 0.1 + rng.normal(scale=0.2, size=500)
    path = tmp_path / "regression.csv"
    pd.DataFrame({"x": x, "target": y, "pred": pred}).to_csv(path, index=False, float_format="%.17g")
    back = pd.read_csv(path)
    y, pred = back["target"].to_numpy(), back["pred"].to_numpy()
    policy = Policy.model_validate({"policy": "regression", "version": 1, "checks": [
        {"id": "rmse", "metric": "rmse", "lte": 1.0}, {"id": "mae", "metric": "mae", "lte": 1.0},
        {"id": "r2", "metric": "r2", "gte": 0.8}]})
    result = Evaluator(EvalInputs(policy=policy, data_path=path, data_format="csv", label="target",
                                  prediction_column="pred")).run()
    values = {c["id"]: c["value"] for c in result["checks"]}
    assert values["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), abs=TOL)
    assert values["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=TOL)
    assert values["r2"] == pytest.approx(skm.r2_score(y, pred), abs=TOL)
    assert result["passed"] is True and all(c["details"]["n"] == 500 for c in result["checks"])


# ------------------------------------------------------------------------------------------- min_group_size
@pytest.fixture(scope="module")
def adult_predictions(adult: Scored, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Adult test file with the model's predictions as a column (evaluated as an external model)."""
    path = tmp_path_factory.mktemp("predictions") / "adult_test_predicted.csv"
    adult.frame.assign(predicted=adult.y_pred).to_csv(path, index=False)
    return path


def _fairness_run(path: Path, feature: str, min_group_size: int) -> dict[str, Any]:
    policy = Policy.model_validate({"policy": "groups", "version": 1, "checks": [
        {"id": "dp", "fairness": "demographic_parity_difference", "sensitive_feature": feature, "lte": 1,
         "min_group_size": min_group_size}]})
    inputs = EvalInputs(policy=policy, data_path=path, data_format="csv", label=demo_data.ADULT_LABEL,
                        prediction_column="predicted")
    return Evaluator(inputs).run()["checks"][0]


def test_groups_below_min_group_size_are_reported_and_excluded(adult: Scored, adult_predictions: Path) -> None:
    sizes = adult.frame["race"].value_counts()
    threshold = 150
    small = sorted(sizes[sizes < threshold].index)
    assert small == ["Amer-Indian-Eskimo", "Other"]  # 149 and 122 rows in the prepared test split
    check = _fairness_run(adult_predictions, "race", threshold)
    details = check["details"]
    assert details["excluded_groups"] == small
    for group, info in details["groups"].items():
        assert info["count"] == sizes[group]
        assert info["included"] is bool(sizes[group] >= threshold)
    kept = adult.frame["race"].isin(set(sizes.index) - set(small)).to_numpy()
    expected = flm.demographic_parity_difference(adult.y_true[kept], adult.y_pred[kept],
                                                 sensitive_features=adult.frame["race"][kept])
    everyone = flm.demographic_parity_difference(adult.y_true, adult.y_pred, sensitive_features=adult.frame["race"])
    assert check["value"] == pytest.approx(expected, abs=TOL)
    assert abs(expected - everyone) > 1e-6  # the exclusion really changes the number
    assert check["passed"] is True


def test_fewer_than_two_qualifying_groups_fail_with_insufficient_data(adult: Scored, adult_predictions: Path) -> None:
    sizes = adult.frame["sex"].value_counts()
    check = _fairness_run(adult_predictions, "sex", int(sizes.min()) + 1)  # only the larger group qualifies
    assert check["value"] is None and check["passed"] is False
    assert check["details"]["reason"].startswith("insufficient data")
    assert check["details"]["excluded_groups"] == [sizes.idxmin()]
    none = _fairness_run(adult_predictions, "sex", int(sizes.max()) + 1)
    assert none["value"] is None and none["passed"] is False and "0 group(s)" in none["details"]["reason"]


# ------------------------------------------------------------------------------------------- known bugs
def test_float_labels_and_predictions_are_classified_correctly(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200).astype(float)
    pred = y.copy()
    pred[:20] = 1 - pred[:20]
    path = tmp_path / "float_labels.csv"
    pd.DataFrame({"y": y, "p": pred}).to_csv(path, index=False)
    policy = Policy.model_validate({"policy": "floats", "version": 1, "checks": [
        {"id": "accuracy", "metric": "accuracy", "gte": 0}, {"id": "recall", "metric": "recall", "gte": 0}]})
    result = Evaluator(EvalInputs(policy=policy, data_path=path, data_format="csv", label="y",
                                  prediction_column="p")).run()
    values = {c["id"]: c["value"] for c in result["checks"]}
    assert values["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    assert values["recall"] == pytest.approx(skm.recall_score(y, pred), abs=TOL)


def test_policy_level_decision_threshold_is_applied(german: Scored) -> None:
    policy = Policy.model_validate({"policy": "threshold", "version": 1, "decision_threshold": 0.8, "checks": [
        {"id": "recall", "metric": "recall", "gte": 0}]})
    check = Evaluator(EvalInputs(policy=policy, data_path=german.path, data_format="csv", label=german.label,
                                 model=german.model, feature_names=german.features)).run()["checks"][0]
    assert check["details"]["decision"] == "score >= 0.8"
    expected = skm.recall_score(german.y_true, (german.score >= 0.8).astype(int))
    assert check["value"] == pytest.approx(expected, abs=TOL)
