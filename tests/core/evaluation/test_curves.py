"""The ROC curve and the drift distributions an evaluation stores for the model card's charts.

The ROC curve is checked against scikit-learn's ``roc_curve(drop_intermediate=False)`` with hypothesis; the
distributions against numpy's own counts of the same bins.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st
from sklearn.metrics import roc_curve as roc_curve_sklearn

from core.evaluation import drift
from core.evaluation.metrics import MAX_ROC_POINTS, roc_curve
from tests.core.evaluation.ranking import ranking_of, rankings_of


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0])),
                min_size=2, max_size=60).filter(lambda rows: len({y for y, _ in rows}) == 2))
def test_the_roc_curve_is_scikit_learns(rows: list[tuple[int, float]]) -> None:
    labels, scores = [y for y, _ in rows], [s for _, s in rows]
    fpr, tpr, _ = roc_curve_sklearn(labels, scores, drop_intermediate=False)
    ours = roc_curve(ranking_of(labels, scores))
    assert ours["points_of"] == len(fpr)
    np.testing.assert_allclose(ours["fpr"], fpr, atol=1e-6)
    np.testing.assert_allclose(ours["tpr"], tpr, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700), st.integers(2, 50))
def test_a_long_curve_is_thinned_evenly_keeping_its_ends(distinct: int, max_points: int) -> None:
    scores = np.arange(distinct) / distinct
    ranking = ranking_of(np.arange(distinct) % 2, scores, max_points=max_points)
    kept = [k for k, _, _ in ranking.curve]
    if distinct + 1 <= max_points:
        assert kept == list(range(distinct + 1))
    else:  # the nearest threshold to each of max_points evenly spaced positions (numpy's rounding but halves up)
        assert kept == [int(np.floor(j * distinct / (max_points - 1) + 0.5)) for j in range(max_points)]
    if distinct >= 2:  # both classes
        fpr, tpr, _ = roc_curve_sklearn(np.arange(distinct) % 2, scores, drop_intermediate=False)
        ours = roc_curve(ranking)
        np.testing.assert_allclose(ours["fpr"], fpr[kept], atol=1e-6)
        np.testing.assert_allclose(ours["tpr"], tpr[kept], atol=1e-6)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([-1e300, -0.0, 0.0, 0.1, 0.25, 0.5, 0.7, 1.0, 3.5e-310]) |
                          st.floats(allow_nan=False, allow_infinity=False)), min_size=0, max_size=80),
       st.integers(2, 12))
def test_ranges_of_scores_ranked_apart_give_the_one_windows_ranking(rows: list[tuple[int, float]],
                                                                     max_points: int) -> None:
    """A Spark cluster ranks the distinct scores in ranges (its ordered window without a partition key runs in one
    task): the counts, sums and kept curve points are the one window's, exactly, for any number of ranges."""
    labels, scores = [y for y, _ in rows], [s for _, s in rows]
    one, *ranged = rankings_of(labels, scores, max_points, [None, 1, 2, 3, 7, 64])
    assert all(r == one for r in ranged)


def test_the_stored_curve_has_at_most_max_roc_points() -> None:
    rng = np.random.default_rng(7)
    scores = rng.random(5_000)
    labels = (rng.random(5_000) < scores).astype(int)
    curve = roc_curve(ranking_of(labels, scores))
    assert curve["points_of"] == 5_001 and len(curve["fpr"]) == MAX_ROC_POINTS
    assert (curve["fpr"][0], curve["tpr"][0]) == (0.0, 0.0) and (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)
    assert curve["fpr"] == sorted(curve["fpr"]) and curve["tpr"] == sorted(curve["tpr"])


def test_numeric_distributions_use_the_psi_bins() -> None:
    rng = np.random.default_rng(1)
    reference, current = rng.normal(0, 1, 2_000), rng.normal(0.5, 1, 1_000)
    col = drift.ColumnData("x", numeric=True, reference=reference, current=current)
    shown = drift.distribution(col, bins=10)
    inner = drift.quantile_edges(reference, 10)  # continuous: no point mass, the PSI bins are the quantile bins
    assert drift.point_masses(reference, 10).size == 0
    assert len(shown["bins"]) == inner.size + 1 and shown["bins"][0].startswith("< ")
    expected = np.bincount(np.searchsorted(inner, current, side="right"), minlength=inner.size + 1) / current.size
    np.testing.assert_allclose(shown["current"], expected, atol=1e-6)
    assert abs(sum(shown["reference"]) - 1) < 1e-5


def test_categorical_distributions_keep_the_most_frequent_categories() -> None:
    ref = {f"c{i}": 100 - i for i in range(30)}
    cur = {"c0": 5, "new": 50}
    col = drift.ColumnData("x", numeric=False, ref_counts=ref, cur_counts=cur)
    shown = drift.distribution(col)
    assert shown["bins"][:2] == ["c0", "c1"] and shown["bins"][-1] == "(other categories)"
    assert len(shown["bins"]) == drift.MAX_DISTRIBUTION_CATEGORIES + 1
    assert abs(sum(shown["current"]) - 1) < 1e-5 and abs(sum(shown["reference"]) - 1) < 1e-5
