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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BACKGROUND",
    "PERMUTATION_BUDGET",
    "ExplanationError",
    "importance",
    "input_provenance",
]

BACKGROUND = 100
"""Background rows for the linear and permutation explainers."""
PERMUTATION_BUDGET = 1_000_000
"""Work bound of the permutation path, in model rows: the rows explained are capped so that
rows x permutations x ((2 p + 1) x background + CALL_COST_ROWS) stays within it (about 10 s of a typical pipeline)."""
CALL_COST_ROWS = 2_000
"""The fixed cost of one model call (a ColumnTransformer on a DataFrame), in model rows."""
MIN_PERMUTATION_ROWS = 50
"""The permutation path explains at least this many rows (or all the sample, if smaller)."""
MAX_PERMUTATIONS = 10
"""At most this many antithetic permutations per explained row."""
PERMUTATION_EVALS_PER_ROW = 2_000
"""Target of (2 p + 1) x background x permutations per explained row: sets the number of antithetic permutations
(1 to MAX_PERMUTATIONS; 1 when p <= 2, where one forward and backward pass is already exact)."""

ATTRIBUTION_GROUPED = "transformed features summed back to input columns"
ATTRIBUTION_RAW = "raw input columns"
_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")
_TOLERANCE = {"rtol": 1e-6, "atol": 1e-8}


class ExplanationError(Exception):
    """The model cannot be explained in terms of its raw input columns; the message is the human reason."""


class _Unproven(Exception):
    """Provenance of the transformed columns cannot be proven; the message says which step and why."""


