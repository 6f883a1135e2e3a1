"""The raw-column path of :mod:`core.evaluation.explain` (see its *Strategy*, 2): permutation SHAP of the whole
model on its raw input columns, each encoded as numbers (:class:`_Codec`), within a work bound that depends only on
the shapes, never on the clock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.evaluation.explain_outputs import BACKGROUND, ExplanationError, _call, _group, _Output

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
