"""Spark table references: a table of the Spark session's catalog registered by its content, re-checked at each use.

A table has no file to hash, and Spark reads its rows in no fixed order, so its content digest (recipe
``countersign/spark-table-content/v1``) is order-independent and computed by Spark in one scan:

1. each row's text is Spark's ``to_json(struct(*))`` (the columns in table order; a NULL field left out, which the
   recorded schema makes unambiguous; timestamps to the microsecond — Spark's default JSON keeps milliseconds —
   in the session time zone, UTC), hashed with SHA-256 (``sha2(…, 256)``);
2. the 256 bits are read as four unsigned 64-bit lanes and each lane is summed over all rows exactly (DECIMAL(38, 0),
   no modulus): an additive multiset hash (AdHash, Bellare & Micciancio 1997) — the same for any order, partitioning
   or number of executors;
3. the digest is the SHA-256 of the RFC 8785 JSON of ``{recipe, rows, schema, row_hash_sums}``.

What it detects: any added, removed or changed row and any change of schema, short of a collision crafted on
purpose: sums of hashes can be attacked with lattice and generalised-birthday methods by someone who controls many
rows, so a table's owner could in principle make a changed table with the same digest. Where that matters, register
a Parquet snapshot of the table instead (files are hashed byte for byte). The row text is Spark's JSON of the values:
a Spark upgrade that prints some type differently makes the check fail (closed, never open) — register the table
again as a new version.

Cost: one more scan of the table reading every column and hashing each row, at registration and at every use
(figures in ``docs/engines.md``). The check and the evaluation are two reads of the table: a writer that changes the
table between them is not seen (pin a snapshot — a Delta or Iceberg version, or a Parquet copy — for that).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.evaluation.sql_dialect import SPARK
from core.tlog.canonical import canonical_payload

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from core.catalog.datasets import DatasetFacts

__all__ = ["RECIPE", "SCHEME", "TableContent", "check", "content", "inspect", "table_name"]

#: How a registered Spark table is named where a path would be: ``spark-table:[catalog.]database.table``.
SCHEME = "spark-table:"
RECIPE = "countersign/spark-table-content/v1"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,2}")
_LANES = 4
#: ``to_json`` options: every digit Spark keeps of a timestamp (its default JSON text drops the microseconds).
_TIMESTAMP, _TIMESTAMP_NTZ = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"
_JSON_OPTIONS = (f"map('timestampFormat', {SPARK.string(_TIMESTAMP)}, "
                 f"'timestampNTZFormat', {SPARK.string(_TIMESTAMP_NTZ)})")
#: Spark types whose minimum and maximum the profile records (others: counts only).
_ORDERED = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal", "string", "date", "timestamp",
            "timestamp_ntz", "boolean")
_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")


def table_name(text: str) -> str | None:
    """The table identifier of ``spark-table:NAME`` (``None`` for anything else, e.g. a path). :class:`BadInput` for
    a name that is not one to three plain identifiers joined by dots (no quoting, no spaces)."""
    if not text.startswith(SCHEME):
        return None
    name = text[len(SCHEME):]
    if not _IDENTIFIER.fullmatch(name):
        shown = repr(name) if name.isprintable() else "'" + name.encode("unicode_escape").decode() + "'"
        raise BadInput(f"{shown} is not a Spark table name: give spark-table:[catalog.]database.table, each part "
                       "letters, digits and '_' (not starting with a digit)")
    return name


@dataclass(frozen=True)
class TableContent:
    """What one scan of a Spark table found: its rows, schema (``[{"name", "type"}]``, types as the catalog spells
    them), the exact lane sums of its rows' SHA-256, the content digest (hex) and, when asked for, a profile in the
    catalog's shape (``{"rows", "columns": {name: {"type", "nulls", "distinct_approx", "min", "max", "mean"}}}``)."""

    rows: int
    schema: list[dict[str, str]]
    row_hash_sums: tuple[int, ...]
    digest: str
    profile: dict[str, Any] = field(default_factory=dict)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def content(spark: SparkSession, name: str, *, profile: bool = False) -> TableContent:
    """Digest (and, with ``profile``, profile) the table ``name`` in one Spark scan; :class:`BadInput` when Spark
    cannot read it (no such table, no access)."""
    from core.evaluation.spark_source import _reason, catalog_type

    try:
        spark.catalog.refreshTable(name)  # Spark caches a table's file listing: read what is there now
        frame = spark.table(name)
        fields = frame.schema.fields
    except Exception as exc:  # noqa: BLE001 - a missing table or a catalog error is the user's setup
        raise BadInput(f"Spark cannot read the table {name}: {_reason(exc)}") from None
    schema = [{"name": f.name, "type": catalog_type(f.dataType)} for f in fields]
    # the columns renamed c0, c1, … beside the row's hash (a table may name a column anything, "h" included)
    parts = ["count(*)"] + [
        f"sum(CAST(conv(substr(h, {1 + 16 * lane}, 16), 16, 10) AS DECIMAL(38, 0)))" for lane in range(_LANES)]
    profiled = []
    if profile:
        for i, f in enumerate(fields):
            q, kind = f"c{i}", f.dataType.simpleString().split("(")[0]
            parts += [f"count({q})", f"approx_count_distinct({q})"]
            if kind in _ORDERED:
                parts += [f"min({q})", f"max({q})", f"avg({q})" if kind in _NUMERIC else "NULL"]
            else:
                parts += ["NULL", "NULL", "NULL"]
            profiled.append((f.name, catalog_type(f.dataType)))
    try:
        hashed = frame.selectExpr(f"sha2(to_json(struct(*), {_JSON_OPTIONS}), 256) AS h",
                                  *[f"{_quote(f.name)} AS c{i}" for i, f in enumerate(fields)])
        (row,) = hashed.selectExpr(*parts).collect()
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"Spark could not read every row of the table {name}: {_reason(exc)}") from None
    rows = int(row[0])
    sums = tuple(int(v or 0) for v in row[1:1 + _LANES])
    digest = hashlib.sha256(canonical_payload({"recipe": RECIPE, "rows": rows, "schema": schema,
                                               "row_hash_sums": [str(v) for v in sums]})).hexdigest()
    out: dict[str, Any] = {}
    if profile:
        from core.catalog.datasets import _jsonable

        columns: dict[str, Any] = {}
        values = row[1 + _LANES:]
        for i, (column, type_name) in enumerate(profiled):
            non_null, distinct, lo, hi, mean = values[5 * i: 5 * i + 5]
            entry: dict[str, Any] = {"type": type_name, "nulls": rows - int(non_null),
                                     "distinct_approx": int(distinct)}
            if lo is not None or hi is not None:
                entry.update(min=_jsonable(lo), max=_jsonable(hi))
            if mean is not None:
                entry["mean"] = _jsonable(mean)
            columns[column] = entry
        out = {"rows": rows, "columns": columns}
    return TableContent(rows, schema, sums, digest, out)


def inspect(name: str, master: str) -> DatasetFacts:
    """Registration facts of the table ``name`` read through Spark on ``master``: content digest, rows, schema and
    profile from one scan (``size_bytes`` is 0: a table's storage is the catalog's business)."""
    from pathlib import Path

    from core.catalog.datasets import DatasetFacts
    from core.evaluation.spark_source import session

    found = content(session(master), name, profile=True)
    return DatasetFacts(Path(name), "spark-table", found.digest, 0, found.rows, found.schema, found.profile)


def check(name: str, digest: str, ref: str, master: str) -> None:
    """Refuse (:class:`BadInput`) the registered table ``name`` of dataset ``ref`` if its content digest is no longer
    ``digest`` (one Spark scan on ``master``)."""
    from core.evaluation.spark_source import session

    found = content(session(master), name)
    if found.digest != digest:
        raise BadInput(f"dataset {ref} changed since registration: the Spark table {name} now has {found.rows} rows "
                       f"and content digest {found.digest}, expected {digest}; register the new content as a new "
                       "version")
