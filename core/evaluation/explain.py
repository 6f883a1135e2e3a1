"""Global feature importance of a fitted scikit-learn model, attributed to the user's raw input columns.

Definition followed. For an explained output ``f`` (see *Outputs*), SHAP values ``phi[r, j]`` are computed for each
explained row ``r`` and each feature ``j`` the explainer sees. When the explainer sees transformed features (a one-hot
column, a scaled column, a missing-value indicator) the values of every transformed feature derived from the same raw
input column ``c`` are first summed per row, ``Phi[r, c] = sum_{j from c} phi[r, j]`` (SHAP values are additive, so
this is the SHAP value of ``c`` in the same game; this is the grouping the SHAP authors recommend), and the importance
of ``c`` is the mean absolute value over rows, ``I[c] = mean_r |Phi[r, c]|``, in the units of ``f``. Every raw input
column of the model appears in the result, a column the model drops with importance 0.0.

Inputs. The raw input columns are the model's ``feature_names_in_``; a model fitted on a NumPy array has none and is
given the registered ``feature_names`` (their number must equal ``n_features_in_``), and is then called with a NumPy
array of those columns in that order. Without names :class:`ExplanationError` is raised: no ``x0`` is ever made up.

Outputs. Regressors: the prediction (a multi-output regressor: the sum over outputs). Binary classifiers: the positive
class (``positive_class`` when given, else ``classes_[1]``). Classifiers with more than two classes: the
``positive_class`` when given, else every class, and the importance is the sum over classes of the per-class
importance (SHAP's multi-output bar plot stacking). The units are those of the explainer used and are recorded in
``output``: a probability, or for the tree/linear fast paths the model's own margin where that is what the estimator
adds up (log-odds of a logistic regression or a gradient-boosted classifier, the decision function of a linear SVM).

Strategy (the explainer is always chosen explicitly, never by ``shap.Explainer``'s auto-selection, which can pick the
exact explainer and allocate many GiB):

1. Fast exact path. The model is flattened into its steps (nested ``Pipeline`` objects are expanded). The provenance
   of every column the preprocessing steps output is traced to exactly ONE raw input column through transformers whose
   output columns provably each derive from one input column: ``ColumnTransformer`` (nested pipelines, ``remainder``
   passthrough/drop/estimator, any column selector, as resolved by the fitted transformer), ``FeatureUnion``,
   ``OneHotEncoder`` (drop, handle_unknown, infrequent categories), ``OrdinalEncoder``, ``TargetEncoder``, the scalers
   (Standard, MinMax, MaxAbs, Robust), ``QuantileTransformer``, ``PowerTransformer``, ``Binarizer``,
   ``KBinsDiscretizer``, ``SimpleImputer`` (an ``add_indicator`` column maps to its source column),
   ``MissingIndicator``, feature selectors, an identity ``FunctionTransformer(func=None)`` and
   ``'passthrough'``/``'drop'``. Types are matched exactly (a subclass may change ``transform``), and the traced widths
   are checked against the fitted ``ColumnTransformer.output_indices_`` and the transformed matrix. If the final
   estimator is a tree model (``shap.TreeExplainer``, path-dependent, no background) or a linear model
   (``shap.LinearExplainer`` with an ``Independent`` masker over the background), it is explained on the transformed
   sample and the SHAP values are grouped as defined above. Two checks guard the path: the final estimator's output
   on the transformed sample must reproduce the whole model's output on the raw sample (the steps were replayed
   faithfully), and the SHAP values plus the expected value must add up to the final estimator's own output in the
   explained units (``predict_proba``, ``decision_function`` or ``predict``). If anything fails, the raw-column path
   is taken and the reason is returned as ``path_reason``.
2. Raw-column path (anything else: ``FunctionTransformer``, ``PCA``, ``PolynomialFeatures``, custom steps, other
   estimators, or a fast path that failed a check). The WHOLE model is explained on its raw input columns with
   ``shap.PermutationExplainer`` and an ``Independent`` masker over the background: every raw column is encoded as
   numbers (numeric NumPy columns as their values, every other column as codes of the values seen in the sample and
   background, decoded by taking a row that holds the value so the model sees the original objects and dtypes), and
   the explained function decodes the codes back into a frame (or array) and calls the model. While it runs, the
   BLAS/OpenMP thread pools are limited to one thread: the path makes many small model calls, on which thread
   start-up costs more than it gains (HistGradientBoosting's predict on 900 rows, measured on a busy 2-core machine:
   5 ms instead of 100 ms). Each row gets ``npermutations`` antithetic permutations
   (``max_evals = npermutations * (2 p + 1)``), and the number of rows explained is capped by the work bound
   ``PERMUTATION_BUDGET`` (in model rows); both depend only on the shapes, never on the clock, so a result is
   reproducible. The actual number of rows explained is returned as ``sample_size``.

If neither path applies (the model cannot be called on its raw input columns, the names of its inputs are unknown, a
requested class does not exist, SHAP fails) :class:`ExplanationError` is raised with the reason: the caller must
fail the check, never report made-up names (``x0``) or a partial mapping.

Sampling: the explained rows are ``frame.sample(n=min(sample_size, len(frame)), random_state=seed)`` and the
background rows ``frame.sample(n=min(BACKGROUND, len(frame)), random_state=seed + 1)`` (the permutation path explains
the first rows of that sample and seeds ``shap.PermutationExplainer`` with ``seed``).

The implementation: :mod:`~core.evaluation.explain_provenance` (tracing, 1), :mod:`~core.evaluation.explain_fast`
(the fast exact path, 1), :mod:`~core.evaluation.explain_permutation` (the raw-column path, 2) and
:mod:`~core.evaluation.explain_outputs` (what is explained, in which units, and the grouping); this module chooses
between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from core.evaluation.explain_fast import _fast_path
from core.evaluation.explain_outputs import BACKGROUND, ExplanationError, _call, _choose_output, _describe, _units
from core.evaluation.explain_permutation import PERMUTATION_BUDGET, _permutation_path
from core.evaluation.explain_provenance import _flatten, _Unproven, input_provenance

__all__ = [
    "BACKGROUND",
    "PERMUTATION_BUDGET",
    "ExplanationError",
    "importance",
    "input_provenance",
]

ATTRIBUTION_GROUPED = "transformed features summed back to input columns"
ATTRIBUTION_RAW = "raw input columns"


def _input_names(model: Any, frame: pd.DataFrame, feature_names: list[str] | None) -> tuple[list[str], bool]:  # noqa: ANN401
    """The model's raw input column names in model order, and whether it must be called with a NumPy array."""
    first = _flatten(model)[0][1]  # a Pipeline starting with 'passthrough' cannot tell its own input names
    named = getattr(model, "feature_names_in_", None)
    named = named if named is not None else getattr(first, "feature_names_in_", None)
    n_in = getattr(model, "n_features_in_", None)
    n_in = n_in if n_in is not None else getattr(first, "n_features_in_", None)
    if named is not None:
        names, as_numpy = [str(c) for c in named], False
    elif feature_names is not None:
        names, as_numpy = [str(c) for c in feature_names], True
        if n_in is not None and len(names) != int(n_in):
            raise ExplanationError(f"the model takes {n_in} input columns but {len(names)} feature names were "
                                   f"registered ({', '.join(names)}): cannot tell which column is which")
    else:
        raise ExplanationError("the model was fit without column names (no feature_names_in_) and no feature names "
                               "were given: its inputs cannot be named")
    missing = [c for c in names if c not in {str(c) for c in frame.columns}]
    if missing:
        raise ExplanationError(f"the data lacks the model's input columns {missing}")
    if len(set(names)) != len(names):
        raise ExplanationError(f"duplicate input column names {names}")
    return names, as_numpy


