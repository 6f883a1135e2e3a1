"""The fast exact path of :mod:`core.evaluation.explain` (see its *Strategy*, 1): tree or linear SHAP on the
transformed features, grouped back to the raw input columns, guarded by two checks (the replayed steps reproduce the
model's output; the SHAP values add up to the estimator's own output).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.evaluation.explain_outputs import BACKGROUND, _call, _group, _Output, _select, _units
from core.evaluation.explain_provenance import _flatten, _trace, _Unproven

_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")
_TOLERANCE: dict[str, Any] = {"rtol": 1e-6, "atol": 1e-8}


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
