"""Drift statistics against scipy and a plain NumPy PSI, on real UCI Adult columns (train vs test, and vs shifted
copies), to 1e-9; Evidently's ``auto`` choice of method; and the same numbers through the evaluation engine."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, chisquare, ks_2samp, wasserstein_distance

from core.demo import data as demo_data
from core.errors import BadInput
from core.evaluation import drift as d
from core.evaluation.engine import EvalInputs, Evaluator
from core.policy.rules import Policy
from tests.core.evaluation.test_metrics import shared_prepared

TOL = 1e-9
NUMERIC = ["age", "hours_per_week", "capital_gain"]
CATEGORICAL = ["workclass", "race"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return shared_prepared(tmp_path_factory)


@pytest.fixture(scope="module")
def train(prepared: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(prepared["adult-train"])


@pytest.fixture(scope="module")
def test(prepared: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(prepared["adult-test"])


def _shift(frame: pd.DataFrame) -> pd.DataFrame:
    """A visibly drifted copy of real data: older, longer hours, larger gains, more self-employment."""
    shifted = frame.copy()
    shifted["age"] = shifted["age"] + 7
    shifted["hours_per_week"] = (shifted["hours_per_week"] * 1.2).round()
    shifted["capital_gain"] = shifted["capital_gain"] * 3 + 100
    shifted.loc[shifted.index % 4 == 0, "workclass"] = "Self-emp-inc"
    shifted.loc[shifted.index % 9 == 0, "race"] = "Black"
    return shifted


@pytest.fixture(scope="module", params=["test", "shifted"])
def current(request: pytest.FixtureRequest, test: pd.DataFrame) -> pd.DataFrame:
    return test if request.param == "test" else _shift(test)


def _numeric(name: str, ref: pd.DataFrame, cur: pd.DataFrame) -> d.ColumnData:
    return d.ColumnData(name, True, ref[name].to_numpy(dtype=float), cur[name].to_numpy(dtype=float))


def _categorical(name: str, ref: pd.DataFrame, cur: pd.DataFrame) -> d.ColumnData:
    return d.ColumnData(name, False, ref_counts={str(k): int(v) for k, v in ref[name].value_counts().items()},
                        cur_counts={str(k): int(v) for k, v in cur[name].value_counts().items()})


def _reference_bins(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Equal-frequency bins of the reference (documented definition: ``bins + 1`` quantiles, duplicates merged, a
    value two or more quantiles fall on is a bin of its own), counted value by value, independently of
    core.evaluation.drift."""
    uniq, times = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)), return_counts=True)
    masses = {float(v) for v, n in zip(uniq, times, strict=True) if n >= 2}
    cuts = sorted({float(v) for v in uniq[1:-1]} | masses)

    def which(x: float) -> int:
        i = 0
        for cut in cuts:
            if x < cut:
                return i
            if cut in masses:
                if x == cut:
                    return i + 1
                i += 1
            i += 1
        return i

    k = len(cuts) + len(masses) + 1
    counts = [np.bincount([which(float(x)) for x in side], minlength=k).astype(float) for side in (ref, cur)]
    return counts[0], counts[1]


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    total = 0.0
    for r, c in zip(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum(), strict=True):
        r, c = (r or eps), (c or eps)
        total += (c - r) * math.log(c / r)
    return total


def _aligned(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(ref.astype(str)) | set(cur.astype(str)))
    rc, cc = ref.astype(str).value_counts(), cur.astype(str).value_counts()
    return (np.array([rc.get(k, 0) for k in keys], dtype=float), np.array([cc.get(k, 0) for k in keys], dtype=float))


# ------------------------------------------------------------------------------------------- numeric columns
@pytest.mark.parametrize("column", NUMERIC)
def test_ks_matches_scipy(column: str, train: pd.DataFrame, current: pd.DataFrame) -> None:
    ref, cur = train[column].to_numpy(dtype=float), current[column].to_numpy(dtype=float)
    got = d.statistic(_numeric(column, train, current), "ks")
    expected = ks_2samp(ref, cur)
    assert got["statistic"] == pytest.approx(float(expected.statistic), abs=TOL)
    assert got["p_value"] == pytest.approx(float(expected.pvalue), abs=TOL)


