"""Datasets: content digests, schema and profile, immutable ``NAME@VERSION`` references, and the check at use.

Formats: a CSV file, a Parquet file, or a folder of Parquet files (digest rules in :mod:`core.catalog.hashing`), or a
table of a Spark catalog named ``spark-table:NAME`` (content digest computed by Spark:
:mod:`core.evaluation.spark_tables`). A CSV file's
dialect is sniffed by DuckDB unless a :class:`CsvDialect` says otherwise (delimiter, header row, column names — for
files such as UCI's space-separated, headerless ``german.data``); a given dialect is recorded with the dataset and
used wherever it is read again. Row count,
schema and profile are computed by an in-memory DuckDB that streams the file under a memory limit, so a 10 GB file
is profiled without being loaded. The profile holds, per column: nulls, approximate distinct count
(HyperLogLog), min/max (and mean for numeric columns), and for text columns the top categories (space-saving
sketch, ``approx_top_k``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from core.catalog.hashing import FileDigest, digest_path, parquet_files
from core.errors import BadInput

REF_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._/-]{0,127})@(?P<version>[A-Za-z0-9][A-Za-z0-9._+-]{0,63})$")
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
           "FLOAT", "DOUBLE", "REAL", "DECIMAL")
PROFILE_MEMORY = "512MB"


@dataclass(frozen=True)
class Ref:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


def parse_ref(text: str, what: str = "reference") -> Ref:
    """``NAME@VERSION`` → :class:`Ref`; a clear error otherwise."""
    match = REF_RE.fullmatch(text or "")
    if not match:
        raise BadInput(f"invalid {what} {text!r}: expected NAME@VERSION (letters, digits, '.', '_', '-')")
    return Ref(match["name"], match["version"])


def validate_name(name: str, version: str) -> Ref:
    return parse_ref(f"{name}@{version}", "name/version")


_UNSAFE_DELIMITERS = frozenset('"\r\n\x00')


@dataclass(frozen=True)
class CsvDialect:
    """How to read a CSV file instead of letting DuckDB's sniffer guess (each part optional)."""

    delimiter: str | None = None
    header: bool | None = None
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in _UNSAFE_DELIMITERS):
            raise BadInput(f"CSV delimiter must be one character other than a quote or line break, "
                           f"not {self.delimiter!r}")
        names = list(self.columns)
        if any(not isinstance(n, str) or not n.strip() for n in names):
            raise BadInput("CSV column names must be non-empty")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise BadInput(f"CSV column names repeat: {', '.join(repeated)}")

    @property
    def empty(self) -> bool:
        return self.delimiter is None and self.header is None and not self.columns

    def to_dict(self) -> dict[str, Any]:
        """The parts that were set (recorded in the ledger and with the dataset)."""
        out: dict[str, Any] = {}
        if self.delimiter is not None:
            out["delimiter"] = self.delimiter
        if self.header is not None:
            out["header"] = self.header
        if self.columns:
            out["columns"] = list(self.columns)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CsvDialect | None:
        if not data:
            return None
        return cls(data.get("delimiter"), data.get("header"), tuple(data.get("columns") or ()))

    def read_csv_options(self) -> str:
        """``read_csv`` named parameters, as SQL (every value quoted as a SQL literal)."""
        parts = []
        if self.delimiter is not None:
            parts.append(f"delim = {_literal(self.delimiter)}")
        if self.header is not None:
            parts.append(f"header = {'true' if self.header else 'false'}")
        if self.columns:
            parts.append(f"names = [{', '.join(_literal(c) for c in self.columns)}]")
        return "".join(", " + part for part in parts)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class DatasetFacts:
    """What inspection of a dataset at a path found."""

    path: Path
    format: str
    digest: str
    size_bytes: int
    row_count: int
    schema: list[dict[str, str]]
    profile: dict[str, Any]
    files: list[FileDigest] = field(default_factory=list)


def detect_format(path: Path) -> str:
    if path.is_dir():
        if not parquet_files(path):
            raise BadInput(f"{path} is a folder without any .parquet file")
        return "parquet-dir"
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv", ".txt", ".data", ".test"):
        return "csv"
    with path.open("rb") as fh:
        if fh.read(4) == b"PAR1":
            return "parquet"
    return "csv"


