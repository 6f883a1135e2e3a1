"""Spark table references: the content digest (order-independent, sensitive to every row, value, NULL and type), and
the whole path as a user runs it — a table in a real Hive metastore (Derby, configured through Spark's own
``spark-defaults.conf``), registered by the CLI, evaluated on Spark with the same numbers as the same rows registered as
Parquet files on DuckDB, refused by DuckDB, and refused once the table changed.

Spark runs for real (``local[2]``; see ``spark_engine``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.api.countersign import Countersign
from core.errors import BadInput
from core.evaluation import spark_tables
from core.evaluation.engines import Engine
from core.evaluation.spark_source import LOG_CONFIG, TUNING_DEFAULTS, session
from tests.conftest import USERS, run_cli
from tests.core.evaluation.spark_engine import MASTER, differences

POLICY = """
policy: p
version: 1
checks:
  - {id: acc, metric: accuracy, gte: 0.1, missing: drop}
  - {id: auc, metric: roc_auc, gte: 0.1, missing: drop}
  - {id: ap, metric: average_precision, gte: 0.1, missing: drop}
  - {id: dp, fairness: demographic_parity_difference, sensitive_feature: g, lte: 1, min_group_size: 1, missing: drop}
  - {id: miss, data_quality: missing_rate, columns: [g, x], lte: 1}
"""


def _rows(rng: np.random.Generator, n: int) -> pa.Table:
    s = rng.random(n)
    x = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))
    return pa.table({"y": (rng.random(n) < s).astype(np.int64), "p": (s > 0.5).astype(np.int64), "s": s,
                     "g": rng.choice(["a", "b", "c"], n), "x": x})


def _digest(spark: Engine, table: pa.Table) -> str:
    """The content digest of ``table`` as a Spark table (a temporary view of it)."""
    del spark  # the fixture started the session
    s = session(MASTER)
    s.createDataFrame(table.to_pandas()).createOrReplaceTempView("digested")
    return spark_tables.content(s, "digested").digest


def test_table_names_are_plain_identifiers() -> None:
    assert spark_tables.table_name("data/log.parquet") is None
    assert spark_tables.table_name("spark-table:logs.predictions") == "logs.predictions"
    assert spark_tables.table_name("spark-table:main.logs.p_2026") == "main.logs.p_2026"
    for bad in ("spark-table:", "spark-table:a.b.c.d", "spark-table:logs.`x`", "spark-table:logs.p; DROP TABLE t",
                "spark-table:1abc", "spark-table:logs.p\x1b[31m"):
        with pytest.raises(BadInput, match="not a Spark table name") as refused:
            spark_tables.table_name(bad)
        assert "\x1b" not in str(refused.value) and "\\\\" not in str(refused.value)  # escaped once, not twice


def test_the_digest_ignores_order_and_sees_every_change(spark: Engine) -> None:
    rng = np.random.default_rng(5)
    table = _rows(rng, 300)
    base = _digest(spark, table)
    shuffled = table.take(rng.permutation(table.num_rows))
    assert _digest(spark, shuffled) == base  # order (and so partitioning) does not matter
    changed = {
        "one value": table.set_column(2, "s", pa.array([0.25, *table.column("s").to_pylist()[1:]])),
        "a NULL": table.set_column(3, "g", pa.array([None, *table.column("g").to_pylist()[1:]])),
        "a row removed": table.slice(1),
        "a row repeated": pa.concat_tables([table, table.slice(0, 1)]),
        "a type": table.set_column(0, "y", table.column("y").cast(pa.int32())),
        "a name": table.rename_columns(["y", "p", "s", "group", "x"]),
        "two values swapped between rows": table.set_column(
            3, "g", pa.array([table.column("g")[1].as_py(), table.column("g")[0].as_py(),
                              *table.column("g").to_pylist()[2:]])),
    }
    digests = {what: _digest(spark, t) for what, t in changed.items()}
    if table.column("g")[0] == table.column("g")[1]:  # pragma: no cover - the seed makes them differ
        digests.pop("two values swapped between rows")
    assert all(d != base for d in digests.values()), digests
    assert len(set(digests.values())) == len(digests)


def test_the_digest_sees_microseconds_and_any_column_name(spark: Engine) -> None:
    del spark
    s = session(MASTER)

    def digest(select: str) -> str:
        s.sql(select).createOrReplaceTempView("digested")
        return spark_tables.content(s, "digested").digest

    for literal in ("timestamp", "timestamp_ntz"):  # Spark's JSON text of a timestamp keeps milliseconds by default
        assert (digest(f"SELECT {literal}'2020-01-01 00:00:00.123456' AS t")
                != digest(f"SELECT {literal}'2020-01-01 00:00:00.123457' AS t"))
    named = digest("SELECT 1 AS h, 2 AS c0, 3 AS `__countersign_row_sha256__`")  # names the scan itself might use
    assert named != digest("SELECT 1 AS h, 2 AS c0, 4 AS `__countersign_row_sha256__`")


def test_masters_are_checked_before_spark_starts(monkeypatch: pytest.MonkeyPatch, populated: Countersign,
                                                 tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="empty"):
        Engine.of("spark", "")
    with pytest.raises(BadInput, match="for --engine spark"):
        Engine.of("duckdb", "")
    for var in ("HADOOP_CONF_DIR", "YARN_CONF_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BadInput, match="HADOOP_CONF_DIR or YARN_CONF_DIR"):
        session("yarn")
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"y": [0, 1]}), data)
    dana = populated.login("dana", USERS["dana"][1])
    populated.register_dataset(dana, data, name="files", version="1")
    with pytest.raises(BadInput, match="--spark-master is for Spark tables"):
        populated.use_dataset(dana, "files@1", "local[1]")


# ------------------------------------------------------------------------------------------------ as a user runs it
USER_PROCESS = """
import contextlib, io, json, os, sys
from core.evaluation.spark_source import session
from cli.main import main
folder, master, steps = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = session(master)
s.sql("CREATE DATABASE IF NOT EXISTS logs")
s.sql(f"CREATE TABLE logs.predictions USING parquet LOCATION '{folder}'")
jvm = s.sparkContext._jvm
made = {"probe": jvm.System.getProperty("countersign.probe"),
        "log4j": jvm.System.getProperty("log4j2.configurationFile"),
        **{k: s.conf.get(k) for k in ("spark.sql.shuffle.partitions", "spark.sql.codegen.hugeMethodLimit",
                                      "spark.sql.session.timeZone")}}