@pytest.mark.parametrize("column", NUMERIC)
def test_wasserstein_is_normed_by_the_reference_std(column: str, train: pd.DataFrame,
                                                    current: pd.DataFrame) -> None:
    ref, cur = train[column].to_numpy(dtype=float), current[column].to_numpy(dtype=float)
    got = d.statistic(_numeric(column, train, current), "wasserstein")
    assert got["statistic"] == pytest.approx(wasserstein_distance(ref, cur) / max(np.std(ref), 0.001), abs=TOL)


def test_wasserstein_of_a_constant_reference_uses_the_floor() -> None:
    col = d.ColumnData("c", True, np.full(50, 3.0), np.full(50, 3.5))
    assert d.statistic(col, "wasserstein")["statistic"] == pytest.approx(0.5 / 0.001, abs=TOL)


@pytest.mark.parametrize("column", NUMERIC)
def test_jensenshannon_on_reference_quantile_bins(column: str, train: pd.DataFrame, current: pd.DataFrame) -> None:
    ref, cur = train[column].to_numpy(dtype=float), current[column].to_numpy(dtype=float)
    rb, cb = _reference_bins(ref, cur)
    got = d.statistic(_numeric(column, train, current), "jensenshannon")
    assert got["statistic"] == pytest.approx(float(jensenshannon(rb / rb.sum(), cb / cb.sum())), abs=TOL)
    core_ref, core_cur = d.binned(ref, cur, 10)
    assert np.array_equal(core_ref, rb) and np.array_equal(core_cur, cb)


@pytest.mark.parametrize("column", NUMERIC)
@pytest.mark.parametrize("bins", [10, 4])
def test_psi_matches_the_documented_definition(column: str, bins: int, train: pd.DataFrame,
                                               current: pd.DataFrame) -> None:
    ref, cur = train[column].to_numpy(dtype=float), current[column].to_numpy(dtype=float)
    rb, cb = _reference_bins(ref, cur, bins)
    got = d.statistic(_numeric(column, train, current), "psi", bins=bins)
    assert got["bins"] == rb.size
    assert got["statistic"] == pytest.approx(_psi(rb, cb), abs=TOL)


def test_psi_gives_empty_bins_epsilon_and_values_outside_the_range_fall_in_the_outer_bins(
        train: pd.DataFrame) -> None:
    ref = train["age"].to_numpy(dtype=float)
    young = ref[ref < 25]  # most reference bins are empty in the current data
    rb, cb = _reference_bins(ref, young)
    assert (cb == 0).sum() >= 5
    got = d.statistic(d.ColumnData("age", True, ref, young), "psi")["statistic"]
    assert got == pytest.approx(_psi(rb, cb), abs=TOL) and got > 1
    outside = np.concatenate([np.full(100, ref.min() - 50), np.full(100, ref.max() + 50)])
    core_ref, core_cur = d.binned(ref, outside, 10)
    assert core_cur[0] == 100 and core_cur[-1] == 100 and core_cur.sum() == 200
    assert d.psi(np.array([5.0, 0.0]), np.array([0.0, 5.0])) == pytest.approx(2 * (1 - 1e-4) * math.log(1e4),
                                                                             abs=TOL)


def test_capital_gain_bins_merge_duplicate_quantiles(train: pd.DataFrame) -> None:
    ref = train["capital_gain"].to_numpy(dtype=float)
    assert d.quantile_edges(ref, 10).size < 9  # mostly zeros: the duplicate edges are merged
    edges = d.quantile_edges(ref, 10)
    assert np.all(np.diff(edges) > 0)


