"""Policy files: the written rules a model is evaluated against.

A policy is YAML validated by the pydantic models below; ``countersign policy schema`` prints the JSON Schema so
editors can validate policies as they are written. Unknown keys, wrong types, unknown metrics and impossible
thresholds are errors naming the file, line and field — never silently ignored.

Operators follow Evidently's vocabulary: ``gt``, ``gte``, ``lt``, ``lte``, ``eq``, ``between: [a, b]``; when several
are given, all must hold. ``severity`` is ``block`` (default; fails the gate) or ``warn``. ``references`` cite the
rule's regulatory source and travel into results and reports.
"""

from __future__ import annotations

import hashlib
import json
import math
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from core.catalog.documents import MODEL_CARD_SECTIONS
from core.errors import BadInput
from core.identity.roles import ALL_ROLES, APPROVING_ROLES
from core.inputs.limits import MAX_DAYS, MAX_DOCUMENT_BYTES, MAX_JSON_INT, MAX_STORED_INT, read_bounded
from core.inputs.yamlfile import parse_yaml, validate

#: Performance metrics and the closed range of values each can take.
CLASSIFICATION_METRICS: dict[str, tuple[float, float]] = {
    "accuracy": (0, 1), "balanced_accuracy": (0, 1), "precision": (0, 1), "recall": (0, 1), "f1": (0, 1),
    "roc_auc": (0, 1), "average_precision": (0, 1), "log_loss": (0, math.inf), "brier": (0, 1),
}
REGRESSION_METRICS: dict[str, tuple[float, float]] = {"rmse": (0, math.inf), "mae": (0, math.inf),
                                                      "r2": (-math.inf, 1)}
PERFORMANCE_METRICS = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}
#: Rates computable per group from confusion counts (fairlearn's names).
GROUP_RATES = ("selection_rate", "accuracy", "balanced_accuracy", "precision", "recall", "f1",
               "true_positive_rate", "false_positive_rate", "true_negative_rate", "false_negative_rate")
NAMED_FAIRNESS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                  "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio",
                  "false_positive_rate_difference", "false_negative_rate_difference")
FAIRNESS_METRICS = NAMED_FAIRNESS + tuple(f"{r}_{k}" for r in GROUP_RATES for k in ("difference", "ratio")
                                          if f"{r}_{k}" not in NAMED_FAIRNESS)
DRIFT_METHODS = ("psi", "ks", "wasserstein", "jensenshannon", "chisquare", "auto")
#: Drift methods whose compared value is a p-value (drift when it is small) rather than a distance.
P_VALUE_METHODS = ("ks", "chisquare")
DEFAULT_DRIFT_THRESHOLDS = {"psi": 0.2, "wasserstein": 0.1, "jensenshannon": 0.1, "ks": 0.05, "chisquare": 0.05}

OPERATORS = ("gt", "gte", "lt", "lte", "eq", "between")


#: How a check treats rows whose inputs are missing or non-finite (NULL, NaN, ±inf, empty text).
MISSING_MODES = ("refuse", "drop")
#: scikit-learn's ``average`` names for precision, recall and F1.
AVERAGES = ("binary", "macro", "weighted", "micro")
#: Metrics that take ``average`` (scikit-learn defines multiclass averaging for these from confusion counts).
AVERAGED_METRICS = ("precision", "recall", "f1")


