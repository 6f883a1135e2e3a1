"""Dataset inspection (digest, rows, schema, profile), references, and the digest check at use."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.catalog.datasets import CsvDialect, Ref, check_at_use, detect_format, inspect, parse_ref, validate_name
from core.catalog.hashing import digest_path, sha256_file
from core.errors import BadInput

ROOT = Path(__file__).resolve().parents[3]
ADULT = ROOT / "data" / "adult" / "adult.data"
GERMAN = ROOT / "data" / "german-credit" / "german.data"

SMALL_CSV = (
    "id,name,score,city,joined\n"
    "1,alice,10.5,Paris,2024-01-05\n"
    "2,bob,,Paris,2023-12-31\n"
    "3,alice,20.0,Lyon,\n"
    "4,,30.5,Paris,2024-02-29\n"
    "5,carol,40.0,,2022-06-01\n"
)


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(SMALL_CSV)
    return path


def _table(start: int, n: int) -> pa.Table:
    return pa.table({
        "id": pa.array(range(start, start + n), pa.int32()),
        "amount": pa.array([decimal.Decimal(f"{i}.25") for i in range(start, start + n)], pa.decimal128(10, 2)),
        "ratio": pa.array([None if i % 10 == 0 else i / 4 for i in range(start, start + n)], pa.float64()),
        "segment": pa.array(["gold" if i % 3 == 0 else "silver" for i in range(start, start + n)]),
        "active": pa.array([i % 2 == 0 for i in range(start, start + n)]),
        "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(start, start + n)]),
    })


def test_inspect_csv_rows_schema_and_exact_profile(small_csv: Path) -> None:
    facts = inspect(small_csv)
    assert facts.format == "csv"
    assert facts.path == small_csv.resolve()
    assert facts.digest == sha256_file(small_csv) and facts.files == []
    assert facts.size_bytes == small_csv.stat().st_size == len(SMALL_CSV)
    assert facts.row_count == 5 and facts.profile["rows"] == 5
    assert facts.schema == [{"name": "id", "type": "BIGINT"}, {"name": "name", "type": "VARCHAR"},
                            {"name": "score", "type": "DOUBLE"}, {"name": "city", "type": "VARCHAR"},
                            {"name": "joined", "type": "DATE"}]
    cols = facts.profile["columns"]
    assert cols["id"] == {"type": "BIGINT", "nulls": 0, "distinct_approx": 5, "min": 1, "max": 5, "mean": 3.0}
    assert cols["score"] == {"type": "DOUBLE", "nulls": 1, "distinct_approx": 4, "min": 10.5, "max": 40.0,
                             "mean": 25.25}
    assert cols["name"]["nulls"] == 1 and cols["name"]["top"][0] == "alice"
    assert set(cols["name"]["top"]) == {"alice", "bob", "carol"}
    assert "min" not in cols["name"] and "mean" not in cols["name"]
    assert cols["city"] == {"type": "VARCHAR", "nulls": 1, "distinct_approx": 2, "top": ["Paris", "Lyon"]}
    assert cols["joined"] == {"type": "DATE", "nulls": 1, "distinct_approx": 4, "min": "2022-06-01",
                              "max": "2024-02-29"}
    json.dumps(facts.profile)  # stored as JSON: every value must be serialisable


def test_inspect_the_real_adult_data() -> None:
    facts = inspect(ADULT)
    assert facts.format == "csv" and facts.row_count == 32561
    assert facts.digest == sha256_file(ADULT)
    assert len(facts.schema) == 15
    age = facts.profile["columns"][facts.schema[0]["name"]]
    assert age["nulls"] == 0 and age["min"] == 17 and age["max"] == 90


GERMAN_COLUMNS = ("checking", "duration", "history", "purpose", "amount", "savings", "employment", "rate",
                  "personal", "debtors", "residence", "property", "age", "plans", "housing", "credits", "job",
                  "liable", "telephone", "foreign", "risk")


def test_german_credit_needs_its_dialect_which_is_then_used() -> None:
    sniffed = inspect(GERMAN)  # space-separated and headerless: DuckDB's guess is one text column, 999 rows
    assert sniffed.digest == sha256_file(GERMAN)  # the digest is right whatever the parsing
    assert (sniffed.row_count, len(sniffed.schema)) != (1000, 21)
    facts = inspect(GERMAN, CsvDialect(delimiter=" ", header=False, columns=GERMAN_COLUMNS))
    assert facts.digest == sniffed.digest and facts.row_count == 1000
    assert [c["name"] for c in facts.schema] == list(GERMAN_COLUMNS)
    types = {c["name"]: c["type"] for c in facts.schema}
    assert types["duration"] == "BIGINT" and types["checking"] == "VARCHAR"
    age = facts.profile["columns"]["age"]
    assert (age["min"], age["max"]) == (19, 75)  # UCI's documented range for attribute 13
    assert facts.profile["columns"]["risk"]["distinct_approx"] == 2


@pytest.mark.parametrize(("dialect", "message"), [
    ({"delimiter": ";;"}, "one character"),
    ({"delimiter": '"'}, "one character"),
    ({"delimiter": "\n"}, "one character"),
    ({"columns": ("a", " ")}, "non-empty"),
    ({"columns": ("a", "b", "a")}, "repeat: a"),
])
def test_a_bad_csv_dialect_is_refused_with_its_reason(dialect: dict, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        CsvDialect(**dialect)


def test_csv_options_are_refused_for_parquet(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(_table(0, 5), path)
    with pytest.raises(BadInput, match="not CSV"):
        inspect(path, CsvDialect(header=False))


def test_dialect_round_trips_and_quotes_its_values() -> None:
    dialect = CsvDialect(delimiter="'", header=True, columns=("it's",))
    assert CsvDialect.from_dict(dialect.to_dict()) == dialect and CsvDialect.from_dict(None) is None
    assert dialect.read_csv_options() == ", delim = '''', header = true, names = ['it''s']"
    assert CsvDialect().empty and CsvDialect().to_dict() == {}


def test_inspect_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(_table(0, 40), path)
    facts = inspect(path)
    assert facts.format == "parquet" and facts.row_count == 40
    assert facts.digest == sha256_file(path) and facts.size_bytes == path.stat().st_size
    types = {c["name"]: c["type"] for c in facts.schema}
    assert types == {"id": "INTEGER", "amount": "DECIMAL(10,2)", "ratio": "DOUBLE", "segment": "VARCHAR",
                     "active": "BOOLEAN", "day": "DATE"}
    cols = facts.profile["columns"]
    assert cols["id"]["min"] == 0 and cols["id"]["max"] == 39 and cols["id"]["mean"] == 19.5
    assert cols["amount"]["min"] == 0.25 and cols["amount"]["max"] == 39.25 and cols["amount"]["mean"] == 19.75
    assert cols["ratio"]["nulls"] == 4
    assert cols["segment"]["top"] == ["silver", "gold"]
    assert cols["active"]["min"] is False and cols["active"]["max"] is True
    assert cols["day"]["min"] == "2024-01-01" and cols["day"]["max"] == "2024-02-09"
    json.dumps(facts.profile)


def test_parquet_detected_by_magic_bytes_whatever_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "export.bin"
    pq.write_table(_table(0, 3), path)
    assert detect_format(path) == "parquet"
    assert inspect(path).row_count == 3


def test_inspect_folder_of_parquet(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    (folder / "sub").mkdir(parents=True)
    pq.write_table(_table(0, 10), folder / "a.parquet")
    pq.write_table(_table(10, 20), folder / "b.parquet")
    pq.write_table(_table(30, 5), folder / "sub" / "c.parquet")
    (folder / "_SUCCESS").write_text("")
    facts = inspect(folder)
    assert facts.format == "parquet-dir"
    assert facts.row_count == 35  # the nested file counts too
    digest, files = digest_path(folder)
    assert facts.digest == digest
    assert [f.path for f in facts.files] == ["a.parquet", "b.parquet", "sub/c.parquet"]
    assert facts.size_bytes == sum((folder / f.path).stat().st_size for f in facts.files)
    cols = facts.profile["columns"]
    assert cols["id"]["min"] == 0 and cols["id"]["max"] == 34


def test_inspect_refuses_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file or folder"):
        inspect(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.csv").write_text("a\n1\n")
    with pytest.raises(BadInput, match="without any .parquet file"):
        inspect(tmp_path / "empty")


def test_inspect_refuses_a_corrupt_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet PAR1")
    with pytest.raises(BadInput, match="broken.parquet"):
        inspect(path)


@pytest.mark.parametrize("text, expected", [
    ("adult@1", Ref("adult", "1")),
    ("census/adult@2024-01-05", Ref("census/adult", "2024-01-05")),
    ("a.b_c-d@v1.2+build.7", Ref("a.b_c-d", "v1.2+build.7")),
    ("X" * 128 + "@" + "9" * 64, Ref("X" * 128, "9" * 64)),
])
def test_parse_ref_accepts(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected
    assert str(parse_ref(text)) == text


@pytest.mark.parametrize("text", [
    "", "adult", "adult@", "@1", "adult@1@2", "-adult@1", "adult@-1", ".hidden@1", "a b@1", "adult@1 ",
    "adult@v/1", "X" * 129 + "@1", "x@" + "9" * 65, "adult;drop@1",
    "adult@1\n",
])
def test_parse_ref_refuses(text: str) -> None:
    with pytest.raises(BadInput, match="expected NAME@VERSION") as info:
        parse_ref(text, "dataset reference")
    assert "dataset reference" in info.value.message and info.value.exit_code == 2


def test_validate_name_combines_name_and_version() -> None:
    assert validate_name("adult", "1") == Ref("adult", "1")
    with pytest.raises(BadInput):
        validate_name("adult@x", "1")


def _record(path: Path) -> dict[str, str]:
    facts = inspect(path)
    return {"name": "adult", "version": "1", "path": str(facts.path), "digest": facts.digest}


def test_check_at_use_passes_unchanged_and_refuses_a_flipped_byte(tmp_path: Path) -> None:
    copy = tmp_path / "adult.data"
    shutil.copyfile(ADULT, copy)
    record = _record(copy)
    assert check_at_use(record) == copy.resolve()
    flip_byte(copy, 1000)
    actual = sha256_file(copy)
    with pytest.raises(BadInput) as info:
        check_at_use(record)
    message = info.value.message
    assert record["digest"] in message and actual in message and actual != record["digest"]
    assert "adult@1" in message and str(copy.resolve()) in message and info.value.exit_code == 2


def test_check_at_use_refuses_a_changed_parquet_folder(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(_table(0, 10), folder / "a.parquet")
    pq.write_table(_table(10, 10), folder / "b.parquet")
    record = _record(folder)
    assert check_at_use(record) == folder.resolve()
    pq.write_table(_table(20, 10), folder / "c.parquet")  # a new part is a change too
    with pytest.raises(BadInput) as info:
        check_at_use(record)
    assert record["digest"] in info.value.message and digest_path(folder)[0] in info.value.message


def test_check_at_use_refuses_a_missing_file(small_csv: Path) -> None:
    record = _record(small_csv)
    small_csv.unlink()
    with pytest.raises(BadInput, match="no longer exists"):
        check_at_use(record)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_column_name_holding_nul_is_refused_naming_it(tmp_path: Path, fmt: str) -> None:
    """No store keeps U+0000 in text, and no model's features could be matched to such a column at evaluation."""
    path = tmp_path / f"t.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.table({"a\x00b": [1, 2], "label": [0, 1]}), path)
    else:
        path.write_bytes(b"a\x00b,label\n1,0\n2,1\n")
    with pytest.raises(BadInput, match=r"column name 'a\\x00b' holds a NUL character"):
        inspect(path)