# ----------------------------------------------------------------------------------------------- provenance tracing
def _flatten(model: Any) -> list[tuple[str, Any]]:  # noqa: ANN401
    """The model's steps in order, nested ``Pipeline`` objects expanded and ``None``/'passthrough' steps dropped."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        return [("model", model)]
    steps: list[tuple[str, Any]] = []
    for name, step in model.steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if isinstance(step, Pipeline):
            steps.extend((f"{name}/{inner}", s) for inner, s in _flatten(step))
        else:
            steps.append((name, step))
    return steps


def _identity_types() -> tuple[type, ...]:
    """Transformers whose output column ``k`` is a function of input column ``k`` alone (same width)."""
    from sklearn import preprocessing as p

    return (p.StandardScaler, p.MinMaxScaler, p.MaxAbsScaler, p.RobustScaler, p.QuantileTransformer,
            p.PowerTransformer, p.Binarizer, p.OrdinalEncoder)


def _resolve_columns(ct: Any, name: str, columns: Any) -> list[int]:  # noqa: ANN401
    """Input column positions a fitted ``ColumnTransformer`` gives the transformer ``name`` (as sklearn indexes)."""
    resolved = getattr(ct, "_transformer_to_input_indices", None)
    if isinstance(resolved, dict) and name in resolved:
        return [int(i) for i in resolved[name]]
    n_in = int(ct.n_features_in_)
    names = [str(c) for c in getattr(ct, "feature_names_in_", [])]
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):  # label slices include their stop
            start = names.index(columns.start) if columns.start is not None else 0
            stop = names.index(columns.stop) + 1 if columns.stop is not None else n_in
            return list(range(start, stop))
        return list(range(n_in))[columns]
    values = list(np.asarray(columns, dtype=object).ravel())
    if values and all(isinstance(v, bool | np.bool_) for v in values):
        return [i for i, v in enumerate(values) if v]
    out: list[int] = []
    for v in values:
        if isinstance(v, str):
            if v not in names:
                raise _Unproven(f"column {v!r} of transformer {name!r} is not among the fitted input names")
            out.append(names.index(v))
        elif isinstance(v, int | np.integer):
            out.append(int(v) % n_in)
        else:
            raise _Unproven(f"cannot resolve the columns of transformer {name!r}: {columns!r}")
    return out


def _one_hot_widths(encoder: Any) -> list[int]:  # noqa: ANN401
    """Output columns per input feature of a fitted ``OneHotEncoder`` (categories, minus a dropped one, with the
    infrequent categories of a feature sharing one column)."""
    widths = [len(c) for c in encoder.categories_]
    infrequent = getattr(encoder, "infrequent_categories_", None) if getattr(encoder, "_infrequent_enabled",
                                                                            False) else None
    for i, group in enumerate(infrequent or []):
        if group is not None:
            widths[i] -= len(group) - 1
    drop = getattr(encoder, "drop_idx_", None)
    for i, d in enumerate(drop if drop is not None else []):
        if d is not None:
            widths[i] -= 1
    own = getattr(encoder, "_n_features_outs", None)
    if own is not None and [int(w) for w in own] != widths:
        raise _Unproven(f"OneHotEncoder widths {widths} disagree with the encoder's own {list(own)}")
    return widths


def _trace(name: str, step: Any, sources: list[int]) -> list[int]:  # noqa: ANN401, C901
    """Raw input column index of each output column of the fitted ``step``, given the raw index of each of its input
    columns (``sources``, length = the step's input width). Raises :class:`_Unproven` when not provably one-to-one."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectorMixin
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer, OneHotEncoder, TargetEncoder

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return list(sources)
    if isinstance(step, str) and step == "drop":
        return []
    kind = type(step)
    n_in = getattr(step, "n_features_in_", None)
    if n_in is not None and int(n_in) != len(sources) and kind is not Pipeline:
        raise _Unproven(f"step {name!r} ({kind.__name__}) expects {n_in} columns, traced {len(sources)}")
    if kind is Pipeline:
        for inner, s in _flatten(step):
            sources = _trace(f"{name}/{inner}", s, sources)
        return sources
    if kind is ColumnTransformer:
        pieces: list[tuple[int, list[int]]] = []
        for sub, trans, columns in step.transformers_:
            span = step.output_indices_.get(sub, slice(0, 0))
            width = span.stop - span.start
            if width == 0:
                continue
            picked = [sources[i] for i in _resolve_columns(step, sub, columns)]
            out = _trace(f"{name}/{sub}", trans, picked)
            if len(out) != width:
                raise _Unproven(f"transformer {name}/{sub} traced {len(out)} columns, outputs {width}")
            pieces.append((span.start, out))
        traced = []
        for start, out in sorted(pieces):
            if start != len(traced):
                raise _Unproven(f"the outputs of ColumnTransformer {name!r} are not contiguous")
            traced.extend(out)
        return traced
    if kind is FeatureUnion:
        traced = []
        for sub, trans in step.transformer_list:
            traced.extend(_trace(f"{name}/{sub}", trans, sources))
        return traced
    if kind in _identity_types() or (kind is FunctionTransformer and step.func is None):
        return list(sources)
    if kind is OneHotEncoder:
        widths = _one_hot_widths(step)
        return [src for src, w in zip(sources, widths, strict=True) for _ in range(w)]
    if kind is TargetEncoder:
        repeat = len(step.classes_) if step.target_type_ == "multiclass" else 1
        return [src for src in sources for _ in range(repeat)]
    if kind is KBinsDiscretizer:
        if step.encode == "ordinal":
            return list(sources)
        return [src for src, w in zip(sources, step.n_bins_, strict=True) for _ in range(int(w))]
    if kind is SimpleImputer:
        stats = np.asarray(step.statistics_, dtype=object)
        kept = range(len(sources)) if step.keep_empty_features else [i for i, s in enumerate(stats) if s == s]
        traced = [sources[i] for i in kept]
        if step.add_indicator and getattr(step, "indicator_", None) is not None:
            traced.extend(sources[int(i)] for i in step.indicator_.features_)
        return traced
    if kind is MissingIndicator:
        return [sources[int(i)] for i in step.features_]
    if isinstance(step, SelectorMixin) and kind.transform is SelectorMixin.transform:
        return [sources[int(i)] for i in step.get_support(indices=True)]
    raise _Unproven(f"step {name!r} ({kind.__name__}) is not a transformer whose output columns are known to each "
                    "derive from one input column")


def input_provenance(model: Any, n_inputs: int) -> list[int]:  # noqa: ANN401
    """For a fitted model (``Pipeline`` or estimator) with ``n_inputs`` raw input columns, the raw input index from
    which each column reaching the final estimator derives (length = the final estimator's input width).

    Raises ``ValueError`` with the reason when that is not provably one input column per transformed column.
    """
    steps = _flatten(model)
    sources = list(range(n_inputs))
    try:
        for name, step in steps[:-1]:
            sources = _trace(name, step, sources)
    except _Unproven as exc:
        raise ValueError(str(exc)) from exc
    return sources


# ----------------------------------------------------------------------------------------------- model outputs
@dataclass(frozen=True)
class _Output:
    """What is explained: ``kind`` 'classifier'/'regressor', the classes (JSON-native), and either one class position
    (``index``) or all classes (``index`` None, ``aggregate`` True)."""

    kind: str
    classes: list[Any] | None
    index: int | None
    aggregate: bool
    method: str  # predict_proba, decision_function or predict
    n_outputs: int = 1  # a multi-output regressor's outputs

    def label(self) -> str:
        """The explained class label, quoted like Python does (``'>50K'``, ``1``)."""
        return repr(self.classes[self.index]) if self.classes is not None and self.index is not None else ""


def _native(value: Any) -> Any:  # noqa: ANN401
    """A NumPy scalar as the Python value (JSON-native class labels); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _choose_output(model: Any, positive_class: object | None) -> _Output:  # noqa: ANN401
    """What to explain for ``model`` (see the module docstring, *Outputs*). A ``positive_class`` that equals no class
    may still name one by its text (a label read from YAML as ``"1"`` for the class ``1``) if exactly one matches."""
    from sklearn.base import is_classifier

    classes_attr = getattr(model, "classes_", None)
    if not (is_classifier(model) or classes_attr is not None):
        if not hasattr(model, "predict"):
            raise ExplanationError(f"{type(model).__name__} has no predict method")
        return _Output("regressor", None, None, False, "predict")
    if classes_attr is None:
        raise ExplanationError(f"classifier {type(model).__name__} has no classes_ (is it fitted?)")
    if isinstance(classes_attr, list):
        raise ExplanationError("multi-label / multi-output classifiers are not supported")
    classes = [_native(c) for c in np.asarray(classes_attr, dtype=object).ravel()]
    if len(classes) < 2:
        raise ExplanationError(f"the classifier was fit on a single class {classes!r}: there is nothing to explain")
    method = "predict_proba" if hasattr(model, "predict_proba") else (
        "decision_function" if hasattr(model, "decision_function") else "")
    if not method:
        raise ExplanationError(f"classifier {type(model).__name__} has neither predict_proba nor decision_function")
    if positive_class is not None:
        matches = [i for i, c in enumerate(classes) if c == positive_class]
        if not matches:  # a label typed differently (YAML "1" vs int 1) still names one class unambiguously
            matches = [i for i, c in enumerate(classes) if str(c) == str(positive_class)]
        if len(matches) != 1:
            raise ExplanationError(f"positive class {positive_class!r} is not one of the model's classes {classes!r}")
        return _Output("classifier", classes, matches[0], False, method)
    if len(classes) == 2:
        return _Output("classifier", classes, 1, False, method)
    return _Output("classifier", classes, None, True, method)


def _call(model: Any, output: _Output, x: Any) -> np.ndarray:  # noqa: ANN401
    """The explained output(s) of ``model`` on ``x``: shape (rows,) for one output, (rows, outputs) otherwise."""
    y = np.asarray(getattr(model, output.method)(x), dtype=float)
    if output.kind == "regressor" or output.classes is None:
        return y
    if output.method == "decision_function" and y.ndim == 1:  # binary margin is the margin of classes[1]
        return y if output.index == 1 else -y
    if output.index is None:
        return y
    return y[:, output.index]


# ----------------------------------------------------------------------------------------------- raw-column codec
def _value_keys(series: pd.Series) -> Any:  # noqa: ANN401
    """Hashable keys that tell apart every two values a model could tell apart (``None`` from ``NaN``, ``1`` from
    ``1.0`` and ``True``) in an object column; other dtypes are their own keys."""
    if series.dtype != object:
        return series
    keys = np.empty(len(series), dtype=object)
    for i, value in enumerate(series.to_numpy()):
        keys[i] = (type(value).__qualname__, "nan" if isinstance(value, float) and value != value else value)
    return keys


class _Codec:
    """Numbers for the raw columns of a frame and back. Numeric NumPy columns are coded as their values; any other
    column as the number of a distinct value, decoded by taking the first row that holds it, so that the model sees
    exactly the original objects and dtypes (``None`` stays ``None``, a category stays a category).

    ``codes``: the (rows, columns) float matrix of the frame the codec was built from."""

    def __init__(self, seen: pd.DataFrame, as_numpy: bool) -> None:
        self.seen = seen.reset_index(drop=True)
        self.as_numpy = as_numpy
        self.numeric: dict[str, Any] = {}
        self.rows: dict[str, np.ndarray] = {}
        self.codes = np.empty(seen.shape, dtype=float)
        for j, col in enumerate(self.seen.columns):
            series = self.seen[col]
            if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
                self.numeric[col] = series.dtype
                self.codes[:, j] = series.to_numpy(dtype=float)
            else:
                codes, _ = pd.factorize(_value_keys(series), use_na_sentinel=False)
                _, first_rows = np.unique(codes, return_index=True)
                self.rows[col] = first_rows
                self.codes[:, j] = codes

    def decode(self, codes: np.ndarray) -> Any:  # noqa: ANN401
        """The frame (or NumPy array, for a model fit without column names) the (rows, columns) codes stand for."""
        data = {}
        for j, col in enumerate(self.seen.columns):
            if col in self.numeric:
                values = codes[:, j].astype(self.numeric[col])
            else:
                values = self.seen[col].array.take(self.rows[col][codes[:, j].astype(np.intp)])
            data[col] = pd.Series(values, dtype=self.seen[col].dtype, copy=False)  # no dtype inference (object->str)
        frame = pd.DataFrame(data, columns=self.seen.columns)
        return frame.to_numpy() if self.as_numpy else frame


# ----------------------------------------------------------------------------------------------- explainers
def _units(output: _Output, margin: str) -> str:
    """Units of the explained output: 'probability', or a margin ('log-odds', 'decision function', ...)."""
    return "prediction" if output.kind == "regressor" else margin


def _describe(output: _Output, units: str) -> tuple[str, str]:
    """(output description, output_aggregation) for the explained output in ``units``."""
    if output.kind == "regressor":
        if output.aggregate:
            return f"sum over {output.n_outputs} outputs of mean |SHAP| ({units})", "sum over outputs"
        return units, "single output"
    if output.aggregate:
        return f"sum over {len(output.classes or [])} classes of mean |SHAP| ({units})", "sum over classes"
    return f"{units} of class {output.label()}", "positive class"


def _select(values: np.ndarray, output: _Output) -> np.ndarray:
    """Tree/linear SHAP values (rows, features[, outputs]) of the explained output(s): (rows, features), or
    (rows, features, classes) when aggregating. A (rows, features) array of a binary classifier explains its margin
    for ``classes[1]`` (log-odds, decision function); the margin of ``classes[0]`` is its negation."""
    values = np.asarray(values, dtype=float)
    if output.kind == "regressor" or output.classes is None:
        return values
    if values.ndim == 2:
        if len(output.classes) != 2:
            raise _Unproven(f"SHAP returned one output for {len(output.classes)} classes")
        return values if output.index == 1 else -values
    if values.shape[-1] != len(output.classes):
        raise _Unproven(f"SHAP returned {values.shape[-1]} outputs for {len(output.classes)} classes")
    # A multiclass model decides by softmax or argmax over per-class margins, which a shift common to all classes
    # leaves unchanged (e.g. adding c·x_j to every class's coefficient of feature j): such shifts carry no
    # information, yet would move per-class SHAP values. Centring across classes removes them, so the attribution
    # depends only on what the model predicts. (Probabilities already sum to 1: centring changes nothing there.)
    values = values - values.mean(axis=-1, keepdims=True)
    return values if output.index is None else values[..., output.index]


def _group(values: np.ndarray, sources: Sequence[int], n_inputs: int) -> np.ndarray:
    """Importance per raw input: per-row sums of the SHAP values of the features from each input, then mean |.|
    over rows, summed over outputs when there are several. ``values``: (rows, features[, outputs])."""
    membership = np.zeros((len(sources), n_inputs))
    membership[np.arange(len(sources)), np.asarray(sources, dtype=int)] = 1.0
    stacked = values if values.ndim == 3 else values[..., None]
    grouped = np.einsum("rfo,fc->rco", stacked, membership)
    return np.abs(grouped).mean(axis=0).sum(axis=1)


def _as_fitted(estimator: Any, x: np.ndarray) -> Any:  # noqa: ANN401
    """``x`` as the estimator was fitted: a DataFrame with its column names when it has them."""
    names = getattr(estimator, "feature_names_in_", None)
    return pd.DataFrame(x, columns=list(names)) if names is not None and len(names) == x.shape[1] else x


def _dense(x: Any) -> np.ndarray:  # noqa: ANN401
    x = x.toarray() if hasattr(x, "toarray") else x
    return np.asarray(x, dtype=float)


def _fast_path(model: Any, output: _Output, raw: Any, raw_background: Any, n_inputs: int,  # noqa: ANN401
               expected: np.ndarray) -> tuple[np.ndarray, str, str, int, bool]:
    """Tree/linear SHAP on the transformed matrix, grouped back to the raw inputs. ``expected``: the whole model's
    explained output(s) on the raw rows.

    Returns (importance per raw input, explainer, output units, background size, identity mapping). Raises
    :class:`_Unproven` with the reason when this path does not apply."""
    import shap

    steps = _flatten(model)
    final = steps[-1][1]
    module = type(final).__module__
    is_tree = module.startswith(_TREE_MODULES)
    is_linear = hasattr(final, "coef_") and hasattr(final, "intercept_")
    if not (is_tree or is_linear):
        raise _Unproven(f"the final estimator {type(final).__name__} is neither a tree model nor a linear model")
    categorical = getattr(final, "is_categorical_", None)
    if categorical is not None and np.asarray(categorical).any():
        raise _Unproven("TreeExplainer does not handle native categorical splits")
    sources = list(range(n_inputs))
    x, xb = raw, raw_background
    for name, step in steps[:-1]:
        sources = _trace(name, step, sources)
        try:
            x, xb = step.transform(x), step.transform(xb)
        except Exception as exc:  # noqa: BLE001 - the model itself was callable: explain it whole instead
            raise _Unproven(f"step {name!r} failed on its own: {type(exc).__name__}: {exc}") from exc
    try:
        x, xb = _dense(x), _dense(xb)
    except (TypeError, ValueError) as exc:
        raise _Unproven(f"the transformed features are not numeric ({exc})") from exc
    if x.shape[1] != len(sources):
        raise _Unproven(f"traced {len(sources)} transformed columns, the preprocessing output has {x.shape[1]}")
    if not np.allclose(_call(final, output, _as_fitted(final, x)), expected, equal_nan=True, **_TOLERANCE):
        raise _Unproven("the final estimator on the transformed sample does not reproduce the model's output")
    try:
        if is_tree:
            explainer = shap.TreeExplainer(final)
            values = explainer.shap_values(x, check_additivity=True)
            tree_output = str(getattr(explainer.model, "tree_output", ""))
            margin = {"probability": "probability", "log_odds": "log-odds" if len(output.classes or []) == 2
                      else "raw score (softmax input), centred across classes"}.get(tree_output, "raw model output")
            method = {"probability": "predict_proba", "log_odds": "decision_function"}.get(tree_output, "predict")
            background = 0
        else:
            explainer = shap.LinearExplainer(final, shap.maskers.Independent(xb, max_samples=BACKGROUND))
            values = explainer.shap_values(x)
            from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

            logistic = type(final) in (LogisticRegression, LogisticRegressionCV)
            margin = ("log-odds" if len(output.classes or []) == 2 else "logit (softmax input), centred across "
                      "classes") if logistic else "decision function"
            method = "decision_function" if output.kind == "classifier" else "predict"
            background = int(xb.shape[0])
    except Exception as exc:  # noqa: BLE001 - any SHAP failure sends the model down the raw-column path
        raise _Unproven(f"{'TreeExplainer' if is_tree else 'LinearExplainer'} failed: {type(exc).__name__}: {exc}"
                        ) from exc
    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    values = np.asarray(values, dtype=float)
    _check_additive(final, method, x, values, explainer.expected_value)
    selected = _select(values, output)
    if not np.isfinite(selected).all():
        raise _Unproven("SHAP values are not finite")
    identity = sources == list(range(n_inputs))
    return _group(selected, sources, n_inputs), "tree" if is_tree else "linear", _units(output, margin), \
        background, identity


def _check_additive(final: Any, method: str, x: np.ndarray, values: np.ndarray,  # noqa: ANN401
                    expected_value: Any) -> None:  # noqa: ANN401
    """SHAP values (rows, features[, outputs]) plus the expected value must add up to the estimator's own output in
    the explained units (``method`` of ``final`` on the transformed rows ``x``); raises :class:`_Unproven` if not."""
    try:
        reference = np.asarray(getattr(final, method)(_as_fitted(final, x)), dtype=float)
    except Exception as exc:  # noqa: BLE001 - no numeric output to check against: not provable
        raise _Unproven(f"cannot check the SHAP values of {type(final).__name__} against its {method}: {exc}"
                        ) from exc
    total = values.sum(axis=1) + np.asarray(expected_value, dtype=float)
    if total.size != reference.size or not np.allclose(total, reference.reshape(total.shape), **_TOLERANCE):
        raise _Unproven(f"the SHAP values of {type(final).__name__} do not add up to its {method}")


def _permutation_plan(n_rows: int, n_inputs: int, n_background: int) -> tuple[int, int]:
    """(rows to explain, max_evals) for the permutation path; depends only on the shapes, never on the clock."""
    per_permutation = 2 * n_inputs + 1
    width = per_permutation * max(n_background, 1)
    permutations = 1 if n_inputs <= 2 else max(1, min(MAX_PERMUTATIONS, PERMUTATION_EVALS_PER_ROW // width))
    cap = max(MIN_PERMUTATION_ROWS, PERMUTATION_BUDGET // (permutations * (width + CALL_COST_ROWS)))
    return min(n_rows, cap), permutations * per_permutation


def _permutation_path(model: Any, output: _Output, sample: pd.DataFrame, background: pd.DataFrame,  # noqa: ANN401
                      as_numpy: bool, seed: int) -> tuple[np.ndarray, int, int, int]:
    """Permutation SHAP of the whole model on its raw columns. Returns (importance per raw input, rows explained,
    background size, max_evals)."""
    import shap
    from threadpoolctl import threadpool_limits

    codec = _Codec(pd.concat([sample, background], ignore_index=True), as_numpy)
    rows, max_evals = _permutation_plan(len(sample), sample.shape[1], len(background))
    codes, codes_background = codec.codes[:rows], codec.codes[len(sample):]

    def explained(z: np.ndarray) -> np.ndarray:
        return _call(model, output, codec.decode(np.asarray(z)))

    state = np.random.get_state()  # shap.PermutationExplainer seeds NumPy's global generator
    try:
        masker = shap.maskers.Independent(codes_background, max_samples=BACKGROUND)
        explainer = shap.PermutationExplainer(explained, masker, seed=seed)
        with threadpool_limits(limits=1):  # many small model calls: thread start-up would cost more than it gains
            values = explainer(codes, max_evals=max_evals, silent=True).values
    except ExplanationError:
        raise
    except Exception as exc:  # noqa: BLE001 - the caller fails the check with the reason
        raise ExplanationError(f"permutation SHAP failed: {type(exc).__name__}: {exc}") from exc
    finally:
        np.random.set_state(state)
    selected = np.asarray(values, dtype=float)  # _call already picked the explained output(s)
    if not np.isfinite(selected).all():
        raise ExplanationError("permutation SHAP values are not finite (does the model return NaN?)")
    return _group(selected, range(sample.shape[1]), sample.shape[1]), rows, int(codes_background.shape[0]), max_evals


# ----------------------------------------------------------------------------------------------- public entry point
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