def _admits_bool(annotation: Any) -> bool:  # noqa: ANN401
    """Whether a field's type takes ``true``/``false`` (``bool`` itself, ``Any``, or a union holding either)."""
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(a) for a in typing.get_args(annotation) if a is not type(None))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, data: Any) -> Any:  # noqa: ANN401
        """``gte: true`` is not the number 1: refuse ``true``/``false`` where the field is not a boolean (pydantic
        would read them as 1 and 0)."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                value = data.get(field.alias or name, data.get(name))
                values = value if isinstance(value, list | tuple) else [value]
                if any(isinstance(v, bool) for v in values) and not _admits_bool(field.annotation):
                    raise ValueError(f"{name}: {str(value).lower()!s} is a boolean (true/false), not a number")
        return data


class _Thresholds(_Strict):
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    eq: float | None = None
    between: tuple[float, float] | None = None

    def operators(self) -> dict[str, Any]:
        return {op: getattr(self, op) for op in OPERATORS if getattr(self, op) is not None}

    def _check_feasible(self, lo: float, hi: float, what: str) -> None:
        """Refuse thresholds no value can meet, counting strict bounds (``gt``/``lt``) exactly."""
        ops = self.operators()
        low, low_strict, high, high_strict = -math.inf, False, math.inf, False

        def raise_low(value: float, strict: bool) -> None:
            nonlocal low, low_strict
            if value > low or (value == low and strict):
                low, low_strict = value, strict

        def lower_high(value: float, strict: bool) -> None:
            nonlocal high, high_strict
            if value < high or (value == high and strict):
                high, high_strict = value, strict

        for op, value in ops.items():
            if op == "between":
                a, b = value
                if a > b:
                    raise ValueError(f"'between' [{a}, {b}]: the lower bound is above the upper bound")
                raise_low(a, False)
                lower_high(b, False)
            elif op in ("gt", "gte"):
                raise_low(value, op == "gt")
            elif op in ("lt", "lte"):
                lower_high(value, op == "lt")
            else:
                raise_low(value, False)
                lower_high(value, False)
        named = ", ".join(f"'{op}'" for op in ops)
        if low > high or (low == high and (low_strict or high_strict)):
            raise ValueError(f"the thresholds {named} cannot all hold at once ({ops})")
        if high < lo or (high == lo and high_strict) or low > hi or (low == hi and low_strict):
            raise ValueError(f"impossible threshold {named} for {what}: values lie in [{lo}, {hi}], the check asks "
                             f"{ops}")


class _CheckBase(_Thresholds):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    severity: Literal["block", "warn"] = "block"
    references: list[str] = Field(default_factory=list)
    description: str | None = None


class MetricCheck(_CheckBase):
    """A performance metric compared with a threshold."""

    metric: str
    decision_threshold: float | None = Field(default=None, ge=0, le=1,
                                             description="score >= threshold predicts the positive class")
    average: Literal["binary", "macro", "weighted", "micro"] | None = Field(
        default=None, description="precision, recall, f1 on multiclass data: scikit-learn's averaging; unset: binary "
                                  "(refused on multiclass data unless the policy declares positive_label: one-vs-rest)")
    missing: Literal["refuse", "drop"] = Field(
        default="refuse", description="rows with a missing or non-finite label, prediction or score: refuse the "
                                      "evaluation (exit 2) or drop them (counted in the result)")

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PERFORMANCE_METRICS:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(PERFORMANCE_METRICS)}")
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> MetricCheck:
        if not self.operators():
            raise ValueError("a metric check needs an operator (gt, gte, lt, lte, eq or between)")
        if self.average is not None and self.metric not in AVERAGED_METRICS:
            raise ValueError(f"'average' applies to {', '.join(AVERAGED_METRICS)}, not to {self.metric}")
        self._check_feasible(*PERFORMANCE_METRICS[self.metric], self.metric)
        return self


class FairnessCheck(_CheckBase):
    """A between-group disparity (fairlearn's definitions) over one or more sensitive features."""

    fairness: str
    sensitive_feature: str | list[str]
    min_group_size: int = Field(default=30, ge=1, le=MAX_JSON_INT)
    missing: Literal["refuse", "drop"] = Field(
        default="refuse", description="rows with a missing or non-finite label, prediction, score or sensitive "
                                      "feature: refuse the evaluation (exit 2) or drop them (counted in the result)")

    @field_validator("fairness")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in FAIRNESS_METRICS:
            raise ValueError(f"unknown fairness metric {value!r}; known: {', '.join(NAMED_FAIRNESS)}, or "
                             "<rate>_difference / <rate>_ratio for a rate in " + ", ".join(GROUP_RATES))
        return value

    @field_validator("sensitive_feature")
    @classmethod
    def _nonempty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError("sensitive_feature list must be non-empty and without repeats")
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> FairnessCheck:
        if not self.operators():
            raise ValueError("a fairness check needs an operator (gt, gte, lt, lte, eq or between)")
        self._check_feasible(0, 1, self.fairness)
        return self

    @property
    def features(self) -> list[str]:
        return [self.sensitive_feature] if isinstance(self.sensitive_feature, str) else list(self.sensitive_feature)


class DriftCheck(_CheckBase):
    """Per-column distribution drift between the evaluation data and a reference."""

    drift: Literal["psi", "ks", "wasserstein", "jensenshannon", "chisquare", "auto"]
    columns: Literal["all"] | list[str] = "all"
    max_drifted_share: float = Field(default=0.5, ge=0, le=1)
    bins: int = Field(default=10, ge=2, le=1000, description="PSI: number of reference-quantile bins")
    max_missing_share_change: float = Field(
        default=0.1, ge=0, le=1,
        description="a column is drifted when its share of missing or non-finite values changes by more than this "
                    "(absolute difference between reference and current)")

    @model_validator(mode="after")
    def _thresholds(self) -> DriftCheck:
        if self.drift == "auto":
            if self.operators():
                named = ", ".join(f"'{op}'" for op in self.operators())
                raise ValueError(f"drift: auto chooses each column's method and threshold (Evidently's defaults); "
                                 f"remove the operator {named} or name a method")
            return self
        upper = 1.0 if self.drift in ("ks", "chisquare", "jensenshannon") else math.inf
        self._check_feasible(0, upper, f"drift {self.drift}")
        return self


class ExplainCheck(_Strict):
    """Global SHAP importance: the top features must not include the named ones."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    severity: Literal["block", "warn"] = "block"
    references: list[str] = Field(default_factory=list)
    description: str | None = None
    explain: Literal["shap_top_features"]
    top_k: int = Field(default=5, ge=1, le=100)
    must_not_include: list[str] = Field(default_factory=list)
    sample_size: int = Field(default=500, ge=10, le=10_000)


class DocumentationCheck(_Strict):
    """Required model-card sections must be present and non-empty."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    severity: Literal["block", "warn"] = "block"
    references: list[str] = Field(default_factory=list)
    description: str | None = None
    documentation: Literal["model_card"]
    required: list[str] = Field(min_length=1)

    @field_validator("required")
    @classmethod
    def _sections(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in MODEL_CARD_SECTIONS]
        if unknown:
            raise ValueError(f"unknown model-card section(s) {unknown}; sections: {', '.join(MODEL_CARD_SECTIONS)}")
        return value


class DataQualityCheck(_CheckBase):
    """Optional data checks: per-column missing rate, or the evaluation data's schema matching the training data."""

    data_quality: Literal["missing_rate", "schema_match"]
    columns: Literal["all"] | list[str] = "all"

    @model_validator(mode="after")
    def _thresholds(self) -> DataQualityCheck:
        if self.data_quality == "missing_rate":
            if not self.operators():
                raise ValueError("a missing_rate check needs an operator, e.g. lte: 0.05")
            self._check_feasible(0, 1, "missing_rate")
        elif self.operators():
            raise ValueError("schema_match takes no operator")
        return self


_KINDS = ("metric", "fairness", "drift", "explain", "documentation", "data_quality")


def _kind(value: Any) -> str | None:  # noqa: ANN401
    if isinstance(value, BaseModel):
        return next(k for k in _KINDS if hasattr(value, k))
    if not isinstance(value, dict):
        return None
    present = [k for k in _KINDS if k in value]
    return present[0] if len(present) == 1 else None


Check = Annotated[
    Annotated[MetricCheck, Tag("metric")]
    | Annotated[FairnessCheck, Tag("fairness")]
    | Annotated[DriftCheck, Tag("drift")]
    | Annotated[ExplainCheck, Tag("explain")]
    | Annotated[DocumentationCheck, Tag("documentation")]
    | Annotated[DataQualityCheck, Tag("data_quality")],
    Discriminator(_kind, custom_error_type="check_kind",
                  custom_error_message="each check needs exactly one of: " + ", ".join(_KINDS)),
]


class StageApproval(_Strict):
    roles: list[str] = Field(min_length=1)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        for role in value:
            if role not in APPROVING_ROLES:
                known = ", ".join(APPROVING_ROLES) if role in ALL_ROLES else ", ".join(ALL_ROLES)
                raise ValueError(f"role {role!r} cannot approve promotions (approving roles: {known})")
        if len(set(value)) != len(value):
            raise ValueError("each approving role is listed once")
        return value


class Approvals(_Strict):
    staging: StageApproval | None = None
    production: StageApproval | None = None


class Policy(_Strict):
    """A versioned policy: checks a model must pass and the approvals its promotions need."""

    policy: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="policy name")
    version: int = Field(ge=1, le=MAX_STORED_INT)
    description: str | None = None
    checks: list[Check] = Field(min_length=1)
    approvals: Approvals = Field(default_factory=Approvals)
    max_evaluation_age_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    max_waiver_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    positive_label: bool | int | float | str | None = Field(
        default=None,
        description="the positive class; unset: scikit-learn's default 1, which must then be one of the labels. "
                    "Declaring it on multiclass data makes binary metrics and fairness one-vs-rest")
    decision_threshold: float | None = Field(
        default=None, ge=0, le=1,
        description="score >= threshold predicts the positive class; unset: the model's own predictions are used "
                    "(or 0.5 when only scores exist)")

    @field_validator("positive_label", mode="before")
    @classmethod
    def _scalar_label(cls, value: Any) -> Any:  # noqa: ANN401
        if value is None:
            return value
        if not isinstance(value, bool | int | float | str):
            raise ValueError("positive_label must be one value: text, a number or true/false")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("positive_label must be finite")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
            raise ValueError(f"positive_label {value} is beyond the integers the ledger stores exactly "
                             f"(±{MAX_JSON_INT})")
        if isinstance(value, str) and not value.strip():
            raise ValueError("positive_label must not be empty (empty text counts as a missing value)")
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        seen: set[str] = set()
        for check in self.checks:
            if check.id in seen:
                raise ValueError(f"check id {check.id!r} is used twice")
            seen.add(check.id)
        return self

    @property
    def ref(self) -> str:
        return f"{self.policy}@{self.version}"


