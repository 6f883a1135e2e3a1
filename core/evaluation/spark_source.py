"""The Apache Spark statistics source: the evaluation's SQL (:mod:`core.evaluation.sql_source`) on Spark SQL.

For prediction logs too big for one machine: Spark reads the registered Parquet file(s) or Spark table
(:mod:`core.evaluation.spark_tables`) where its executors run and
returns only aggregates to the driver — per-group confusion counts, counts per distinct score, loss and error sums,
missing-value counts, category counts and counts per reference-quantile bin — the same statements, with the same
definitions, as the DuckDB engine. Only drift tests that need a numeric column's values (KS, Wasserstein, and
columns of few distinct values) bring that one column to the driver (through Arrow).

The session is Spark's own (``SparkSession.builder.master(url).getOrCreate()``): ``local[*]`` runs Spark inside this
machine's JVM; ``spark://host:7077``, ``yarn`` or ``k8s://…`` use an existing cluster (see ``docs/engines.md``). The
session runs with ANSI mode off, the UTC time zone and Arrow transfers on (:data:`SESSION_CONF`).

What Spark does not do here: CSV files (Spark's CSV reader types columns differently from the catalog's reader:
register the data as Parquet) and models with artifacts (scoring would run the artifact's code on the cluster's
executors, outside Countersign's sandbox: evaluate prediction logs — the data's prediction/score columns — or use
the DuckDB engine).
"""

from __future__ import annotations

import os
import re
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq

from core.catalog.hashing import parquet_files
from core.errors import BadInput
from core.evaluation.sql_dialect import SPARK
from core.evaluation.sql_source import SqlSource
from core.evaluation.statistics import DataFile, ModelOutputs, Side

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

__all__ = ["DEFAULT_MASTER", "LOG_CONFIG", "SESSION_CONF", "TUNING_DEFAULTS", "SparkSource", "catalog_type",
           "ranking_ranges", "session", "shown_master"]

DEFAULT_MASTER = "local[*]"
#: Set on every session, over the Spark installation's own configuration: what the numbers and the output depend on.
SESSION_CONF: dict[str, str] = {
    "spark.sql.ansi.enabled": "false",  # a value that is not a number is NULL (TRY_CAST), as in DuckDB's casts
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",  # progress bars would mix with the command's output
}
#: Tuning, set only where the Spark installation's configuration (``spark-defaults.conf``, ``--conf``) sets none.
TUNING_DEFAULTS: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    # a whole-stage method past 8,000 bytes of bytecode is never compiled by the JVM's JIT (HotSpot's huge-method
    # limit) and runs interpreted: the one-scan statements over many columns (bin and missing counts) make such
    # methods; past this limit Spark generates code per operator instead (3× faster on them, measured)
    "spark.sql.codegen.hugeMethodLimit": "8000",
}
#: Spark's driver log: errors only (Spark's default prints INFO and WARN lines into the command's output).
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
_LOCK = threading.Lock()
_SIMPLE = {"double": "DOUBLE", "float": "FLOAT", "bigint": "BIGINT", "int": "INTEGER", "smallint": "SMALLINT",
           "tinyint": "TINYINT", "string": "VARCHAR", "boolean": "BOOLEAN", "date": "DATE", "binary": "BLOB",
           "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ntz": "TIMESTAMP", "void": "NULL"}


def shown_master(master: str) -> str:
    """A master URL as it may be recorded and shown: everything between ``://`` and the last ``@`` of the URL's
    authority removed (credentials may hold ``/`` and ``@``; :func:`check_master` refuses such URLs anyway)."""
    return re.sub(r"(?<=://).*@", "", master)


#: Masters Spark accepts: local[N], local[*], local[N,F], local-cluster[…], spark://, yarn, k8s://, mesos://.
_MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)(,[0-9]+)?\])?|local-cluster\[[0-9, ]+\]|yarn|"
                     r"(spark|k8s|mesos)://[^\s]+")


def check_master(master: str) -> str:
    """``master`` if it is a Spark master URL without credentials, else :class:`BadInput` (without echoing a URL that
    carries credentials: Spark itself would print it in its error log)."""
    if "@" in master:
        raise BadInput("the Spark master URL carries credentials (user:password@); Spark would print it in its "
                       "logs. Give credentials through Spark's own configuration (spark-defaults.conf, Kerberos, "
                       "the Kubernetes client's configuration), and only the host in --spark-master")
    if not _MASTER.fullmatch(master):
        raise BadInput(f"{master!r} is not a Spark master URL: use local[*], local[N] (N >= 1), "
                       "spark://HOST:PORT, yarn or k8s://https://HOST:PORT")
    return master


