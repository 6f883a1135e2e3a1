"""Global feature importance: mean |SHAP value| per original input feature.

The explainer is chosen explicitly, never by ``shap.Explainer``'s auto-selection (which can pick the exact explainer
and allocate many GiB):

* tree ensembles (``HistGradientBoosting*``, random forests, gradient boosting, decision trees) —
  ``shap.TreeExplainer`` on the fitted estimator, path-dependent (no background needed);
* linear models (an estimator with ``coef_``) — ``shap.LinearExplainer`` with a bounded background sample;
* anything else — ``shap.PermutationExplainer`` over the model's probability (or prediction) with an ``Independent``
  masker of a bounded background, and a bounded number of evaluations.

For a Pipeline the final estimator is explained on the preprocessed (numeric) features, and the importance of every
output column of the ColumnTransformer is summed back to the input column it came from (a one-hot encoded column
sums its categories). The sample size, background size, explainer and time taken are recorded with the result.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

BACKGROUND = 100
TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")


def _final_and_pre(model: Any) -> tuple[Any, Any]:  # noqa: ANN401
    if hasattr(model, "steps") and len(model.steps) > 1:
        from sklearn.pipeline import Pipeline

        return model.steps[-1][1], Pipeline(model.steps[:-1])
    if hasattr(model, "steps"):
        return model.steps[-1][1], None
    return model, None


def source_columns(pre: Any, input_columns: list[str], n_out: int) -> list[str]:  # noqa: ANN401
    """For each output column of a preprocessing step, the input column it derives from."""
    ct = pre.steps[-1][1] if hasattr(pre, "steps") else pre
    if pre is None or not hasattr(ct, "transformers_"):
        return input_columns[:n_out] if len(input_columns) >= n_out else [f"x{i}" for i in range(n_out)]
    mapping: list[str] = []
    for _name, transformer, columns in ct.transformers_:
        if transformer == "drop" or (isinstance(columns, list | tuple) and not columns):
            continue
        cols = [input_columns[c] if isinstance(c, int) else str(c) for c in
                (columns if isinstance(columns, list | tuple | np.ndarray) else [columns])]
        if transformer == "passthrough":
            mapping.extend(cols)
            continue
        step = transformer.steps[-1][1] if hasattr(transformer, "steps") else transformer
        categories = getattr(step, "categories_", None)
        if categories is not None and len(categories) == len(cols):
            drop = getattr(step, "drop_idx_", None)
            for i, col in enumerate(cols):
                width = len(categories[i]) - (1 if drop is not None and drop[i] is not None else 0)
                mapping.extend([col] * width)
        else:
            out = transformer.get_feature_names_out(cols) if hasattr(transformer, "get_feature_names_out") else cols
            for name in out:
                mapping.append(next((c for c in cols if str(name) == c or str(name).startswith(f"{c}_")), str(name)))
    if getattr(ct, "remainder", "drop") == "passthrough" and len(mapping) < n_out:
        used = set(mapping)
        mapping.extend(c for c in input_columns if c not in used)
    if len(mapping) != n_out:
        raise ValueError(f"cannot map {n_out} transformed columns back to inputs (mapped {len(mapping)})")
    return mapping


def importance(model: Any, frame: Any, sample_size: int = 500, seed: int = 0) -> dict[str, Any]:  # noqa: ANN401
    """Mean |SHAP| per input feature on a sample of ``frame`` (a pandas DataFrame of the model's inputs)."""
    import shap

    started = time.perf_counter()
    final, pre = _final_and_pre(model)
    features = [str(c) for c in getattr(model, "feature_names_in_", frame.columns)]
    data = frame[features]
    sample = data.sample(n=min(sample_size, len(data)), random_state=seed)
    background = data.sample(n=min(BACKGROUND, len(data)), random_state=seed + 1)
    x = pre.transform(sample) if pre is not None else sample.to_numpy()
    xb = pre.transform(background) if pre is not None else background.to_numpy()
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x, dtype=float)
    xb = xb.toarray() if hasattr(xb, "toarray") else np.asarray(xb, dtype=float)
    module = type(final).__module__
    if module.startswith(TREE_MODULES):
        explainer_name = "tree"
        values = shap.TreeExplainer(final).shap_values(x)
    elif hasattr(final, "coef_"):
        explainer_name = "linear"
        values = shap.LinearExplainer(final, shap.maskers.Independent(xb, max_samples=BACKGROUND)).shap_values(x)
    else:
        explainer_name = "permutation"
        predict = (lambda z: final.predict_proba(z)[:, -1]) if hasattr(final, "predict_proba") else final.predict
        explainer = shap.PermutationExplainer(predict, shap.maskers.Independent(xb, max_samples=BACKGROUND))
        values = explainer(x, max_evals=max(2 * x.shape[1] + 1, 500)).values
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, features, classes): explain the positive (last) class
        values = values[..., -1]
    per_column = np.abs(values).mean(axis=0)
    sources = source_columns(pre, features, per_column.size)
    totals: dict[str, float] = {}
    for source, value in zip(sources, per_column, strict=True):
        totals[source] = totals.get(source, 0.0) + float(value)
    ranked = dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        "importance": ranked,
        "explainer": explainer_name,
        "sample_size": int(x.shape[0]),
        "background_size": int(xb.shape[0]) if explainer_name != "tree" else 0,
        "seconds": round(time.perf_counter() - started, 3),
    }
