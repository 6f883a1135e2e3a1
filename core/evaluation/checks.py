"""The verdict of one check: operators and thresholds (Evidently's vocabulary), pass or fail, and the record kept.

A check fails — never passes — when its value could not be measured (``None``, NaN) or when a refusal forces it;
:class:`Failed` carries such a reason out of a metric's computation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from core.evaluation import metrics as m
from core.evaluation.result import CheckResult
from core.policy.rules import kind_of

__all__ = ["Failed", "check_result", "compare", "op_fields"]


class Failed(Exception):  # noqa: N818 - control flow: the check fails with a reason
    """The check's value is undefined on the data: it fails, with ``reason`` and the ``details`` measured so far."""

    def __init__(self, reason: str, details: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason, self.details = reason, details


def compare(value: float | None, ops: dict[str, Any]) -> bool:
    """Whether ``value`` satisfies every operator (Evidently's vocabulary)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    holds: dict[str, Callable[[Any], bool]] = {
        "gt": lambda t: bool(value > t), "gte": lambda t: bool(value >= t), "lt": lambda t: bool(value < t),
        "lte": lambda t: bool(value <= t), "eq": lambda t: math.isclose(value, t, rel_tol=1e-12, abs_tol=1e-12),
        "between": lambda t: bool(t[0] <= value <= t[1])}
    for op, threshold in ops.items():
        if not holds[op](threshold):
            return False
    return True


def op_fields(ops: dict[str, Any]) -> tuple[str | None, Any]:
    """The ``operator`` and ``threshold`` recorded: the one operator, or ``all`` with every operator."""
    if not ops:
        return None, None
    if len(ops) == 1:
        (op, threshold), = ops.items()
        return op, list(threshold) if isinstance(threshold, tuple) else threshold
    return "all", {k: (list(v) if isinstance(v, tuple) else v) for k, v in ops.items()}


def check_result(check: Any, metric: str, value: Any, ops: dict[str, Any],  # noqa: ANN401
                 details: dict[str, Any], force_fail: bool = False) -> CheckResult:
    """One check's record: passed when not forced to fail and the value satisfies the operators (if any)."""
    op, threshold = op_fields(ops)
    passed = (not force_fail) and compare(value, ops) if ops else not force_fail
    return {"id": check.id, "kind": kind_of(check), "metric": metric, "value": m.finite(value),
            "operator": op, "threshold": threshold, "severity": check.severity, "passed": bool(passed),
            "details": details, "references": list(check.references)}
