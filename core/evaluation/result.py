"""The evaluation result, typed, and its published JSON Schema (``core/schemas/evaluation-result.schema.json``).

Three shapes, each a plain JSON object (results are hashed with RFC 8785 into the signed ledger, so their keys and
values are exactly what :class:`core.evaluation.engine.Evaluator` and the policy service have always produced):

* :class:`CheckResult` — one check: its metric and value, the operator and threshold, severity, pass/fail, the
  measured details and the regulatory references;
* :class:`EvaluationResult` — what the engine returns for one run (:meth:`EvaluationResult.to_dict`);
* :class:`EvaluationRecord` — the stored evidence the policy service builds from it: which model, data, reference
  and policy (with digests), the verdict, and the checks.

The schema's root describes an :class:`EvaluationRecord` (what ``countersign evaluate --json`` and ``countersign
evaluation show --json`` print, which also carry when, by whom and at which ledger position it was recorded);
``#/$defs/check`` and ``#/$defs/engine_result`` describe the other two. ``countersign evaluation schema`` prints it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "CheckResult",
    "EvaluationRecord",
    "EvaluationResult",
    "json_schema",
    "schema_text",
    "validator",
]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "evaluation-result.schema.json"
SCHEMA_ID = "https://countersign.dev/schemas/evaluation-result.schema.json"


class CheckResult(TypedDict):
    """One check's result. ``value`` is ``None`` when it could not be measured (the check then fails); ``operator``
    is ``gt``/``gte``/``lt``/``lte``/``eq``/``between``, ``all`` (several operators, ``threshold`` maps each), or
    ``must_not_include``/``requires`` (lists); ``seconds`` is added once the check has run."""

    id: str
    kind: str
    metric: str
    value: float | int | None
    operator: str | None
    threshold: Any
    severity: Literal["block", "warn"]
    passed: bool
    details: dict[str, Any]
    references: list[str]
    seconds: NotRequired[float]


@dataclass
class EvaluationResult:
    """One run of the engine: the rows evaluated, every check's result, and the verdict."""

    rows: int
    checks: list[CheckResult] = field(default_factory=list)
    passed: bool = True
    failed_block_checks: list[str] = field(default_factory=list)
    failed_warn_checks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Which engine computed the statistics: ``{"name", "version", "approximations"[, "master"]}`` (``None`` in
    #: results recorded before engines were recorded).
    engine: dict[str, Any] | None = None

    @classmethod
    def of(cls, rows: int, checks: list[CheckResult], seconds: float,
           engine: dict[str, Any] | None = None) -> EvaluationResult:
        """The verdict of checks: passed unless a ``block`` check failed; failed checks listed by severity."""
        blocking = [c["id"] for c in checks if c["severity"] == "block" and not c["passed"]]
        warnings = [c["id"] for c in checks if c["severity"] == "warn" and not c["passed"]]
        return cls(rows, checks, not blocking, blocking, warnings, seconds, engine)

    def to_dict(self) -> dict[str, Any]:
        """The result as stored and hashed (the same keys, in the same order, as always; ``engine`` last, when
        known)."""
        out = {"rows": self.rows, "checks": self.checks, "passed": self.passed,
               "failed_block_checks": self.failed_block_checks, "failed_warn_checks": self.failed_warn_checks,
               "seconds": self.seconds}
        if self.engine is not None:
            out["engine"] = self.engine
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        return cls(data["rows"], data["checks"], data["passed"], data["failed_block_checks"],
                   data["failed_warn_checks"], data["seconds"], data.get("engine"))


class PolicyRef(TypedDict):
    name: str
    version: int
    sha256: str
    registered: bool
    text: str


class ModelRef(TypedDict):
    ref: str
    artifact_sha256: str | None
    external: bool
    pickle_loading: NotRequired[dict[str, Any]]


class DataRef(TypedDict):
    ref: str
    sha256: str
    rows: int


class ReferenceRef(TypedDict):
    ref: str
    sha256: str


class EvaluationRecord(TypedDict):
    """The stored evidence of one evaluation (the policy service adds the envelope fields when recording it)."""

    id: str
    purpose: Literal["evaluation", "monitoring"]
    policy: PolicyRef
    model: ModelRef
    data: DataRef
    reference: ReferenceRef | None
    label: str
    prediction_column: str | None
    score_column: str | None
    positive_label: Any
    checks: list[CheckResult]
    passed: bool
    verdict: Literal["pass", "fail"]
    failed_block_checks: list[str]
    failed_warn_checks: list[str]
    seconds: float
    engine: NotRequired[dict[str, Any]]
    evaluated_at: NotRequired[str]
    evaluated_by: NotRequired[str]
    seq: NotRequired[int]
    result_sha256: NotRequired[str]
    result_intact: NotRequired[bool | None]
    revalidation_required: NotRequired[bool]
    revalidation_seq: NotRequired[int]


def json_schema() -> dict[str, Any]:
    """The published JSON Schema (Draft 2020-12) of evaluation results."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2)


def validator(definition: Literal["record", "engine_result", "check"] = "record") -> Any:  # noqa: ANN401
    """A Draft 2020-12 validator (``jsonschema``) of the schema's root (``record``: an :class:`EvaluationRecord`) or
    of one of its definitions (``engine_result``: :meth:`EvaluationResult.to_dict`; ``check``: a
    :class:`CheckResult`)."""
    import jsonschema
    from referencing import Registry, Resource

    schema = json_schema()
    if definition == "record":
        return jsonschema.Draft202012Validator(schema)
    registry: Any = Registry().with_resource(SCHEMA_ID, Resource.from_contents(schema))
    return jsonschema.Draft202012Validator({"$ref": f"{SCHEMA_ID}#/$defs/{definition}"}, registry=registry)
