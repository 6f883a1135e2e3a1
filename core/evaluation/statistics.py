"""What the evaluation checks need from the data: a statistics source and its typed records.

The checks (:mod:`core.evaluation.engine` and the check modules beside it) decide operators, thresholds, pass or
fail and every refusal; a :class:`StatisticsSource` only reads data and returns *sufficient statistics* — counts per
(label class, prediction class, group), counts per distinct score, loss and error sums, missing-value counts per
kind, a column's values or category counts for drift, a sample for explanations, and the schema. Nothing here names
a database: :mod:`core.evaluation.duckdb_source` is the first implementation, a distributed engine can be another.

Vocabulary shared with the implementations:

* **sides** — ``"current"``: the evaluated rows, the data file with the predictions and scores attached (as the
  reserved columns :data:`PREDICTION` and :data:`SCORE`); ``"data"``: the data file as read, without them;
  ``"reference"``: the reference file (drift).
* **type names** — column types are SQL type names as the catalog records them (``BIGINT``, ``DOUBLE``,
  ``VARCHAR``, ``DECIMAL(18,3)`` …), read by :func:`core.evaluation.labels.column_kind`.
* **missing codes** — 0 for a present value, else a key of :data:`core.evaluation.labels.MISSING_KINDS` (NULL,
  NaN, infinite, empty text, a missing-value marker in a CSV file).
* **class keys** — numbers and booleans as floats, text as text, other types as their text
  (:mod:`core.evaluation.labels`); columns the caller names in ``as_numbers`` (text of a CSV file whose every
  present value is a number, :meth:`StatisticsSource.count_numbers`) are read as numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from core.catalog.datasets import CsvDialect

__all__ = [
    "PREDICTION",
    "SCORE",
    "ConfusionCell",
    "DataFile",
    "LossSum",
    "MissingByColumn",
    "ModelOutputs",
    "NumberCounts",
    "RegressionCell",
    "ScoreRanking",
    "Side",
    "StatisticsSource",
    "ValueCounts",
]

#: The reserved names under which predictions and scores are attached to the evaluated rows.
PREDICTION, SCORE = "__cs_prediction", "__cs_score"

Side = Literal["current", "data", "reference"]

#: A model's outputs for one batch of rows: the predictions, and the positive-class scores or ``None``.
ModelOutputs = tuple[Any, Any]


@dataclass(frozen=True)
class DataFile:
    """A data file to read: its path, format (``csv``, ``parquet``, ``parquet-dir``) and CSV dialect, if any."""

    path: Path
    format: str
    dialect: CsvDialect | None = None


@dataclass(frozen=True)
class ValueCounts:
    """The most frequent values with their counts (most frequent first, ties by value) and how many rows in all."""

    top: tuple[tuple[Any, int], ...]
    total: int


@dataclass(frozen=True)
class NumberCounts:
    """Of a column's present values, how many there are and how many are plain decimal numbers."""

    present: int
    numbers: int