def test_a_point_mass_is_a_bin_of_its_own_so_psi_sees_drift_beside_it(train: pd.DataFrame) -> None:
    # Fixed bug: capital gain is 0 in ~92% of UCI Adult, so all 11 quantiles but the last are 0 and the merged
    # quantile bins were one bin: PSI 0 whatever the current data (a silent pass). 0 is now a bin of its own.
    ref = train["capital_gain"].to_numpy(dtype=float)
    assert d.point_masses(ref, 10).tolist() == [0.0]
    rich = np.full(1_000, float(ref.max()))
    got = d.statistic(d.ColumnData("capital_gain", True, ref, rich), "psi")
    assert got["statistic"] > 1 and got["bins"] == 3
    assert got["statistic"] == pytest.approx(_psi(*_reference_bins(ref, rich)), abs=TOL)
    shown = d.distribution(d.ColumnData("capital_gain", True, ref, rich))
    assert shown["bins"] == ["< 0", "= 0", "> 0"] and shown["current"] == [0.0, 0.0, 1.0]
    assert shown["reference"][1] > 0.9


# ------------------------------------------------------------------------------------------- categorical columns
@pytest.mark.parametrize("column", CATEGORICAL)
def test_chisquare_matches_scipy(column: str, train: pd.DataFrame, current: pd.DataFrame) -> None:
    rc, cc = _aligned(train[column], current[column])
    got = d.statistic(_categorical(column, train, current), "chisquare")
    expected = chisquare(cc, rc / rc.sum() * cc.sum())
    assert got["statistic"] == pytest.approx(float(expected.statistic), abs=TOL)
    assert got["p_value"] == pytest.approx(float(expected.pvalue), abs=TOL)


@pytest.mark.parametrize("column", CATEGORICAL)
def test_categorical_jensenshannon_and_psi(column: str, train: pd.DataFrame, current: pd.DataFrame) -> None:
    rc, cc = _aligned(train[column], current[column])
    col = _categorical(column, train, current)
    assert d.statistic(col, "jensenshannon")["statistic"] == pytest.approx(
        float(jensenshannon(rc / rc.sum(), cc / cc.sum())), abs=TOL)
    psi = d.statistic(col, "psi")
    assert psi["bins"] == rc.size and psi["statistic"] == pytest.approx(_psi(rc, cc), abs=TOL)


def test_category_missing_from_the_reference_is_infinite_chisquare(train: pd.DataFrame, test: pd.DataFrame) -> None:
    current = test.copy()
    current.loc[current.index[:40], "workclass"] = "Martian-employer"
    reference = train[train["workclass"] != "Without-pay"]  # and one reference category absent on the other side
    col = _categorical("workclass", reference, current)
    got = d.statistic(col, "chisquare")
    assert math.isinf(got["statistic"]) and got["p_value"] == 0.0
    rc, cc = _aligned(reference["workclass"], current["workclass"])
    assert d.statistic(col, "psi")["statistic"] == pytest.approx(_psi(rc, cc), abs=TOL)
    assert d.statistic(col, "jensenshannon")["statistic"] == pytest.approx(
        float(jensenshannon(rc / rc.sum(), cc / cc.sum())), abs=TOL)


def test_z_test_equals_the_uncorrected_two_by_two_chisquare(train: pd.DataFrame, current: pd.DataFrame) -> None:
    col = _categorical("sex", train, current)
    got = d.statistic(col, "z")
    keys = sorted(set(col.ref_counts) | set(col.cur_counts))
    table = [[col.ref_counts.get(k, 0) for k in keys], [col.cur_counts.get(k, 0) for k in keys]]
    chi2, p, _, _ = chi2_contingency(table, correction=False)
    assert got["statistic"] ** 2 == pytest.approx(chi2, abs=1e-7)
    assert got["p_value"] == pytest.approx(p, abs=TOL)
    same = d.statistic(d.ColumnData("b", False, ref_counts={"x": 5}, cur_counts={"x": 7}), "z")
    assert same == {"statistic": 0.0, "p_value": 1.0}


def test_numeric_methods_refuse_categorical_columns(train: pd.DataFrame, test: pd.DataFrame) -> None:
    col = _categorical("race", train, test)
    for method in ("ks", "wasserstein"):
        with pytest.raises(ValueError, match="numeric"):
            d.statistic(col, method)
    with pytest.raises(ValueError, match="unknown drift method"):
        d.statistic(col, "kl")