def session(master: str = DEFAULT_MASTER) -> SparkSession:
    """This process's Spark session on ``master`` (created on first use; a process holds one session, so a second
    master is refused rather than silently ignored)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a declared dependency
        raise BadInput(f"the Spark engine needs PySpark: {exc}") from None
    # PySpark warns about pandas 3 wherever it checks pandas, even where (as here) no pandas is involved
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    check_master(master)
    if master == "yarn" and not (os.environ.get("HADOOP_CONF_DIR") or os.environ.get("YARN_CONF_DIR")):
        raise BadInput("--spark-master yarn needs HADOOP_CONF_DIR or YARN_CONF_DIR (where Spark finds the YARN "
                       "cluster's configuration) in the environment")
    _quiet_query_loggers()
    with _LOCK:
        active = SparkSession.getActiveSession()
        if active is not None:
            running = str(active.sparkContext.master)
            if running != master:
                raise BadInput(f"this process already runs Spark on {shown_master(running)}; it cannot also use "
                               f"{shown_master(master)}")
            return active
        builder = SparkSession.builder.master(master).appName("countersign")
        for key, value in SESSION_CONF.items():
            builder = builder.config(key, value)
        # the driver JVM's log configuration through spark-submit's own JVM options (the driver runs in that JVM),
        # leaving spark.driver.extraJavaOptions and defaultJavaOptions to the installation's configuration
        submit_opts = os.environ.get("SPARK_SUBMIT_OPTS")
        os.environ["SPARK_SUBMIT_OPTS"] = " ".join(
            filter(None, [submit_opts, f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"]))
        try:
            started = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - Java missing, master unreachable: the user's setup
            raise BadInput(f"could not start Spark on {shown_master(master)}: {_reason(exc)} (Spark's own "
                           "account, if any, is above)") from None
        finally:
            if submit_opts is None:
                os.environ.pop("SPARK_SUBMIT_OPTS", None)
            else:
                os.environ["SPARK_SUBMIT_OPTS"] = submit_opts
        given = started.sparkContext.getConf()
        for key, value in TUNING_DEFAULTS.items():
            if not given.contains(key):
                started.conf.set(key, value)
        return started


def _quiet_query_loggers() -> None:
    """PySpark logs every analysis error as a JSON line with the Java stack trace (its query-context loggers) before
    raising it; the error itself is what Countersign reports, in one line."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