def kind_of(check: Any) -> str:  # noqa: ANN401
    return _kind(check) or "unknown"


def parse_policy(text: str, source: str) -> Policy:
    """Parse and validate policy text; errors name ``source``, the line and the field."""
    data, located = parse_yaml(text, source)
    if isinstance(data, dict) and isinstance(data.get("checks"), list):
        seen: dict[Any, int] = {}
        for index, check in enumerate(data["checks"]):
            if isinstance(check, dict) and "id" in check:
                if check["id"] in seen:
                    line = located.line_of(("checks", index, "id"))
                    raise BadInput(f"{source}:{line}: checks.{index}.id: check id {check['id']!r} is used twice "
                                   f"(first by checks.{seen[check['id']]})")
                seen[check["id"]] = index
    return validate(Policy, data, located, source, ignore_loc=set(_KINDS))


def load_policy_file(path: str | Path) -> tuple[Policy, str, str]:
    """``(policy, text, sha256 of the file's bytes)``."""
    p = Path(path)
    raw = read_bounded(p, MAX_DOCUMENT_BYTES, "policy file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{p}: policy file is not UTF-8 text") from None
    return parse_policy(text, str(p)), text, hashlib.sha256(raw).hexdigest()


def json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://countersign.dev/schemas/policy.schema.json"
    schema["title"] = "Countersign policy"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2)
