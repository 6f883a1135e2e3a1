"""The label domain of an evaluation: which values are classes, which are missing, and which class is positive.

scikit-learn decides a classification task from the union of the labels and the predictions
(``sklearn.utils.multiclass.unique_labels``): two classes or fewer make a binary task, more make a multiclass one,
and a mix of text and numbers is refused ("Mix of label input types"). Countersign follows that, with the values read
by DuckDB:

* **class keys** — numeric and boolean columns compare as ``DOUBLE`` (so ``1``, ``1.0`` and ``true`` are one class,
  as in NumPy); text columns compare as the exact text; other types (dates, …) as their text.
* **missing** — a value is missing when it is ``NULL``, NaN, ±infinity, empty or blank text, text spelling NaN or
  infinity (``nan``, ``inf``, ``-Infinity``, any case), or — in CSV files, as pandas reads them — one of pandas'
  default missing-value markers (:data:`MISSING_MARKERS`: ``NA``, ``N/A``, ``NULL``, ``None``, ``#N/A``, ``<NA>``,
  …, any case). Each is counted by kind (:data:`MISSING_KINDS`).
* **positive class** — the policy's ``positive_label`` (or ``--positive-label``) when declared; otherwise
  scikit-learn's default ``pos_label=1``, which must then be one of the classes (or the classes a subset of
  ``{0, 1}``). A declared positive class on multiclass data makes binary metrics one-vs-rest.

Everything here is pure: SQL text builders for the evaluator's scans and Python over their small results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.catalog.datasets import NUMERIC
from core.evaluation.sql_dialect import DUCKDB, SqlDialect

__all__ = [
    "MISSING_KINDS",
    "ColumnKind",
    "PositiveClass",
    "class_key_sql",
    "column_kind",
    "describe_counts",
    "display",
    "missing_code_sql",
    "resolve_positive",
]

#: Missing-value codes produced by :func:`missing_code_sql` (0 means present).
MISSING_KINDS: dict[int, str] = {1: "NULL", 2: "NaN", 3: "infinite", 4: "empty text", 5: "missing-value marker text"}
_NAN_TEXT = ("nan", "+nan", "-nan")
#: pandas' default ``na_values`` (``read_csv``), compared case-insensitively: text that means "no value".
MISSING_MARKERS = ("#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "1.#ind", "1.#qnan", "<na>", "n/a", "na",
                   "null", "none")
_INF_TEXT = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


@dataclass(frozen=True)
class ColumnKind:
    """How a DuckDB column type is treated: ``numeric``, ``boolean`` (a CSV's true/false, yes/no, t/f), ``text`` or
    ``other``. Booleans compare with booleans as 1/0, but a boolean column is never matched against numbers."""

    duckdb_type: str

    @property
    def base(self) -> str:
        return self.duckdb_type.split("(")[0].upper()

    @property
    def kind(self) -> str:
        if self.base in NUMERIC:
            return "numeric"
        if self.base == "BOOLEAN":
            return "boolean"
        if self.base == "VARCHAR":
            return "text"
        return "other"


def column_kind(duckdb_type: str) -> ColumnKind:
    return ColumnKind(duckdb_type)


#: A number as pandas' CSV reader reads one (DuckDB's casts also accept "1_000", which pandas keeps as text).
NUMBER_PATTERN = r"\s*[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?\s*"


def is_number_sql(column_sql: str, dialect: SqlDialect = DUCKDB) -> str:
    """SQL: the text value is a plain decimal number (no digit separators, no hex)."""
    return dialect.full_match(f"CAST({column_sql} AS {dialect.text_type})", NUMBER_PATTERN)


def _floating(kind: ColumnKind) -> bool:
    return kind.base in NUMERIC and kind.base not in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                                                      "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "DECIMAL")


def possible_missing_codes(duckdb_type: str, markers: bool = True) -> tuple[int, ...]:
    """The :data:`MISSING_KINDS` codes :func:`missing_code_sql` can give a column of this type (0 aside)."""
    kind = column_kind(duckdb_type)
    if _floating(kind):
        return (1, 2, 3)
    if kind.kind in ("numeric", "boolean", "other"):
        return (1,)
    return (1, 2, 3, 4, 5) if markers else (1, 2, 3, 4)


def missing_code_sql(column_sql: str, duckdb_type: str, markers: bool = True, dialect: SqlDialect = DUCKDB) -> str:
    """SQL giving 0 for a present value, else the :data:`MISSING_KINDS` code of why it is missing.

    ``markers``: whether pandas' missing-value markers count as missing — true for CSV files (pandas reads them as
    missing), false for Parquet, whose text columns hold text as written."""
    kind = column_kind(duckdb_type)
    if _floating(kind):
        value = f"CAST({column_sql} AS DOUBLE)"
        return (f"(CASE WHEN {column_sql} IS NULL THEN 1 WHEN isnan({value}) THEN 2 WHEN "
                f"{dialect.is_infinite(value)} THEN 3 ELSE 0 END)")
    if kind.kind in ("numeric", "boolean", "other"):
        return f"(CASE WHEN {column_sql} IS NULL THEN 1 ELSE 0 END)"
    # Python's text.strip().lower(), compared with ASCII spellings: only ASCII text can equal them (a full Unicode
    # lowering differs between engines — DuckDB lowers "İ" to "i", Java and Python to "i̇"). Text that neither begins
    # nor ends with white space (nearly all) is compared as it is; the rest is stripped first (slower).
    nan = ", ".join(f"'{t}'" for t in _NAN_TEXT)
    inf = ", ".join(f"'{t}'" for t in _INF_TEXT)
    listed = ", ".join(f"'{t}'" for t in MISSING_MARKERS)

    spellings = [t for t in (*_NAN_TEXT, *_INF_TEXT, *(MISSING_MARKERS if markers else ())) if t]
    firsts = ", ".join(str(c) for c in sorted({ord(ch) for t in spellings for ch in (t[0].lower(), t[0].upper())}))
    longest = max(len(t) for t in spellings)

    def coded(text: str, as_is: bool) -> str:
        low, spelled = f"lower({text})", dialect.is_ascii(text)
        marker = f"WHEN {spelled} AND {low} IN ({listed}) THEN 5 " if markers else ""
        # text as it is (no outer white space) can be a spelling only if it begins with a spelling's first letter
        # (in either case) and is no longer than the longest: a cheap test that spares nearly every value lower()
        cheap = f"WHEN NOT ({dialect.first_code(text)} IN ({firsts}) AND {dialect.byte_length(text)} <= {longest}) " \
                "THEN 0 " if as_is else ""
        return (f"CASE WHEN {text} = '' THEN 4 {cheap}WHEN {spelled} AND {low} IN ({nan}) THEN 2 "
                f"WHEN {spelled} AND {low} IN ({inf}) THEN 3 {marker}ELSE 0 END")

    return (f"(CASE WHEN {column_sql} IS NULL THEN 1 WHEN NOT {dialect.padded(column_sql)} THEN "
            f"{coded(column_sql, True)} ELSE {coded(dialect.stripped(column_sql), False)} END)")


def class_key_sql(column_sql: str, duckdb_type: str, dialect: SqlDialect = DUCKDB) -> str:
    """SQL for the value that identifies a class: ``DOUBLE`` for numbers and booleans, text otherwise."""
    kind = column_kind(duckdb_type).kind
    if kind in ("numeric", "boolean"):
        return f"CAST({column_sql} AS DOUBLE)"
    if kind == "text":
        return str(column_sql)
    return f"CAST({column_sql} AS {dialect.text_type})"


def display(value: Any) -> Any:  # noqa: ANN401
    """A class key as users wrote it: integral doubles as integers, everything else unchanged."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def describe_counts(counts: Mapping[Any, int], limit: int = 8) -> str:
    """``'<=50K' (5), '>50K' (3)`` — the most frequent values first, with how many more were left out."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    shown = ", ".join(f"{display(k)!r} ({n})" for k, n in ordered[:limit])
    rest = len(ordered) - limit
    return shown + (f" and {rest} more value(s)" if rest > 0 else "")


@dataclass(frozen=True)
class PositiveClass:
    """The positive class as a class key, whether the policy declared it, and how it was chosen."""

    key: Any
    declared: bool

    @property
    def shown(self) -> Any:  # noqa: ANN401
        return display(self.key)


def _as_key(value: Any, numeric: bool) -> Any:  # noqa: ANN401
    """A declared positive label as a class key of the given kind, or ``None`` when it cannot be one."""
    if numeric:
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        if text in ("true", "t", "yes", "y", "on"):  # how a CSV reader spells a boolean column's values
            return 1.0
        if text in ("false", "f", "no", "n", "off"):
            return 0.0
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def resolve_positive(declared: Any, classes: Mapping[Any, int], numeric: bool, *,  # noqa: ANN401
                     what: str, where: str, seen: str | None = None) -> PositiveClass:
    """The positive class for a check that needs one, or :class:`ValueError` with the refusal's reason.

    ``classes`` maps each class key seen (labels and predictions together) to its count; ``what`` names the check
    needing it, ``where`` the columns the classes came from and ``seen`` the values per column (for the message).
    """
    seen = seen or (describe_counts(classes) if classes else "no values")
    if declared is not None:
        key = _as_key(declared, numeric)
        if key is None or key not in classes:
            kind = "numbers" if numeric else "text"
            raise ValueError(f"{what}: the positive class {declared!r} is not among the classes of {where} "
                             f"({kind}; {seen})")
        return PositiveClass(key, True)
    if len(classes) > 2:
        raise ValueError(f"{what} is a binary metric but {len(classes)} classes were found in {where} ({seen}); "
                         "declare positive_label in the policy (or --positive-label) for one-vs-rest, or use a "
                         "multiclass metric (accuracy, balanced_accuracy, or precision/recall/f1 with average: "
                         "macro, weighted or micro)")
    if numeric and (1.0 in classes or set(classes) <= {0.0, 1.0}):
        return PositiveClass(1.0, False)
    raise ValueError(f"{what}: positive_label is not set and scikit-learn's default positive class 1 is not among "
                     f"the classes of {where} ({seen}); declare positive_label in the policy or pass "
                     "--positive-label")


def union_counts(*tables: Iterable[tuple[Any, int]]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for table in tables:
        for key, n in table:
            out[key] = out.get(key, 0) + int(n)
    return out