def _scan(path: Path, fmt: str, dialect: CsvDialect | None = None) -> str:
    literal = _literal(str(path))
    if fmt == "csv":
        return f"read_csv({literal}{dialect.read_csv_options() if dialect else ''})"
    if fmt == "parquet-dir":
        glob = "'" + str(path / "**" / "*.parquet").replace("'", "''") + "'"
        return f"read_parquet({glob})"
    return f"read_parquet({literal})"


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _jsonable(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, _dt.date | _dt.datetime | _dt.time):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53 - 1:
        return str(value)  # RFC 8785 (I-JSON) numbers are IEEE doubles: larger integers are kept exact as text
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"  # JSON (and RFC 8785) has no infinities
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def profile(
    path: Path, fmt: str, dialect: CsvDialect | None = None
) -> tuple[int, list[dict[str, str]], dict[str, Any]]:
    """Row count, schema and per-column profile, streamed by DuckDB under a memory limit."""
    con = duckdb.connect(config={"memory_limit": PROFILE_MEMORY, "threads": 2,
                                 "autoinstall_known_extensions": "false"})
    try:
        scan = _scan(path, fmt, dialect)
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
        except duckdb.Error as exc:
            raise BadInput(f"cannot read {path} as {fmt}: {str(exc).splitlines()[0]}") from None
        schema = [{"name": r[0], "type": r[1]} for r in described]
        unkeepable = [c["name"] for c in schema if "\x00" in c["name"]]
        if unkeepable:  # PostgreSQL text cannot hold U+0000, and a model's features could never be matched to it
            raise BadInput(f"{path}: column name {unkeepable[0]!r} holds a NUL character (U+0000); rename it")
        parts = ["count(*)"]
        for col in schema:
            q = _quote(col["name"])
            numeric = col["type"].split("(")[0] in NUMERIC
            parts += [f"count({q})", f"approx_count_distinct({q})", f"min({q})", f"max({q})",
                      f"avg({q})" if numeric else "NULL",
                      f"approx_top_k({q}, 5)" if col["type"] == "VARCHAR" else "NULL"]
        try:
            values = con.execute(f"SELECT {', '.join(parts)} FROM {scan}").fetchall()[0]
        except duckdb.Error as exc:
            raise BadInput(f"cannot profile {path}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    rows = int(values[0])
    columns: dict[str, Any] = {}
    for i, col in enumerate(schema):
        non_null, distinct, lo, hi, mean, top = values[1 + 6 * i: 7 + 6 * i]
        entry: dict[str, Any] = {"type": col["type"], "nulls": rows - int(non_null),
                                 "distinct_approx": int(distinct)}
        if col["type"] in ("VARCHAR", "BLOB"):
            entry["top"] = _jsonable(top) or []
        else:
            entry.update(min=_jsonable(lo), max=_jsonable(hi))
            if mean is not None:
                entry["mean"] = _jsonable(mean)
        columns[col["name"]] = entry
    return rows, schema, {"rows": rows, "columns": columns}


def inspect(path: str | Path, dialect: CsvDialect | None = None) -> DatasetFacts:
    """Digest (streamed) and profile a dataset, on two threads at once (both release the GIL)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput(f"no such file or folder: {p}")
    fmt = detect_format(p)
    if dialect is not None and not dialect.empty and fmt != "csv":
        raise BadInput(f"{p} is {fmt}, not CSV: delimiter, header and column options apply to CSV files only")
    with ThreadPoolExecutor(max_workers=2) as pool:
        digesting = pool.submit(digest_path, p)
        rows, schema, prof = profile(p, fmt, dialect)
        digest, files = digesting.result()
    size = sum(f.size for f in files) if files else p.stat().st_size
    return DatasetFacts(p.resolve(), fmt, digest, size, rows, schema, prof, files)


def dialect_of(record: dict[str, Any]) -> CsvDialect | None:
    """The CSV dialect a registered dataset was read with (``None``: DuckDB's sniffer)."""
    options = record.get("read_options")
    return CsvDialect.from_dict(json.loads(options)) if options else None


def check_at_use(record: dict[str, Any], spark_master: str | None = None) -> Path:
    """Re-hash a registered dataset's file and refuse it if its content changed since registration.

    A Spark table (format ``spark-table``; its name is the record's ``path``) is re-digested by Spark on
    ``spark_master`` (:mod:`core.evaluation.spark_tables`); without a master it is refused: only Spark reads it."""
    path = Path(record["path"])
    ref = f"{record['name']}@{record['version']}"
    if record.get("format") == "spark-table":
        if spark_master is None:
            raise BadInput(f"dataset {ref} is the Spark table {record['path']}: only the Spark engine reads it "
                           "(--engine spark)")
        from core.evaluation import spark_tables

        spark_tables.check(record["path"], record["digest"], ref, spark_master)
        return path
    if not path.exists():
        raise BadInput(f"dataset {ref}: registered file {path} no longer exists")
    actual, _ = digest_path(path)
    if actual != record["digest"]:
        raise BadInput(
            f"dataset {ref} changed since registration: {path} has SHA-256 {actual}, expected {record['digest']}; "
            "register the new content as a new version"
        )
    return path