# ------------------------------------------------------------------------------------------- auto
def test_resolve_auto_follows_evidently_defaults(prepared: dict[str, Path], train: pd.DataFrame,
                                                 test: pd.DataFrame) -> None:
    small = test.iloc[:1000]
    german = pd.read_csv(prepared["german-credit"])  # exactly 1000 rows: still "small"
    assert len(german) == d.AUTO_SMALL_REFERENCE
    cases = [
        (_numeric("age", small, test), ("ks", 0.05)),
        (_numeric("age", german, german), ("ks", 0.05)),
        (_categorical("workclass", small, test), ("chisquare", 0.05)),
        (_categorical("sex", small, test), ("z", 0.05)),
        (_numeric("installment_rate", german, german), ("chisquare", 0.05)),  # numeric, 4 distinct values
        (_numeric("people_liable", german, german), ("z", 0.05)),  # numeric, binary
        (_numeric("income_over_50k", small, test), ("z", 0.05)),
        (_numeric("age", test.iloc[:1001], test), ("wasserstein", 0.1)),
        (_numeric("hours_per_week", train, test), ("wasserstein", 0.1)),
        (_categorical("race", train, test), ("jensenshannon", 0.1)),
        (_categorical("sex", train, test), ("jensenshannon", 0.1)),
        (_numeric("income_over_50k", train, test), ("jensenshannon", 0.1)),
    ]
    for col, expected in cases:
        assert d.resolve_auto(col) == expected, col.name
        method, _ = expected
        d.statistic(col, method)  # every chosen method can actually be computed on that column


def test_few_valued_numeric_columns_use_category_counts(prepared: dict[str, Path]) -> None:
    german = pd.read_csv(prepared["german-credit"])
    ref, cur = german.iloc[:500], german.iloc[500:]
    col = _numeric("installment_rate", ref, cur)
    rc, cc = _aligned(ref["installment_rate"].astype(float), cur["installment_rate"].astype(float))
    got = d.statistic(col, "chisquare")
    expected = chisquare(cc, rc / rc.sum() * cc.sum())
    assert got["statistic"] == pytest.approx(float(expected.statistic), abs=TOL)
    assert got["p_value"] == pytest.approx(float(expected.pvalue), abs=TOL)
    assert d.statistic(col, "jensenshannon")["statistic"] == pytest.approx(
        float(jensenshannon(rc / rc.sum(), cc / cc.sum())), abs=TOL)