@dataclass(frozen=True)
class ConfusionCell:
    """Rows of one (label class, prediction class, missing codes, groups) combination, from one scan.

    ``label``/``prediction`` are class keys (``None`` when missing), ``label_missing``/``prediction_missing``/
    ``score_missing`` their missing codes (1 when the column is absent), ``score_outside`` whether the score lies
    outside [0, 1], ``groups``/``groups_missing`` the sensitive features' values and missing codes, ``rows`` the count
    and ``at_least`` the rows whose score is at least each decision threshold asked for.
    """

    label: Any
    label_missing: int
    prediction: Any
    prediction_missing: int
    score_missing: int
    score_outside: bool
    groups: tuple[Any, ...]
    groups_missing: tuple[int, ...]
    rows: int
    at_least: Mapping[float, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreRanking:
    """The rows with a present label and score ranked by score, summarised for ROC AUC, average precision and the ROC
    curve (scikit-learn's definitions: thresholds at the distinct scores from the highest down, tied scores one
    threshold).

    With ``pos_k``/``neg_k`` the positive/other rows at the k-th distinct score from the top and ``tp_k``/``fp_k``
    the positive/other rows scoring at least that score:

    - ``positives``/``negatives``/``distinct``: P, N and the number of distinct scores;
    - ``twice_wins``: Σ_k pos_k · (2 · (N − fp_k) + neg_k) — twice the Mann–Whitney U (ties count ½), an exact
      integer, so ROC AUC = ``twice_wins`` / (2·P·N);
    - ``precision_sum``: Σ_k pos_k · tp_k / (tp_k + fp_k), each term rounded to 24 decimals and summed exactly
      (the same number in any engine and any order), so average precision = ``precision_sum`` / P;
    - ``curve``: ``(k, tp_k, fp_k)`` for k = 0 (the point (0, 0)) and the thresholds kept for the stored curve
      (all of them, or ``max_points`` spread evenly keeping both ends), k ascending.
    """

    positives: int
    negatives: int
    distinct: int
    twice_wins: int
    precision_sum: float
    curve: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class LossSum:
    """A probability loss over the usable rows: their number and the sum (``None`` when there are none)."""

    rows: int
    total: float | None


@dataclass(frozen=True)
class RegressionCell:
    """Rows of one (label missing code, target missing code) combination, with the sums a regression metric needs:
    squared and absolute errors and the label's population variance (``None`` where nothing could be summed)."""

    label_missing: int
    target_missing: int
    rows: int
    squared_error: float | None
    absolute_error: float | None
    label_variance: float | None


@dataclass(frozen=True)
class MissingByColumn:
    """Rows of the data file and, per column, how many of them are missing."""

    rows: int
    missing: Mapping[str, int]


class StatisticsSource(Protocol):
    """The sufficient statistics of one evaluation, read from its data (and reference) files.

    A source is opened on the evaluation data, optionally given reference data, then given the predictions and
    scores (:meth:`attach_columns` or :meth:`attach_model_outputs`) before any statistic of the ``current`` side is
    read. Errors in the data that only reading can find are raised as :class:`core.errors.BadInput`.
    """

    @property
    def columns(self) -> Mapping[str, str]:
        """The evaluation data's columns and their type names, in file order."""
        ...

    @property
    def reference_columns(self) -> Mapping[str, str]:
        """The reference data's columns and type names (empty without reference data)."""
        ...

    @property
    def evaluated_columns(self) -> Mapping[str, str]:
        """The evaluated rows' columns: the data's, and :data:`PREDICTION` and :data:`SCORE` once attached."""
        ...

    def attach_reference(self, reference: DataFile) -> None:
        """Open the reference data."""
        ...

    def attach_columns(self, prediction: str | None, score: str | None) -> None:
        """Take predictions and/or scores from columns of the data (a score column of text is read as numbers:
        check :meth:`non_numbers` first)."""
        ...

    def attach_model_outputs(self, predict: Callable[[pd.DataFrame], ModelOutputs]) -> None:
        """Score the data in batches: ``predict`` gets the rows as a pandas frame and returns their outputs."""
        ...

    def row_count(self, side: Side) -> int:
        """Rows of one side."""
        ...

    def count_numbers(self, column: str) -> NumberCounts:
        """Of a column of the evaluated rows, the present values and those that are plain decimal numbers (a CSV
        reader types a column of numbers with a few markers as text; pandas reads it as numbers)."""
        ...

    def non_numbers(self, column: str, side: Side, limit: int = 5) -> ValueCounts:
        """Present values of a text column that are not plain decimal numbers, the ``limit`` most frequent (as
        text) and their total; an empty result when every present value is a number."""
        ...

    def inexact_class_values(self, column: str) -> int:
        """How many values of a wide integer or decimal column of the evaluated rows a 64-bit float does not hold
        exactly (so two of them could compare equal as class keys)."""
        ...

    def top_values(self, column: str, limit: int = 5) -> ValueCounts:
        """The most frequent non-NULL values of a column of the evaluated rows (``total`` is not counted: 0)."""
        ...

    def confusion_table(self, label: str, groups: Sequence[str], *, prediction: bool, score: bool,
                        thresholds: Sequence[float], limit: int,
                        as_numbers: Collection[str] = ()) -> list[ConfusionCell]:
        """One scan of the evaluated rows grouped by label class, prediction class (``prediction``: whether one is
        attached), missing codes and groups, with the rows whose score reaches each threshold (``score``: whether
        scores are attached); at most ``limit + 1`` cells are returned (the caller refuses more than ``limit``).
        Columns in ``as_numbers`` (the label, :data:`PREDICTION`) have their class keys read as numbers."""
        ...

    def score_ranking(self, label: str, positive: Any, label_as_number: bool = False,  # noqa: ANN401
                      max_points: int = 200) -> ScoreRanking:
        """Rows with a present label and score ranked by score (:class:`ScoreRanking`), computed in the engine from
        counts per distinct score (only the sums and at most ``max_points`` curve points come back);
        ``positive`` is the class key of the positive class."""
        ...

    def scores_outside_unit(self, label: str, limit: int = 5) -> list[float]:
        """Some scores outside [0, 1] among rows with a present label and score."""
        ...

    def probability_loss(self, label: str, positive: Any, loss: Literal["log_loss", "brier"],  # noqa: ANN401
                         epsilon: float, label_as_number: bool = False) -> LossSum:
        """The summed log loss (scores clipped to [epsilon, 1 - epsilon]) or Brier score of rows with a present label
        and score, ``positive`` being the class key that counts as 1."""
        ...

    def regression_sums(self, label: str, target: str) -> list[RegressionCell]:
        """Error sums of ``target`` (:data:`PREDICTION` or :data:`SCORE`) against the label, per missing codes."""
        ...

    def missing_codes(self, column: str, side: Side) -> dict[int, int]:
        """Rows per missing code of one column (code 0: present)."""
        ...

    def missing_by_column(self, columns: Sequence[str]) -> MissingByColumn:
        """Rows of the data file and, per column, its missing values (one scan)."""
        ...

    def missing_code_counts(self, columns: Sequence[str], side: Side) -> dict[str, dict[int, int]]:
        """:meth:`missing_codes` of several columns of one side, from one scan (codes with no rows left out)."""
        ...

    def bin_counts(self, column: str, side: Side, cuts: Sequence[float], masses: Sequence[float], *,
                   lenient: bool = False) -> np.ndarray:
        """Counts of a numeric column's present values per bin of :func:`core.evaluation.drift.reference_cuts`
        (bin of ``x``: the cuts at or below ``x`` plus the point masses strictly below it; ``len(cuts) +
        len(masses) + 1`` bins), counted where the data lives; the boundaries are compared as exact doubles."""
        ...

    def bin_counts_many(self, specs: Sequence[tuple[str, Sequence[float], Sequence[float], bool]],
                        side: Side) -> list[np.ndarray]:
        """:meth:`bin_counts` of several columns of one side from one scan: ``specs`` are ``(column, cuts, masses,
        lenient)``; the counts come back in the same order."""
        ...

    def numbers(self, column: str, side: Side, *, lenient: bool = False) -> np.ndarray:
        """A column's present values as floats (``lenient``: text read as numbers, values that are not become
        NaN)."""
        ...

    def categories(self, column: str, side: Side) -> dict[str, int]:
        """A column's present values as text, with their counts."""
        ...

    def value_counts(self, column: str, side: Side, *, lenient: bool = False,
                     limit: int) -> dict[float, int] | None:
        """A numeric column's present values (as :meth:`numbers` reads them) with their counts, counted where the
        data lives; ``None`` when there are more than ``limit`` distinct values (read :meth:`numbers` instead)."""
        ...

    def sample(self, columns: Sequence[str], rows: int, seed: int) -> pd.DataFrame:
        """A repeatable random sample of ``rows`` rows of the data file's ``columns``."""
        ...

    def close(self) -> None:
        """Release what the source holds."""
        ...