def _reason(exc: BaseException) -> str:
    """The first line of a Spark or Py4J error that says something (Py4J's own first line only names the call)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(("An error occurred while calling", "at ", "Caused by"))]
    return (telling or lines or [type(exc).__name__])[0][:300]


def ranking_ranges(parallelism: int) -> int:
    """Ranges of distinct scores ranked apart on a session of ``parallelism`` task slots
    (:meth:`~core.evaluation.sql_source.SqlSource.score_ranking`): Spark runs an ordered window without a partition
    key in one task, so more slots (a cluster, or ``local[*]`` on more than 2 cores) split the scores into 4 ranges
    per slot (at most 1,024); with 2 slots or fewer the second pass over the scores costs more than the parallel sort
    gains (10M distinct scores on ``local[2]``: one window 32.5 s, 16 ranges 38 s, 64 ranges 50 s), so one window
    (0)."""
    return 0 if parallelism <= 2 else min(4 * parallelism, 1024)


def catalog_type(data_type: DataType) -> str:
    """A Spark column type spelled as the catalog (DuckDB) spells the same Parquet type (``bigint`` → ``BIGINT``,
    ``string`` → ``VARCHAR``, ``decimal(18,3)`` → ``DECIMAL(18,3)``, ``timestamp`` → ``TIMESTAMP WITH TIME ZONE``)."""
    text = data_type.simpleString()
    if text in _SIMPLE:
        return _SIMPLE[text]
    if text.startswith("decimal"):
        return text.upper()
    if text.startswith(("char", "varchar")):
        return "VARCHAR"
    if text.startswith("array<"):
        from pyspark.sql.types import ArrayType

        if isinstance(data_type, ArrayType):
            return catalog_type(data_type.elementType) + "[]"
    return text.upper()


def _readable(data: DataFile) -> list[str]:
    """The registered Parquet files of ``data`` (refused: CSV, and files Spark would silently skip)."""
    if data.format == "csv":
        raise BadInput("the Spark engine reads Parquet (a file or a folder of files): Spark's CSV reader types "
                       "columns differently from the catalog's, so the same file could give other numbers; "
                       "register the data as Parquet, or evaluate it with --engine duckdb")
    if data.format == "spark-table":
        return []
    if data.format == "parquet-dir":
        paths = parquet_files(Path(data.path))
    elif data.format == "parquet":
        paths = [Path(data.path)]
    else:
        raise BadInput(f"the Spark engine cannot read {data.format!r} data")
    hidden = [p.name for p in paths if p.name.startswith(("_", "."))]
    if hidden:
        raise BadInput(f"Spark skips files whose names begin with '_' or '.' ({', '.join(sorted(hidden)[:3])}"
                       f"{' …' if len(hidden) > 3 else ''}), which are part of {data.path}: rename them and "
                       "register the data again, or evaluate it with --engine duckdb")
    return [str(p) for p in paths]


class SparkSource(SqlSource):
    """A :class:`~core.evaluation.statistics.StatisticsSource` on a Spark session."""

    dialect = SPARK

    def __init__(self, data: DataFile, master: str = DEFAULT_MASTER) -> None:
        super().__init__()
        _readable(data)  # before the JVM starts
        self.master = master
        self.spark = session(master)
        prefix = f"cs_{uuid.uuid4().hex[:12]}"
        self.views: dict[Side, str] = {"current": f"{prefix}_ev", "data": f"{prefix}_cur",
                                       "reference": f"{prefix}_ref"}
        self._columns = self._open(self.views["data"], data)
        self.ranking_buckets = ranking_ranges(int(self.spark.sparkContext.defaultParallelism))

    @property
    def engine(self) -> dict[str, Any]:
        """What the result records of the engine: name, version, master and approximations (none)."""
        return {"name": "spark", "version": str(self.spark.version), "master": shown_master(self.master),
                "approximations": []}

    # ------------------------------------------------------------------------------------------- the engine
    def _rows(self, sql: str, limit: int | None = None) -> list[tuple[Any, ...]]:
        try:
            frame = self._frame(sql)
            rows = (frame if limit is None else frame.limit(limit)).collect()
        except Exception as exc:  # noqa: BLE001 - files that disagree (types, names) fail only when read
            raise BadInput(f"Spark could not evaluate the data: {_reason(exc)}") from None
        return [tuple(r) for r in rows]

    def _arrays(self, sql: str) -> dict[str, np.ndarray]:
        try:
            table = self._frame(sql).toArrow()
        except Exception as exc:  # noqa: BLE001
            raise BadInput(f"Spark could not evaluate the data: {_reason(exc)}") from None
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}

    def _create_view(self, view: str, select_sql: str) -> None:
        self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS {select_sql}")

    def _describe(self, view: str) -> dict[str, str]:
        return {f.name: catalog_type(f.dataType) for f in self.spark.table(view).schema.fields}

    # ------------------------------------------------------------------------------------------- files
    def _open(self, view: str, data: DataFile) -> dict[str, str]:
        if data.format == "spark-table":  # its content digest was re-checked at use (core.catalog.datasets)
            try:
                self.spark.table(str(data.path)).createOrReplaceTempView(view)
                return self._describe(view)
            except Exception as exc:  # noqa: BLE001
                raise BadInput(f"Spark cannot read the table {data.path}: {_reason(exc)}") from None
        files = _readable(data)
        # exactly the registered files (their digest is what was checked), without partition discovery
        try:
            frame = self.spark.read.parquet(*files)
            frame.createOrReplaceTempView(view)
            columns = self._describe(view)
            rows = int(self._one(f"SELECT count(*) FROM {view}")[0])
        except Exception as exc:  # noqa: BLE001 - a file Spark cannot read is the data's problem
            raise BadInput(f"Spark cannot read {data.path}: {_reason(exc)}") from None
        expected = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        if rows != expected:
            raise BadInput(f"Spark read {rows} rows of {data.path}, but its registered files hold {expected}: "
                           "evaluate it with --engine duckdb")
        return columns

    def _frame(self, sql: str) -> DataFrame:
        return self.spark.sql(sql)

    def attach_reference(self, reference: DataFile) -> None:
        self._ref_columns = self._open(self.views["reference"], reference)
        self._ref_markers = reference.format == "csv"

    def attach_model_outputs(self, predict: Callable[[pd.DataFrame], ModelOutputs]) -> None:
        raise BadInput("the Spark engine evaluates predictions that are already in the data (--prediction-column "
                       "and/or --score-column, e.g. a production prediction log): running a model artifact would "
                       "execute its code on the cluster, outside Countersign's sandbox. Evaluate models with "
                       "artifacts with --engine duckdb")

    def sample(self, columns: Sequence[str], rows: int, seed: int) -> pd.DataFrame:
        raise BadInput("explanations need the model artifact, which the Spark engine does not run; use --engine "
                       "duckdb")

    def close(self) -> None:
        for view in self.views.values():
            self.spark.catalog.dropTempView(view)