done = []
for step in steps:
    if "move" in step:
        os.replace(*step["move"])
        continue
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(step["cli"])
        except SystemExit as exit:
            code = exit.code
    done.append({"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps({"made": made, "steps": done}))
"""


def _user_process(tmp_path: Path, env: dict[str, str], folder: Path,
                  steps: list[dict[str, list[str]]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One Python process of a Spark user, configured through ``spark-defaults.conf``: it creates ``logs.predictions``
    over ``folder`` in the Hive metastore, then takes ``steps`` in order — ``{"cli": argv}`` runs the ``countersign``
    command's own entry point (:func:`cli.main.main`) with that argv, ``{"move": [a, b]}`` moves a file. Returns what
    the session was configured with, and each command's exit code, stdout and stderr.

    One process (one JVM and one metastore start, 20-30 s each on a busy 2-core machine) rather than one per command;
    it is also the harder case for the change check, since this process's Spark has the table's files listed (cached)
    from the registration."""
    made = subprocess.run([sys.executable, "-c", USER_PROCESS, str(folder), MASTER, json.dumps(steps)],
                          env={**env, "COUNTERSIGN_USER": "dana", "COUNTERSIGN_PASSWORD": USERS["dana"][1]},
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stderr[-3000:]
    assert " INFO " not in made.stderr, made.stderr[-2000:]  # the driver log stays at errors only
    out = json.loads(made.stdout.splitlines()[-1])
    return out["made"], out["steps"]


def test_a_registered_table_is_evaluated_on_spark_and_refused_once_changed(
        populated: Countersign, cli_env: dict[str, str], spark: Engine, tmp_path: Path) -> None:
    """The Hive metastore (embedded Derby) and warehouse are in ``tmp_path``, configured the way a user configures
    Spark — ``spark-defaults.conf`` in ``$SPARK_CONF_DIR`` — and ``logs.predictions`` is a table over a folder of
    Parquet files.

    The same file sets a driver JVM option, a tuning setting and a time zone: Countersign's session keeps the first
    two (the installation's configuration wins over Countersign's tuning defaults, and its driver log configuration
    does not replace the installation's JVM options) and overrides the time zone (UTC: the numbers depend on it)."""
    del spark  # only for its skip/fail when Spark is missing
    conf = tmp_path / "spark-conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text(textwrap.dedent(f"""\
        spark.sql.catalogImplementation hive
        spark.sql.warehouse.dir {tmp_path / "warehouse"}
        spark.hadoop.javax.jdo.option.ConnectionURL jdbc:derby:;databaseName={tmp_path / "metastore"};create=true
        spark.driver.extraJavaOptions -Dcountersign.probe=kept
        spark.sql.shuffle.partitions 3
        spark.sql.session.timeZone America/New_York
        """))
    folder = tmp_path / "predictions"
    folder.mkdir()
    rng = np.random.default_rng(11)
    for i in range(2):
        pq.write_table(_rows(rng, 900 + 100 * i), folder / f"part-{i}.parquet")
    late = tmp_path / "late.parquet"
    pq.write_table(_rows(np.random.default_rng(12), 5), late)

    dana = populated.login("dana", USERS["dana"][1])
    populated.register_dataset(dana, folder, name="pred-files", version="1")
    user = {"user": "dana", "password": USERS["dana"][1]}
    assert run_cli(cli_env, "model", "register", "--external", "--name", "vendor", "--version", "1",
                   "--trained-on", "pred-files@1", "--feature", "x", **user).returncode == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    common = ["evaluate", "--json", "vendor@1", "--policy", str(policy), "--label", "y", "--prediction-column", "p",
              "--score-column", "s"]
    on_files = run_cli(cli_env, *common, "--data", "pred-files@1", **user, timeout=300)

    env = {**cli_env, "SPARK_CONF_DIR": str(conf), "COUNTERSIGN_SPARK_MASTER": MASTER}
    made, (registered, on_table, on_duckdb, changed) = _user_process(tmp_path, env, folder, [
        {"cli": ["dataset", "register", "spark-table:logs.predictions", "--name", "pred-table", "--version", "1"]},
        {"cli": [*common, "--data", "pred-table@1", "--engine", "spark"]},
        {"cli": [*common, "--data", "pred-table@1"]},
        {"move": [str(late), str(folder / "late.parquet")]},  # a late append
        {"cli": ["dataset", "check", "pred-table@1"]}])
    assert made == {
        "probe": "kept", "log4j": LOG_CONFIG.as_uri(), "spark.sql.shuffle.partitions": "3",
        "spark.sql.codegen.hugeMethodLimit": TUNING_DEFAULTS["spark.sql.codegen.hugeMethodLimit"],
        "spark.sql.session.timeZone": "UTC"}

    assert registered["returncode"] == 0, registered["stderr"][-2000:]
    assert "1900 rows" in registered["stdout"]
    shown = populated.dataset(dana, "pred-table@1")
    assert (shown["format"], shown["rows"], shown["source_uri"]) == ("spark-table", 1900,
                                                                      "spark-table:logs.predictions")

    assert on_files.returncode in (0, 1) and on_table["returncode"] in (0, 1), on_table["stderr"][-2000:]
    files, table = json.loads(on_files.stdout), json.loads(on_table["stdout"])
    assert table["engine"]["name"] == "spark"
    skip = ("id", "evaluated_at", "seq", "data", "data_digest")
    found = differences({k: v for k, v in files.items() if k not in skip},
                        {k: v for k, v in table.items() if k not in skip})
    assert not found, found
    assert [c["id"] for c in table["checks"]] == ["acc", "auc", "ap", "dp", "miss"]
    assert all(c["value"] is not None for c in table["checks"]), table["checks"]

    assert on_duckdb["returncode"] == 2 and "only the Spark engine reads it" in on_duckdb["stderr"], on_duckdb

    assert changed["returncode"] == 2, changed["stderr"][-2000:]
    assert "changed since registration" in changed["stderr"] and "1905 rows" in changed["stderr"]
    assert "Traceback" not in changed["stderr"]
