"""What an explanation explains — the model's output, in which units, for which class — and how SHAP values become
one importance per raw input column.

Used by :mod:`core.evaluation.explain` (see its *Outputs* and *Definition followed*) and by both of its paths
(:mod:`core.evaluation.explain_fast`, :mod:`core.evaluation.explain_permutation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.evaluation.explain_provenance import _Unproven

BACKGROUND = 100
"""Background rows for the linear and permutation explainers."""


class ExplanationError(Exception):
    """The model cannot be explained in terms of its raw input columns; the message is the human reason."""


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
    per_input: np.ndarray = np.abs(grouped).mean(axis=0).sum(axis=1)
    return per_input
