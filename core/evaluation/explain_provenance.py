"""Which raw input column each transformed column of a fitted scikit-learn pipeline derives from.

Used by :mod:`core.evaluation.explain` (its fast exact path, see *Strategy*, 1): the provenance of every column the
preprocessing steps output is traced to exactly ONE raw input column through transformers whose output columns
provably each derive from one input column; anything else raises :class:`_Unproven` with the step and the reason.
Types are matched exactly (a subclass may change ``transform``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class _Unproven(Exception):
    """Provenance of the transformed columns cannot be proven; the message says which step and why."""


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
        traced: list[int] = []
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
