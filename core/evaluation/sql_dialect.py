"""The few spellings in which the evaluation's SQL differs between engines (DuckDB, Spark SQL).

The statistics are written once (:mod:`core.evaluation.sql_source`, :mod:`core.evaluation.labels`); a
:class:`SqlDialect` supplies what differs: identifier and string quoting, the text type's name, regular-expression
matching, infinity tests, "cast or NULL", and exact DOUBLE literals. Each spelling is chosen to have the same
meaning on both engines — e.g. regular expressions are matched over the whole text (DuckDB's RE2
``regexp_full_match``; Java's ``RLIKE`` anchored with ``^`` and ``\\z``) with ``\\s`` spelled ``[ \\t\\n\\f\\r]``,
the set RE2 gives it (Java's ``\\s`` also matches a vertical tab); a DOUBLE literal is its shortest round-trip text
cast from a string (both engines parse it correctly rounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["DUCKDB", "SPARK", "SqlDialect"]

#: What ``\s`` means in RE2 (DuckDB), spelled out so that Java's regular expressions (Spark) mean the same.
_RE2_SPACE = "[ \\t\\n\\f\\r]"
#: Python's ``str.isspace`` characters (what ``str.strip()`` removes), as a regular-expression class both RE2 and
#: Java read alike.
_PY_SPACE = ("\\x{9}-\\x{D}\\x{1C}-\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
             "\\x{202F}\\x{205F}\\x{3000}")


@dataclass(frozen=True)
class SqlDialect:
    """How one engine spells the evaluation's SQL."""

    name: Literal["duckdb", "spark"]

    def quote(self, identifier: str) -> str:
        """A column or view name as a quoted identifier."""
        if self.name == "spark":
            return "`" + identifier.replace("`", "``") + "`"
        return '"' + identifier.replace('"', '""') + '"'

    def string(self, text: str) -> str:
        """A string literal (Spark SQL reads backslash escapes in literals; DuckDB does not)."""
        if self.name == "spark":
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"

    @property
    def text_type(self) -> str:
        return "STRING" if self.name == "spark" else "VARCHAR"

    def full_match(self, text_sql: str, pattern: str) -> str:
        """SQL: the whole of ``text_sql`` matches the regular expression ``pattern`` (RE2 syntax, ``\\s`` as RE2
        defines it)."""
        portable = pattern.replace("\\s", _RE2_SPACE)
        if self.name == "spark":
            anchored = "^(?:" + portable + ")\\z"
            return f"({text_sql} RLIKE {self.string(anchored)})"
        return f"regexp_full_match({text_sql}, {self.string(portable)})"

    def stripped(self, text_sql: str) -> str:
        """SQL: Python's ``text.strip()`` (Unicode white space at either end removed), by a regular expression (slow:
        callers use it only where :meth:`padded` says it may change the text)."""
        pattern = self.string(f"^[{_PY_SPACE}]+|[{_PY_SPACE}]+$")
        replaced = (f"regexp_replace({text_sql}, {pattern}, '')" if self.name == "spark"
                    else f"regexp_replace({text_sql}, {pattern}, '', 'g')")
        return replaced

    def first_code(self, text_sql: str) -> str:
        """SQL: the code point of the text's first character (0 for empty text)."""
        return f"ascii({text_sql})" if self.name == "spark" else f"ord({text_sql})"

    def byte_length(self, text_sql: str) -> str:
        """SQL: the text's length in UTF-8 bytes (constant time in both engines)."""
        return f"octet_length({text_sql})" if self.name == "spark" else f"strlen({text_sql})"

    def padded(self, text_sql: str) -> str:
        """SQL: the text's first or last character may be white space — a control character, or any character past
        ASCII (Unicode spaces are; other such text merely takes the slower exact path): a cheap test by code point."""
        first = self.first_code(text_sql)
        last = f"ascii(right({text_sql}, 1))" if self.name == "spark" else f"ord({text_sql}[-1])"
        return f"({first} <= 32 OR {first} >= 127 OR {last} <= 32 OR {last} >= 127)"

    def is_ascii(self, text_sql: str) -> str:
        """SQL: the text is ASCII (as many bytes as characters in UTF-8)."""
        if self.name == "spark":
            return f"(octet_length({text_sql}) = char_length({text_sql}))"
        return f"(strlen({text_sql}) = length({text_sql}))"

    def is_infinite(self, double_sql: str) -> str:
        if self.name == "spark":  # Spark SQL has no isinf
            return f"(abs({double_sql}) = CAST('Infinity' AS DOUBLE))"
        return f"isinf({double_sql})"

    def try_double(self, sql: str) -> str:
        """SQL: the value as DOUBLE, or NULL where it is not a number."""
        return f"TRY_CAST({sql} AS DOUBLE)"

    def try_cast(self, sql: str, type_name: str) -> str:
        return f"TRY_CAST({sql} AS {type_name})"

    def inexact_in_double(self, sql: str, type_name: str) -> str:
        """SQL: the (integer or decimal) value does not come back from a DOUBLE unchanged, so two such values could
        meet as one class key. DuckDB converts a DOUBLE to an integer or decimal exactly; Spark saturates at the
        BIGINT range and converts to DECIMAL through the double's shortest text, so there integers and whole
        decimals of up to 18 digits go through BIGINT (exact), and other decimals through the text — which can only
        call more values inexact (a refusal), never fewer."""
        if self.name == "spark":
            base = type_name.split("(")[0].upper()
            whole = base == "DECIMAL" and type_name.replace(" ", "").endswith(",0)") and int(
                type_name.split("(")[1].split(",")[0]) <= 18
            if base == "BIGINT" or whole:
                as_double = f"CAST({sql} AS DOUBLE)"
                return (f"({as_double} >= {self.double(2.0 ** 63)} OR {as_double} < {self.double(-(2.0 ** 63))} "
                        f"OR CAST({as_double} AS BIGINT) <> {sql})")
        return f"({self.try_cast(f'CAST({sql} AS DOUBLE)', type_name)} IS DISTINCT FROM {sql})"

    def double(self, value: float) -> str:
        """An exact DOUBLE literal (the float's shortest round-trip text, parsed correctly rounded)."""
        text = repr(float(value))
        if self.name == "spark":
            text = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}.get(text, text)
        return f"CAST('{text}' AS DOUBLE)"

    def square(self, sql: str) -> str:
        """SQL: the square of a DOUBLE expression (Spark's ``^`` is exclusive or)."""
        return f"(({sql}) * ({sql}))"

    def int_div(self, dividend_sql: str, divisor_sql: str) -> str:
        """SQL: integer division of two non-negative BIGINT expressions (the quotient rounded down)."""
        return f"(({dividend_sql}) {'div' if self.name == 'spark' else '//'} ({divisor_sql}))"

    @property
    def wide_integer(self) -> str:
        """An exact integer type of at least 38 digits (sums of products of counts that may pass 2**63)."""
        return "DECIMAL(38, 0)" if self.name == "spark" else "HUGEINT"

    def int_list(self, *sqls: str) -> str:
        """SQL: a list of integer expressions (one value; ``array_agg`` of it collects rows)."""
        return f"{'array' if self.name == 'spark' else 'list_value'}({', '.join(sqls)})"

    def quantiles(self, sql: str, fractions: Sequence[float]) -> str:
        """SQL aggregate: the list of values of ``sql`` at ``fractions`` — Spark's ``approx_percentile`` (its
        accuracy only moves the cut points: callers use them to split work, never in a result), DuckDB's exact
        ``quantile_disc``."""
        listed = ", ".join(repr(float(f)) for f in fractions)
        if self.name == "spark":
            return f"approx_percentile({sql}, array({listed}), 10000)"
        return f"quantile_disc({sql}, [{listed}])"

    def count_above(self, list_sql: str, value_sql: str) -> str:
        """SQL: how many elements of the list ``list_sql`` are greater than ``value_sql``."""
        if self.name == "spark":
            return f"size(filter({list_sql}, x -> x > {value_sql}))"
        return f"len(list_filter({list_sql}, lambda x: x > {value_sql}))"

    def group_by(self, keys: int) -> str:
        """GROUP BY the first ``keys`` selected expressions."""
        return "GROUP BY " + ", ".join(str(i) for i in range(1, keys + 1)) if keys else ""


DUCKDB = SqlDialect("duckdb")
SPARK = SqlDialect("spark")