def importance(model: Any, frame: pd.DataFrame, sample_size: int = 500, seed: int = 0, *,  # noqa: ANN401
               feature_names: list[str] | None = None, positive_class: object | None = None) -> dict[str, Any]:
    """Mean |SHAP| per raw input column of ``model`` on a sample of ``frame``, as defined in the module docstring.

    ``frame``: the raw input columns (named as registered; extra columns are ignored). ``feature_names``: the
    registered input names in model order, used when the model has no ``feature_names_in_``. ``positive_class``: the
    class to explain (else ``classes_[1]`` for binary classifiers, every class for more than two).

    Returns ``importance`` ({input column: float}, descending, ties by name), ``explainer`` ('tree', 'linear' or
    'permutation'), ``attribution`` ('raw input columns' or 'transformed features summed back to input columns'),
    ``output`` (what was explained, in which units), ``output_aggregation`` ('positive class', 'sum over classes',
    'single output' or 'sum over outputs'), ``classes`` (JSON-native labels, None for a regressor), ``sample_size``
    (rows explained), ``requested_sample_size``, ``background_size`` (0 for path-dependent tree SHAP), ``max_evals``
    (permutation path, else None), ``path_reason`` (why the permutation path was taken, else None) and
    ``seconds``. ``positive_class`` is ignored for regressors. Raises :class:`ExplanationError` with the reason when
    the model cannot be explained in terms of its raw input columns.
    """
    started = time.perf_counter()
    result = _importance(model, frame, sample_size, seed, feature_names, positive_class)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _importance(model: Any, frame: pd.DataFrame, sample_size: int, seed: int,  # noqa: ANN401
                feature_names: list[str] | None, positive_class: object | None) -> dict[str, Any]:
    if not isinstance(frame, pd.DataFrame):
        raise ExplanationError(f"expected a pandas DataFrame of input columns, got {type(frame).__name__}")
    if len(frame) == 0:
        raise ExplanationError("no rows to explain")
    if sample_size < 1:
        raise ExplanationError(f"sample_size must be at least 1, got {sample_size}")
    names, as_numpy = _input_names(model, frame, feature_names)
    output = _choose_output(model, positive_class)
    data = frame.rename(columns=str)[names]
    sample = data.sample(n=min(sample_size, len(data)), random_state=seed)
    background = data.sample(n=min(BACKGROUND, len(data)), random_state=seed + 1)
    as_input: Callable[[pd.DataFrame], Any] = (lambda f: f.to_numpy()) if as_numpy else (lambda f: f)
    try:
        probe = _call(model, output, as_input(sample))
    except Exception as exc:  # noqa: BLE001 - the model decides what it accepts (NaN, unseen values...)
        raise ExplanationError(f"the model cannot be called on its input columns: {type(exc).__name__}: {exc}"
                               ) from exc
    if not np.isfinite(probe).all():
        raise ExplanationError(f"the model's {output.method} returns non-finite values on the sample")
    if output.kind == "regressor" and probe.ndim == 2 and probe.shape[1] > 1:
        output = replace(output, aggregate=True, n_outputs=int(probe.shape[1]))

    reason, max_evals = None, None
    try:
        per_input, explainer, units, n_background, identity = _fast_path(
            model, output, as_input(sample), as_input(background), len(names), probe)
        rows = len(sample)
        attribution = ATTRIBUTION_RAW if identity else ATTRIBUTION_GROUPED
    except _Unproven as exc:
        reason = str(exc)
        per_input, rows, n_background, max_evals = _permutation_path(model, output, sample, background, as_numpy, seed)
        explainer, attribution = "permutation", ATTRIBUTION_RAW
        units = _units(output, "probability" if output.method == "predict_proba" else "decision function")
    described, aggregation = _describe(output, units)
    ranked = dict(sorted(((n, float(v)) for n, v in zip(names, per_input, strict=True)), key=lambda kv: (-kv[1],
                                                                                                         kv[0])))
    return {
        "importance": ranked,
        "explainer": explainer,
        "attribution": attribution,
        "output": described,
        "output_aggregation": aggregation,
        "classes": output.classes,
        "sample_size": int(rows),
        "requested_sample_size": int(sample_size),
        "background_size": int(n_background),
        "max_evals": max_evals,
        "path_reason": reason,
        "seconds": 0.0,
    }
