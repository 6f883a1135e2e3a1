"""Values in words, as reviewers and regulators read them: rules ("at least 0.8000"), roles ("ML lead"),
timestamps to the second in UTC, numbers to 4 decimals, yes/no, and lists joined with commas.

One place for the wording the regulator report, the card exports and the app share.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

__all__ = ["DECISION_WORDS", "OPERATOR_WORDS", "ROLE_WORDS", "SEVERITY_WORDS", "STAGE_WORDS", "human", "number",
           "role_words", "rule_words", "when"]

#: Policy operators in words.
OPERATOR_WORDS = {"gte": "at least", "gt": "more than", "lte": "at most", "lt": "less than", "eq": "equal to"}
#: Roles and decisions in words.
ROLE_WORDS = {"ml_lead": "ML lead", "compliance_officer": "compliance officer", "data_scientist": "data scientist",
              "admin": "administrator", "auditor": "auditor"}
DECISION_WORDS = {"approve": "approved", "reject": "rejected", "request_changes": "changes requested"}
SEVERITY_WORDS = {"block": "blocking", "warn": "warning only"}
STAGE_WORDS = {"registered": "is registered (not promoted)", "staging": "is in staging",
               "production": "is in production", "suspended": "is suspended", "retired": "is retired"}
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")


def when(ts: object) -> str:
    """A timestamp to the second, in UTC (``2026-05-01 09:15:44 UTC``); anything else as it is, ``None`` a dash."""
    if ts is None or ts == "":
        return "—"
    if isinstance(ts, str) and _TIMESTAMP.fullmatch(ts):
        try:
            moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return ts
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(ts)


def number(value: object) -> str:
    """A number as the report shows it: 4 decimals for a fraction, whole numbers as they are."""
    if isinstance(value, bool):
        return human(value)
    if isinstance(value, float):
        return "undefined" if math.isnan(value) or math.isinf(value) else f"{value:.4f}"
    if isinstance(value, int):
        return str(value)
    return human(value)


def human(value: object) -> str:
    """Any value in words: yes/no for booleans, a dash for nothing, lists joined with commas ("none" if empty),
    mappings as ``key: value`` pairs, numbers by :func:`number`, timestamps by :func:`when`."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, list | tuple | set):
        return ", ".join(human(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {human(v)}" for k, v in value.items()) if value else "none"
    return when(value) if isinstance(value, str) else str(value)


def rule_words(operator: str | None, threshold: object) -> str:
    """A check's rule in words: ``gte 0.7`` is "at least 0.7000"; ``between`` and combined rules too."""
    if operator is None:
        return "—"
    if operator in OPERATOR_WORDS:
        return f"{OPERATOR_WORDS[operator]} {number(threshold)}"
    if operator == "between" and isinstance(threshold, list | tuple) and len(threshold) == 2:
        return f"between {number(threshold[0])} and {number(threshold[1])}"
    if operator == "all" and isinstance(threshold, dict):
        return " and ".join(rule_words(op, t) for op, t in threshold.items())
    if operator == "requires":
        sections = threshold if isinstance(threshold, list | tuple) else [] if threshold is None else [threshold]
        return "model card sections: " + human([str(t).replace("_", " ") for t in sections])
    return f"{operator} {human(threshold)}"


def role_words(role: str | None) -> str:
    """A role's name in words (``ml_lead`` is "ML lead")."""
    return "—" if role is None else ROLE_WORDS.get(role, role.replace("_", " "))
