"""Each check of an evaluation as a CI report states it: passed, failed (with its severity) or waived, and where the
check is written in the policy text.

A failing check is *waived* when an active waiver (granted by a compliance officer, ledgered; see
:mod:`core.releases.waivers`) covers this model version and check under the very policy evaluated (a registered
policy, same name and version): the promotion gate accepts it until the waiver ends. The evaluation's own verdict
(and so the exit code of ``countersign evaluate``) is unchanged by a waiver; the reports say which failures are
waived, as JUnit's "skipped" and SARIF's accepted suppression do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.errors import BadInput
from core.inputs.yamlfile import parse_yaml

__all__ = ["CheckOutcome", "check_outcomes"]

Status = Literal["passed", "failed", "waived"]


@dataclass(frozen=True)
class CheckOutcome:
    """One check's outcome for a report.

    ``check`` is the check as stored in the evaluation result (``id``, ``kind``, ``metric``, ``value``, ``operator``,
    ``threshold``, ``severity``, ``passed``, ``details``…); ``status`` is ``"passed"``, ``"failed"`` or ``"waived"``
    (failed, and covered by ``waiver``: the waiver record, ``id``, ``until``…); ``line`` is the 1-based line of the
    check's ``id`` in the policy text (``None`` when the text does not locate it)."""

    check: dict[str, Any]
    status: Status
    waiver: dict[str, Any] | None
    line: int | None

    @property
    def severity(self) -> str:
        """``"block"`` (a failure fails the evaluation) or ``"warn"`` (reported only)."""
        return str(self.check.get("severity") or "block")


def _lines(policy_text: str) -> dict[str, int]:
    """Each check id's 1-based line in the policy text."""
    try:
        data, located = parse_yaml(policy_text, "policy")
    except BadInput:  # the stored text parsed when it was evaluated; a report never fails for want of a line
        return {}
    checks = data.get("checks") if isinstance(data, dict) else None
    found: dict[str, int] = {}
    for index, check in enumerate(checks if isinstance(checks, list) else []):
        if isinstance(check, dict) and isinstance(check.get("id"), str):
            line = located.line_of(("checks", index, "id"))
            if line is not None:
                found.setdefault(check["id"], line)
    return found


def check_outcomes(result: dict[str, Any], waivers: list[dict[str, Any]]) -> list[CheckOutcome]:
    """The outcome of every check of ``result`` (an evaluation result as stored), in the policy's order.

    ``waivers`` are the model version's waiver records (``Countersign.waivers``: ``id``, ``check_id``, ``until``,
    ``policy`` as ``NAME@VERSION``, ``active``); only active ones for a failing check of this registered policy
    count."""
    policy = result["policy"]
    policy_ref = f"{policy['name']}@{policy['version']}"
    covering = {w["check_id"]: w for w in waivers
                if w.get("active") and policy.get("registered") and w.get("policy") == policy_ref}
    lines = _lines(str(policy.get("text") or ""))
    outcomes = []
    for check in result["checks"]:
        waiver = None if check["passed"] else covering.get(check["id"])
        status: Status = "passed" if check["passed"] else ("waived" if waiver else "failed")
        outcomes.append(CheckOutcome(check, status, waiver, lines.get(check["id"])))
    return outcomes
