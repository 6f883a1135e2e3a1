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

import yaml

from core.errors import BadInput
from core.inputs.yamlfile import parse_yaml

__all__ = ["CheckOutcome", "check_outcomes"]

Status = Literal["passed", "failed", "waived"]


@dataclass(frozen=True)
class CheckOutcome:
    """One check's outcome for a report.

    ``check`` is the check as stored in the evaluation result (``id``, ``kind``, ``metric``, ``value``, ``operator``,
    ``threshold``, ``severity``, ``passed``, ``details``…); ``status`` is ``"passed"``, ``"failed"`` or ``"waived"``
    (failed, and covered by ``waiver``: the waiver record, ``id``, ``until``…); ``line`` and ``column`` are where the
    check's ``id`` value is in the policy text (1-based; the column in UTF-16 code units, as SARIF counts by default;
    ``None`` when the text does not locate it)."""

    check: dict[str, Any]
    status: Status
    waiver: dict[str, Any] | None
    line: int | None
    column: int | None = None

    @property
    def severity(self) -> str:
        """``"block"`` (a failure fails the evaluation) or ``"warn"`` (reported only)."""
        return str(self.check.get("severity") or "block")


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key and isinstance(value_node, yaml.Node):
                return value_node
    return None


def _positions(policy_text: str) -> dict[str, tuple[int, int]]:
    """Each check id's position in the policy text: (1-based line, 1-based column in UTF-16 code units, SARIF's
    default). Lines are counted as Git and editors count them — by ``\n`` alone (YAML also breaks lines at U+2028,
    U+2029, U+0085 and a lone CR, which would shift every line after one)."""
    try:
        _data, _located = parse_yaml(policy_text, "policy")  # the bounds a policy is held to
        root = yaml.compose(policy_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (BadInput, yaml.YAMLError, RecursionError):  # a report never fails for want of a line
        return {}
    bom = 1 if policy_text.startswith("\ufeff") else 0
    checks = _mapping_value(root, "checks") if root is not None else None
    found: dict[str, tuple[int, int]] = {}
    for item in checks.value if isinstance(checks, yaml.SequenceNode) else []:
        node = _mapping_value(item, "id")
        if isinstance(node, yaml.ScalarNode):
            index = node.start_mark.index + bom  # libyaml counts characters after a byte-order mark
            start = max(policy_text.rfind("\n", 0, index) + 1, bom)  # a BOM is no column of line 1
            column = len(policy_text[start:index].encode("utf-16-le", "surrogatepass")) // 2 + 1
            found.setdefault(node.value, (policy_text.count("\n", 0, index) + 1, column))
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
    positions = _positions(str(policy.get("text") or ""))
    outcomes = []
    for check in result["checks"]:
        waiver = None if check["passed"] else covering.get(check["id"])
        status: Status = "passed" if check["passed"] else ("waived" if waiver else "failed")
        line, column = positions.get(check["id"], (None, None))
        outcomes.append(CheckOutcome(check, status, waiver, line, column))
    return outcomes