# ------------------------------------------------------------------------------------------- through the engine
@pytest.fixture(scope="module")
def parquet(train: pd.DataFrame, test: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same real data as Parquet (the engine re-scans its input per query; Parquet keeps the tests fast)."""
    folder = tmp_path_factory.mktemp("parquet")
    out = {"train": folder / "adult_train.parquet", "test": folder / "adult_test.parquet",
           "shifted": folder / "adult_test_shifted.parquet"}
    train.to_parquet(out["train"], index=False)
    test.to_parquet(out["test"], index=False)
    _shift(test).to_parquet(out["shifted"], index=False)
    return out


def _engine_drift(current_path: Path, reference_path: Path, method: str, columns: list[str]) -> dict[str, Any]:
    check: dict[str, Any] = {"id": f"drift-{method}", "drift": method, "columns": columns}
    policy = Policy.model_validate({"policy": "drift", "version": 1, "checks": [check]})
    inputs = EvalInputs(policy=policy, data_path=current_path, data_format="parquet", label=demo_data.ADULT_LABEL,
                        reference_path=reference_path, reference_format="parquet",
                        prediction_column=demo_data.ADULT_LABEL)
    return Evaluator(inputs).run()["checks"][0]


@pytest.mark.parametrize("method", ["ks", "wasserstein", "jensenshannon", "psi", "chisquare", "auto"])
def test_engine_drift_matches_scipy(method: str, parquet: dict[str, Path], train: pd.DataFrame,
                                    test: pd.DataFrame) -> None:
    columns = NUMERIC + CATEGORICAL
    shifted = _shift(test)
    result = _engine_drift(parquet["shifted"], parquet["train"], method, columns)
    details = result["details"]
    assert result["kind"] == "drift" and set(details["columns"]) == set(columns)
    assert details["reference_rows"] == len(train)
    for name in columns:
        info = details["columns"][name]
        numeric = name in NUMERIC
        assert info["type"] == ("numeric" if numeric else "categorical")
        ref, cur = train[name], shifted[name]
        applied = info["method"]
        if method == "auto":
            assert applied == ("wasserstein" if numeric else "jensenshannon")
        elif not numeric and method in ("ks", "wasserstein"):
            assert applied == {"ks": "chisquare", "wasserstein": "jensenshannon"}[method]
        else:
            assert applied == method
        if applied == "ks":
            expected = ks_2samp(ref.to_numpy(float), cur.to_numpy(float))
            assert info["statistic"] == pytest.approx(float(expected.statistic), abs=TOL)
            assert info["p_value"] == pytest.approx(float(expected.pvalue), abs=TOL)
        elif applied == "wasserstein":
            r = ref.to_numpy(float)
            assert info["statistic"] == pytest.approx(wasserstein_distance(r, cur.to_numpy(float)) / np.std(r),
                                                      abs=TOL)
        elif applied == "chisquare":
            rc, cc = _aligned(ref.astype(float) if numeric else ref, cur.astype(float) if numeric else cur)
            with np.errstate(divide="ignore", invalid="ignore"):
                expected = chisquare(cc, rc / rc.sum() * cc.sum())
            if math.isinf(float(expected.statistic)):
                assert info["statistic"] is None and info["p_value"] == 0.0
            else:
                assert info["statistic"] == pytest.approx(float(expected.statistic), abs=TOL)
                assert info["p_value"] == pytest.approx(float(expected.pvalue), abs=TOL)
        else:
            if numeric:
                rc, cc = _reference_bins(ref.to_numpy(float), cur.to_numpy(float))
            else:
                rc, cc = _aligned(ref, cur)
            expected = (float(jensenshannon(rc / rc.sum(), cc / cc.sum())) if applied == "jensenshannon"
                        else _psi(rc, cc))
            assert info["statistic"] == pytest.approx(expected, abs=TOL), (name, applied)
        assert info["compared"] == ("p_value" if applied in ("ks", "chisquare", "z") else "statistic")
        assert info["operator"] in ("gte", "lte", "lt") and isinstance(info["threshold"], float)
        assert isinstance(info["drifted"], bool)
    drifted = [c for c, v in details["columns"].items() if v["drifted"]]
    assert details["drifted_columns"] == sorted(drifted)
    assert result["value"] == pytest.approx(len(drifted) / len(columns), abs=TOL)
    assert result["passed"] is (result["value"] <= 0.5)


def test_engine_train_vs_test_does_not_drift_but_the_shifted_copy_does(parquet: dict[str, Path]) -> None:
    columns = ["age", "hours_per_week", "workclass", "race"]
    calm = _engine_drift(parquet["test"], parquet["train"], "psi", columns)
    assert calm["details"]["drifted_columns"] == [] and calm["passed"] is True
    moved = _engine_drift(parquet["shifted"], parquet["train"], "psi", columns)
    assert {"age", "workclass"} <= set(moved["details"]["drifted_columns"])
    assert moved["passed"] is False


def test_psi_detects_a_shift_in_a_few_valued_numeric_column(prepared: dict[str, Path]) -> None:
    german = pd.read_csv(prepared["german-credit"])
    ref = german["people_liable"].to_numpy(dtype=float)
    everyone_two = np.full(500, 2.0)  # from 15.5% to 100% of applicants with two dependants
    col = d.ColumnData("people_liable", True, ref, everyone_two)
    assert d.statistic(col, "jensenshannon")["statistic"] > 0.5  # the other distances see it
    rc, cc = _aligned(pd.Series(ref), pd.Series(everyone_two))
    assert d.statistic(col, "psi")["statistic"] == pytest.approx(_psi(rc, cc), abs=TOL)


# ------------------------------------------------------------------------------------------- missing values and types
def _csv_drift(tmp_path: Path, reference: str, current: str, check: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "ref.csv").write_text(reference, encoding="utf-8")
    (tmp_path / "cur.csv").write_text(current, encoding="utf-8")
    policy = Policy.model_validate({"policy": "drift", "version": 1, "checks": [{"id": "d", **check}]})
    inputs = EvalInputs(policy=policy, data_path=tmp_path / "cur.csv", data_format="csv", label="y",
                        reference_path=tmp_path / "ref.csv", reference_format="csv", prediction_column="y")
    return Evaluator(inputs).run()["checks"][0]


def test_text_in_a_numeric_column_is_refused_naming_the_values(tmp_path: Path) -> None:
    reference = "y,income\n" + "".join(f"{i % 2},{i}.5\n" for i in range(40))
    current = "y,income\n" + "".join(f"{i % 2},{'unknown' if i % 10 == 0 else i}\n" for i in range(40))
    with pytest.raises(BadInput) as caught:
        _csv_drift(tmp_path, reference, current, {"drift": "psi", "columns": ["income"]})
    message = caught.value.message
    assert "'income'" in message and "4 value(s) are not numbers" in message and "'unknown' (4)" in message
    assert "text in the current data" in message


def test_a_blank_column_is_missing_not_a_type_mismatch_and_non_finite_values_are_excluded(tmp_path: Path) -> None:
    reference = "y,income,score\n" + "".join(f"{i % 2},{i}.5,{i / 40}\n" for i in range(40))
    current = "y,income,score\n" + "".join(f"{i % 2},,{'inf' if i < 2 else i / 40}\n" for i in range(40))
    check = _csv_drift(tmp_path, reference, current, {"drift": "ks", "columns": ["income", "score"],
                                                      "max_drifted_share": 0.9})
    income, score = check["details"]["columns"]["income"], check["details"]["columns"]["score"]
    assert income["drifted"] is True and income["current"]["missing_share"] == 1.0 and income["method"] is None
    assert score["current"]["missing"] == {"infinite": 2} and score["current"]["missing_share"] == 0.05
    assert score["missing_drifted"] is False and score["method"] == "ks"
    expected = ks_2samp(np.arange(40) / 40, np.arange(2, 40) / 40)  # the infinities are excluded, not compared
    assert score["statistic"] == pytest.approx(float(expected.statistic), abs=TOL)
    assert check["value"] == 0.5 and check["passed"] is True  # 1 of 2 columns drifted, allowed up to 0.9


def test_a_column_missing_on_both_sides_fails_the_check_with_the_reason(tmp_path: Path) -> None:
    reference = "y,empty\n" + "".join(f"{i % 2},\n" for i in range(40))
    current = "y,empty\n" + "".join(f"{i % 2},\n" for i in range(40))
    check = _csv_drift(tmp_path, reference, current, {"drift": "psi", "columns": ["empty"]})
    assert check["passed"] is False and check["value"] is None
    assert check["details"]["untestable_columns"] == ["empty"] and "cannot be measured" in check["details"]["reason"]


def test_a_column_going_mostly_missing_is_drifted_even_if_its_distribution_holds(tmp_path: Path) -> None:
    reference = "y,x\n" + "".join(f"{i % 2},{i % 7}\n" for i in range(700))
    current = "y,x\n" + "".join(f"{i % 2},{'' if i % 10 < 3 else i % 7}\n" for i in range(700))
    check = _csv_drift(tmp_path, reference, current, {"drift": "psi", "columns": ["x"],
                                                      "max_missing_share_change": 0.2})
    x = check["details"]["columns"]["x"]
    assert x["distribution_drifted"] is False and x["missing_drifted"] is True and x["drifted"] is True
    assert x["missing_share_change"] == pytest.approx(0.3) and check["passed"] is False


# ------------------------------------------------------------------------------------------------ sorted inputs
_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 5e-324, 1e300, -1e300]),  # ties, signed zeros, extremes
    st.integers(-5, 5).map(float))


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(u=st.lists(_VALUES, min_size=1, max_size=80), v=st.lists(_VALUES, min_size=1, max_size=80),
       block=st.sampled_from([1, 2, 3, 7, 1 << 15]))
def test_linear_wasserstein_equals_scipy(u: list[float], v: list[float], block: int) -> None:
    """The merge-based Wasserstein distance of sorted samples, cut into pieces of any size, is scipy's number to
    1e-12 relative (the same terms, added in another order); infinite and undefined alike."""
    ua, va = np.array(u), np.array(v)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = wasserstein_distance(ua, va)
        got = d.wasserstein(np.sort(ua), np.sort(va), block=block)
    if math.isnan(expected) or math.isinf(expected):
        assert (math.isnan(got) and math.isnan(expected)) or got == expected, (got, expected)
    else:
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-300), (got, expected)


def test_linear_wasserstein_on_large_samples_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=200_000), np.round(rng.normal(0.3, 1.5, size=700_000), 3)  # ties across pieces
    assert d.wasserstein(np.sort(u), np.sort(v)) == pytest.approx(wasserstein_distance(u, v), rel=1e-12)
    assert d.wasserstein(np.sort(v), np.sort(u)) == pytest.approx(wasserstein_distance(v, u), rel=1e-12)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(reference=st.lists(_VALUES, min_size=1, max_size=80), current=st.lists(_VALUES, min_size=0, max_size=80),
       bins=st.sampled_from([1, 2, 3, 10]))
def test_bin_counts_of_sorted_values_equal_bincount(reference: list[float], current: list[float], bins: int) -> None:
    ref, cur = np.array(reference), np.array(current, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        cuts, masses = d.reference_cuts(ref, bins)
    expected = np.bincount(d.bin_index(cuts, masses, cur), minlength=cuts.size + masses.size + 1)
    assert d.sorted_bin_counts(cuts, masses, np.sort(cur)).tolist() == expected.tolist()


def test_psi_from_counts_made_elsewhere_equals_psi_from_values(train: pd.DataFrame, current: pd.DataFrame) -> None:
    """A column whose current values stay where the data lives (only their counts per bin come back) gets the same
    PSI, Jensen-Shannon distance and plotted distribution as one read whole."""
    ref, cur = train["age"].to_numpy(dtype=float), current["age"].to_numpy(dtype=float)
    asked: list[int] = []

    def counts(cuts: np.ndarray, masses: np.ndarray) -> np.ndarray:
        asked.append(cuts.size + masses.size + 1)
        return np.bincount(d.bin_index(cuts, masses, cur), minlength=cuts.size + masses.size + 1)

    whole = d.ColumnData("age", True, ref, cur)
    remote = d.ColumnData("age", True, ref, None, current_bins=counts, current_rows=cur.size)
    assert not d.needs_current_values(remote, "psi", 10) and d.needs_current_values(remote, "ks", 10)
    for method in ("psi", "jensenshannon"):
        assert d.statistic(remote, method) == d.statistic(whole, method)
    assert d.distribution(remote) == d.distribution(whole)
    assert asked and remote.cur_size == whole.cur_size
    with pytest.raises(ValueError, match="not read"):
        d.statistic(remote, "wasserstein")


_FEW = st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 5e-324, 1e300])


def _same(a: Any, b: Any) -> bool:  # noqa: ANN401 - results with NaN equal to themselves
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(reference=st.lists(_FEW, min_size=1, max_size=60), current=st.lists(_FEW | _VALUES, min_size=1, max_size=60),
       method=st.sampled_from(["psi", "jensenshannon", "chisquare", "z", "auto"]), bins=st.sampled_from([1, 2, 3, 10]))
def test_counts_per_distinct_value_made_elsewhere_give_what_the_values_give(reference: list[float],
                                                                            current: list[float], method: str,
                                                                            bins: int) -> None:
    """A numeric column whose current values stay where the data lives and come back as counts per distinct value
    (and per reference bin) gets the same statistic, method and plotted distribution as one read whole."""
    ref, cur = np.array(reference), np.array(current)
    counted: dict[float, int] = {}
    for value in current:
        counted[value] = counted.get(value, 0) + 1

    def per_bin(cuts: np.ndarray, masses: np.ndarray) -> np.ndarray:
        return np.bincount(d.bin_index(cuts, masses, cur), minlength=cuts.size + masses.size + 1)

    whole = d.ColumnData("x", True, ref, cur)
    remote = d.ColumnData("x", True, ref, None, current_bins=per_bin, current_rows=cur.size, cur_value_counts=counted)
    if not d.value_counts_suffice(remote, method):
        assert method == "auto" and remote.distinct > 5 and d.needs_current_values(remote, method, bins)
        return
    assert not d.needs_current_values(remote, method, bins) and remote.cur_size == whole.cur_size
    chosen = d.resolve_auto(whole)[0] if method == "auto" else method
    assert (d.resolve_auto(remote)[0] if method == "auto" else method) == chosen
    if chosen == "z" and len(set(d.category_counts(whole)[0]) | set(d.category_counts(whole)[1])) > 2:
        return  # z on more than two categories is not a test the engine makes (auto picks chi-square there)
    with np.errstate(all="ignore"):
        assert _same(d.statistic(remote, chosen, bins), d.statistic(whole, chosen, bins))
        assert _same(d.distribution(remote, bins), d.distribution(whole, bins))


def test_engine_counts_few_valued_columns_where_the_data_lives(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the DuckDB engine: a few-valued numeric column's current side comes back as counts per value (not its
    values), and the check's result is the one its values give; past MAX_COUNTED_VALUES distinct values the values
    are read."""
    from core.evaluation import duckdb_source

    rng = np.random.default_rng(5)
    label = demo_data.ADULT_LABEL
    reference = pd.DataFrame({label: rng.integers(0, 2, 3000), "kids": rng.choice([0.0, 1.0, 2.0, 3.0], 3000),
                              "zero": rng.choice([0.0, -0.0, 1.0], 3000)})
    current = pd.DataFrame({label: rng.integers(0, 2, 2000), "kids": rng.choice([0.0, 1.0, 2.0, 4.0], 2000),
                            "zero": rng.choice([-0.0, 1.0, 7.0], 2000)})
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    current.to_parquet(tmp_path / "cur.parquet", index=False)
    read: list[str] = []
    numbers = duckdb_source.DuckDBSource.numbers

    def spy(self: Any, column: str, side: Any, *, lenient: bool = False) -> np.ndarray:  # noqa: ANN401
        read.append(f"{column}:{side}")
        return numbers(self, column, side, lenient=lenient)

    monkeypatch.setattr(duckdb_source.DuckDBSource, "numbers", spy)
    for method in ("psi", "jensenshannon", "chisquare", "auto"):
        read.clear()
        counted = _engine_drift(tmp_path / "cur.parquet", tmp_path / "ref.parquet", method, ["kids", "zero"])
        assert read == ["kids:reference", "zero:reference"], method  # the current values stayed in the engine
        with monkeypatch.context() as limited:
            limited.setattr(d, "MAX_COUNTED_VALUES", 2)  # three distinct current values: read them instead
            read.clear()
            whole = _engine_drift(tmp_path / "cur.parquet", tmp_path / "ref.parquet", method, ["kids", "zero"])
            assert {"kids:current", "zero:current"} <= set(read), method
        for result in (counted, whole):
            for column in result["details"]["columns"].values():
                column.pop("seconds", None)
        assert _same(counted["details"], whole["details"]) and counted["value"] == whole["value"], method
        assert sorted(counted["details"]["columns"]["zero"]["distribution"]["bins"]) == ["0.0", "1.0", "7.0"]
