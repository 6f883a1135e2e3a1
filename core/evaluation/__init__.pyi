"""Public names of :mod:`core.evaluation` (read by lazy_loader and by type checkers)."""

from . import (
    checks as checks,
    classification as classification,
    data_checks as data_checks,
    drift as drift,
    engines as engines,
    explain as explain,
    explain_fast as explain_fast,
    explain_outputs as explain_outputs,
    explain_permutation as explain_permutation,
    explain_provenance as explain_provenance,
    explanations as explanations,
    labels as labels,
    metrics as metrics,
    performance as performance,
    result as result,
    spark_source as spark_source,
    spark_tables as spark_tables,
    sql_dialect as sql_dialect,
    sql_source as sql_source,
    statistics as statistics,
)
from .duckdb_source import DuckDBSource as DuckDBSource
from .engine import EvalInputs as EvalInputs, Evaluator as Evaluator, compare as compare
from .engines import Engine as Engine
from .result import (
    CheckResult as CheckResult,
    EvaluationRecord as EvaluationRecord,
    EvaluationResult as EvaluationResult,
)
from .sandbox import IsolatedModel as IsolatedModel, SandboxError as SandboxError
from .statistics import DataFile as DataFile, StatisticsSource as StatisticsSource
