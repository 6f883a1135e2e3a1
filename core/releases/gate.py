"""The policy gate: whether a model version may be promoted to a stage now, and every reason why not.

The gate re-reads current evidence in the deciding transaction: the version's stage, its latest evaluation (on this
artifact, under the active version of its governing policy, not older than the policy allows, not older than a model
card edit or a suspension), and the waivers in force for exactly that policy version's failed block checks.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from core.catalog.registry import model_node
from core.errors import CheckFailed, NotFound
from core.evaluation.explanations import check_value, metric_label, rule_text
from core.policy.rules import Policy, parse_policy
from core.releases import clock
from core.storage.contract import Transaction as Tx

__all__ = ["ALLOWED_FROM", "AnswerRefused", "GateRefused", "active_waivers", "gate"]

#: target stage -> stages a version may be promoted from
ALLOWED_FROM = {"staging": ("registered",), "production": ("staging", "retired", "suspended")}


class GateRefused(CheckFailed):
    """A promotion the policy gate does not allow (exit 1), with every reason."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("promotion refused:\n  - " + "\n  - ".join(reasons))
        self.reasons = reasons


class AnswerRefused(GateRefused):
    """An answer to a request for changes that the gate does not accept now (exit 1): nothing is written."""

    def __init__(self, request_id: str, reasons: list[str]) -> None:
        super().__init__(reasons)
        self.message = (f"request {request_id} cannot return to review yet:\n  - " + "\n  - ".join(reasons))
        self.args = (self.message,)


def gate(tx: Tx, name: str, version: str, target: str) -> tuple[dict[str, Any], Policy, dict[str, Any],
                                                                list[dict[str, Any]], list[str]]:
    """``(model, active policy record, evaluation, waivers used, reasons refused)`` for a promotion."""
    reasons: list[str] = []
    model = tx.get_model(name, version)
    if model is None:
        raise NotFound(f"no model {name}@{version}")
    assignment = tx.governing_policy(name)
    if assignment is None:
        raise GateRefused([f"model {name} has no governing policy (model register --policy, or policy assign)"])
    record = tx.get_policy(assignment["policy_name"])
    if record is None:
        raise NotFound(f"model {name} is governed by policy {assignment['policy_name']!r}, which does not exist")
    policy = parse_policy(record["text"], f"{record['name']}@{record['version']}")
    current = tx.stage_of(name, version)
    stage = current["stage"] if current else "registered"
    if stage not in ALLOWED_FROM[target]:
        reasons.append(f"{name}@{version} is in stage {stage!r}; promotion to {target} needs one of "
                       f"{', '.join(ALLOWED_FROM[target])}")
    evaluation = tx.latest_gate_evaluation(name, version)
    used_waivers: list[dict[str, Any]] = []
    if evaluation is None:
        reasons.append(f"{name}@{version} has no evaluation; run 'countersign evaluate'")
        return model, policy, {}, used_waivers, reasons
    result = json.loads(evaluation["result"])
    if evaluation["artifact_digest"] != model["artifact_digest"]:
        reasons.append(f"evaluation {evaluation['id']} ran on artifact {evaluation['artifact_digest']}, not "
                       f"{model['artifact_digest']}")
    if evaluation["policy_name"] != record["name"] or evaluation["policy_version"] != record["version"] or \
            evaluation["policy_sha256"] != record["sha256"]:
        reasons.append(f"evaluation {evaluation['id']} was made under {evaluation['policy_name']}@"
                       f"{evaluation['policy_version']}; the active policy is {record['name']}@{record['version']}"
                       f" — evaluate again")
    card = tx.latest_document("model_card", model_node(f"{name}@{version}"))
    if card is not None and int(card["seq"]) > int(evaluation["seq"]):
        reasons.append(f"the model card was edited (revision {card['revision']}, seq {card['seq']}) after "
                       f"evaluation {evaluation['id']} — evaluate again")
    if stage == "suspended" and current is not None and int(evaluation["seq"]) < int(current["seq"]):
        reasons.append(f"{name}@{version} was suspended at seq {current['seq']}, after evaluation "
                       f"{evaluation['id']}; reinstatement needs an evaluation made since — evaluate again")
    if policy.max_evaluation_age_days is not None:
        age = clock.now() - clock.parse_ts(evaluation["evaluated_at"])
        if age > timedelta(days=policy.max_evaluation_age_days):
            reasons.append(f"evaluation {evaluation['id']} is {age.days} days old; the policy allows "
                           f"{policy.max_evaluation_age_days}")
    # A waiver holds for one check of one policy version: the same check id under another version (or another
    # policy) may test something else entirely.
    waivers = active_waivers(tx, name, version)
    active = {w["check_id"]: w for w in waivers if w.get("policy") == policy.ref}
    elsewhere = {w["check_id"]: w for w in waivers if w.get("policy") != policy.ref}
    for check_id in result.get("failed_block_checks", []):
        if check_id in active:
            used_waivers.append(active[check_id])
        else:
            check: dict[str, Any] = next((c for c in result["checks"] if c["id"] == check_id), {})
            other = elsewhere.get(check_id)
            why = (f"waiver {other['id']} was granted under {other.get('policy') or 'an unrecorded policy'}, not "
                   f"the active {policy.ref} — a compliance officer must waive it again" if other
                   else "has no active waiver")
            reasons.append(f"block check {check_id!r} failed ({metric_label(check.get('metric'))} "
                           f"{check_value(check)}; it must {rule_text(check)}) and {why}")
    return model, policy, dict(evaluation, result=result), used_waivers, reasons

def active_waivers(tx: Tx, name: str, version: str) -> list[dict[str, Any]]:
    today = clock.now().date().isoformat()
    return [w for w in tx.waivers_for(name, version) if w["revoked_at"] is None and w["until"] >= today]
