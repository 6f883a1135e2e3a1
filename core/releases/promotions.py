"""Releases: governing policies, promotion requests behind a policy gate, role-based approvals with separation of
duties, waivers, suspension, monitoring, and the production history.

Stages: ``registered`` → ``staging`` → ``production`` → ``retired``, plus ``suspended``. A model name has at most one
version in production; promoting a new one retires the previous one in the same transaction. Every transition is a
``model.stage_changed`` ledger entry carrying who requested it, who approved it in which role, and the evaluation and
policy version it rested on — :meth:`ReleasesAPI.history` rebuilds the timeline from those entries alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from core.catalog.datasets import parse_ref
from core.catalog.registry import model_node
from core.errors import BadInput, CheckFailed, NotFound, SeparationOfDuties
from core.evaluation.explanations import check_value, metric_label, rule_text
from core.evidence import attest
from core.identity.roles import Permission, Role, acting_role
from core.identity.users import Session
from core.inputs.limits import require_note
from core.ledger.chain import Event, Ledger, decode_row
from core.policy.rules import Policy, parse_policy
from core.releases import webhooks
from core.storage.duckdb_store import Tx
from core.tlog.canonical import canonical_bytes

STAGES = ("registered", "staging", "production", "retired", "suspended")
#: target stage -> stages a version may be promoted from
ALLOWED_FROM = {"staging": ("registered",), "production": ("staging", "retired", "suspended")}
#: request states in which a request is still open (``changes_requested``: back with its requester, not decided)
OPEN_STATUSES = ("pending", "changes_requested")
#: thread note kinds: a remark, a reviewer's request for changes, the requester's answer (the request returns to review)
NOTE_KINDS = ("comment", "changes_requested", "answer")
DEFAULT_APPROVERS = {"staging": [Role.ML_LEAD.value], "production": [Role.ML_LEAD.value, Role.COMPLIANCE_OFFICER.value]}


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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


class ReleasesAPI:
    """Promotions, approvals, waivers, suspension, monitoring and history (see :mod:`core.releases.promotions`)."""

    path: Path
    _act: Callable[..., Any]
    _read: Callable[..., Any]
    _write: Callable[..., Any]
    ledger: Callable[[], Ledger]

    # ------------------------------------------------------------------------------------------- policy assignment
    def assign_policy(self, session: Session, model_name: str, policy_name: str,
                      permission: Permission = Permission.POLICY_ASSIGN) -> dict[str, Any]:
        def assign(tx: Tx, role: str) -> dict[str, Any]:
            return self._assign_in(tx, session, role, model_name, policy_name, override=True)

        return self._act(session, permission, f"model:{model_name}", assign)

    def _assign_in(self, tx: Tx, session: Session, role: str, model_name: str, policy_name: str,
                   override: bool) -> dict[str, Any]:
        policy = tx.get_policy(policy_name)
        if policy is None:
            raise NotFound(f"no policy named {policy_name!r}; a compliance officer adds it with 'policy add'")
        current = tx.governing_policy(model_name)
        if current is not None and current["policy_name"] == policy_name:
            return {"model": model_name, "policy": policy_name, "changed": False}
        if current is not None and not override:
            raise BadInput(f"model {model_name} is governed by policy {current['policy_name']!r}; only a compliance "
                           "officer can reassign it ('policy assign')")
        row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
            "policy.assigned", f"model:{model_name}",
            {"model": model_name, "policy": policy_name, "previous_policy": current["policy_name"] if current else None,
             "active_version": policy["version"]}))
        tx.assign_policy({"model_name": model_name, "policy_name": policy_name, "assigned_by": session.name,
                          "assigned_at": row.ts, "seq": row.seq})
        return {"model": model_name, "policy": policy_name, "changed": True, "seq": row.seq}

    # ------------------------------------------------------------------------------------------- the gate
    def _gate(self, tx: Tx, name: str, version: str, target: str) -> tuple[dict[str, Any], Policy, dict[str, Any],
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
            age = _now() - _parse_ts(evaluation["evaluated_at"])
            if age > timedelta(days=policy.max_evaluation_age_days):
                reasons.append(f"evaluation {evaluation['id']} is {age.days} days old; the policy allows "
                               f"{policy.max_evaluation_age_days}")
        # A waiver holds for one check of one policy version: the same check id under another version (or another
        # policy) may test something else entirely.
        waivers = self._active_waivers(tx, name, version)
        active = {w["check_id"]: w for w in waivers if w.get("policy") == policy.ref}
        elsewhere = {w["check_id"]: w for w in waivers if w.get("policy") != policy.ref}
        for check_id in result.get("failed_block_checks", []):
            if check_id in active:
                used_waivers.append(active[check_id])
            else:
                check = next((c for c in result["checks"] if c["id"] == check_id), {})
                other = elsewhere.get(check_id)
                why = (f"waiver {other['id']} was granted under {other.get('policy') or 'an unrecorded policy'}, not "
                       f"the active {policy.ref} — a compliance officer must waive it again" if other
                       else "has no active waiver")
                reasons.append(f"block check {check_id!r} failed ({metric_label(check.get('metric'))} "
                               f"{check_value(check)}; it must {rule_text(check)}) and {why}")
        return model, policy, dict(evaluation, result=result), used_waivers, reasons

    def _active_waivers(self, tx: Tx, name: str, version: str) -> list[dict[str, Any]]:
        today = _now().date().isoformat()
        return [w for w in tx.waivers_for(name, version) if w["revoked_at"] is None and w["until"] >= today]

    # ------------------------------------------------------------------------------------------- requests
    def promote(self, session: Session, model_ref: str, *, to: str, reason: str,
                permission: Permission = Permission.PROMOTE_REQUEST) -> dict[str, Any]:
        """Open a promotion request (refused with every reason when the gate does not allow it)."""
        ref = parse_ref(model_ref, "model reference")
        if to not in ALLOWED_FROM:
            raise BadInput(f"the target stage must be staging or production, not {to!r}")
        require_note(reason, "a reason is required: say why this version should be promoted", "the reason")
        refused: list[str] = []

        def open_request(tx: Tx, role: str) -> dict[str, Any]:
            try:
                model, policy, evaluation, waivers_used, reasons = self._gate(tx, ref.name, ref.version, to)
            except GateRefused as exc:
                refused.extend(exc.reasons)
                raise
            already = tx.open_request_for(ref.name, ref.version, to)
            if already:
                state = "awaits changes from its requester" if already["status"] == "changes_requested" else \
                    "is already pending"
                raise BadInput(f"a promotion of {ref} to {to} ({already['id']}) {state}")
            if reasons:
                refused.extend(reasons)
                raise GateRefused(reasons)
            return self._open_in(tx, session, role, ref.name, ref.version, to, reason, policy, evaluation,
                                 waivers_used)

        try:
            result = self._act(session, permission, model_node(ref), open_request)
        except GateRefused:
            self._record_refusal(session, ref, to, refused, permission)
            raise
        self._flush_webhooks()
        return result

    def _open_in(self, tx: Tx, session: Session, role: str, name: str, version: str, to: str, reason: str,
                 policy: Policy, evaluation: dict[str, Any], waivers_used: list[dict[str, Any]],
                 supersedes: str | None = None) -> dict[str, Any]:
        """Record a new pending request on evidence the gate has just accepted (``promotion.requested``)."""
        approvals = getattr(policy.approvals, to)
        required = list(approvals.roles) if approvals else DEFAULT_APPROVERS[to]
        stage = tx.stage_of(name, version)
        request_id = f"pr-{uuid.uuid4().hex[:10]}"
        ref = f"{name}@{version}"
        payload = {"request_id": request_id, "model": ref, "from_stage": stage["stage"] if stage else
                   "registered", "to_stage": to, "reason": reason, "evaluation_id": evaluation["id"],
                   "evaluation_result_sha256": evaluation["result_sha256"],
                   "policy": {"name": policy.policy, "version": policy.version},
                   "required_roles": required,
                   "waivers": [{"id": w["id"], "check": w["check_id"], "until": w["until"]} for w in waivers_used],
                   **({"supersedes": supersedes} if supersedes else {})}
        row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
                                   event=Event("promotion.requested", model_node(ref), payload))
        tx.insert_request({"id": request_id, "model_name": name, "model_version": version,
                           "from_stage": payload["from_stage"], "target_stage": to, "reason": reason,
                           "requested_by": session.name, "requested_at": row.ts, "evaluation_id": evaluation["id"],
                           "policy_name": policy.policy, "policy_version": policy.version,
                           "required_roles": json.dumps(required), "waivers": json.dumps(payload["waivers"]),
                           "status": "pending", "seq": row.seq, **({"supersedes": supersedes} if supersedes else {})})
        webhooks.enqueue(tx, "promotion.requested", payload, row.seq)
        return {**payload, "status": "pending", "seq": row.seq}

    def reinstate(self, session: Session, model_ref: str, *, reason: str) -> dict[str, Any]:
        """Bring a suspended version back: a new promotion request to production, with its own approvals.

        Whoever may request promotions or suspend versions may ask (so a compliance officer who suspended a version
        can ask for it back); the request goes through the gate, needs an evaluation made since the suspension, and
        is decided by others, like any promotion."""
        ref = parse_ref(model_ref, "model reference")
        held = self._act(session, Permission.READ, model_node(ref), lambda tx, _r: tx.user_roles(session.name))
        permission = Permission.PROMOTE_REQUEST if acting_role(held, Permission.PROMOTE_REQUEST) else \
            Permission.SUSPEND
        stage = self._act(session, permission, model_node(ref), lambda tx, _r: tx.stage_of(ref.name, ref.version))
        if stage is None or stage["stage"] != "suspended":
            raise BadInput(f"{ref} is not suspended (stage: {stage['stage'] if stage else 'registered'}); request "
                           "an ordinary promotion instead")
        return self.promote(session, model_ref, to="production", reason=reason, permission=permission)

    def _record_refusal(self, session: Session, ref: Any, to: str, reasons: list[str],  # noqa: ANN401
                        permission: Permission = Permission.PROMOTE_REQUEST) -> None:
        def record(tx: Tx, role: str) -> None:
            self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "promotion.refused", model_node(ref), {"model": str(ref), "to_stage": to, "reasons": reasons}))

        self._act(session, permission, model_node(ref), record)

    def _decide(self, session: Session, request_id: str, comment: str, decision: str) -> dict[str, Any]:
        _require_comment(comment, "a comment is required: every decision is explained")

        def decide(tx: Tx, _role: str) -> dict[str, Any]:
            request = _find_request(tx, request_id)
            if request["status"] == "changes_requested" and decision == "approve":
                raise BadInput(f"request {request_id} awaits changes from its requester, {request['requested_by']};"
                               " it returns to review when they answer")
            if request["status"] not in OPEN_STATUSES:
                raise BadInput(f"request {request_id} is already {_status_words(request)}")
            position = _review_position(tx, session, request, "decide", "decision")
            acting, model, decisions, lapsed, held = (position.acting, position.model, position.decisions,
                                                      position.lapsed, position.held)
            open_roles = position.open_roles
            if decision == "approve":
                changed = self._evidence_changed(tx, request)
                if changed:
                    stale.extend(changed)
                    raise GateRefused(changed)
            participants = {request["requested_by"]: "requested it", model["owner"]: "registered the model",
                            **{d["approver"]: "approved it" for d in decisions if d["decision"] == "approve"}}
            # a rejection can only stop a promotion; approvals must come from independent people
            problem = (_independence_problem(tx, session.name, acting, held, request, participants)
                       if decision == "approve" else None)
            if problem:
                raise SeparationOfDuties(f"{session.name} may not decide request {request_id}: {problem} "
                                         "(separation of duties)")
            ref = f"{request['model_name']}@{request['model_version']}"
            subject_sha = model["artifact_digest"] or hashlib.sha256(
                canonical_bytes({"external_model": ref})).hexdigest()
            predicate = {"request_id": request_id, "decision": decision, "role": acting, "approver": session.name,
                         "comment": comment, "from_stage": request["from_stage"], "to_stage": request["target_stage"],
                         "evaluation_id": request["evaluation_id"],
                         "policy": {"name": request["policy_name"], "version": request["policy_version"]}}
            env = attest.envelope(attest.statement(f"model:{ref}", subject_sha, attest.DECISION_PREDICATE,
                                                   predicate), session.signer)
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=acting, event=Event(
                f"promotion.{'approved' if decision == 'approve' else 'rejected'}", f"model:{ref}",
                {"request_id": request_id, "model": ref, "to_stage": request["target_stage"], "decision": decision,
                 "role": acting, "comment": comment, "evaluation_id": request["evaluation_id"],
                 "attestation_sha256": hashlib.sha256(base64.b64decode(env["payload"])).hexdigest()}))
            tx.insert_attestation({"id": f"at-{request_id}-{session.name}", "kind": "decision",
                                   "model_name": request["model_name"], "model_version": request["model_version"],
                                   "envelope": json.dumps(env), "signer": session.name, "seq": row.seq})
            tx.insert_decision({"request_id": request_id, "approver": session.name, "role": acting,
                                "decision": decision, "comment": comment, "decided_at": row.ts, "seq": row.seq})
            outcome = {"request_id": request_id, "model": ref, "decision": decision, "role": acting, "seq": row.seq,
                       "to_stage": request["target_stage"], "status": "pending",
                       "remaining_roles": [r for r in open_roles if r != acting],
                       **({"lapsed_approvals": [{"approver": d["approver"], "role": d["role"]} for d in lapsed]}
                          if lapsed else {})}
            if decision == "reject":
                tx.close_request(request_id, "rejected", row.ts)
                outcome["status"] = "rejected"
                webhooks.enqueue(tx, "promotion.rejected", outcome, row.seq)
            elif not outcome["remaining_roles"]:
                approvers = [{"name": d["approver"], "role": d["role"], "seq": d["seq"]} for d in decisions
                             if d["decision"] == "approve" and d not in lapsed] + [
                    {"name": session.name, "role": acting, "seq": row.seq}]
                self._transition(tx, session, acting, request, approvers)
                tx.close_request(request_id, "approved", row.ts)
                outcome["status"] = "approved"
                webhooks.enqueue(tx, "promotion.approved", outcome, row.seq)
            return outcome

        stale: list[str] = []
        try:
            result = self._act(session, Permission.APPROVE, f"request:{request_id}", decide)
        except GateRefused:
            if stale:
                self._invalidate(session, request_id, stale)
            raise
        self._flush_webhooks()
        return result

    def _evidence_changed(self, tx: Tx, request: dict[str, Any]) -> list[str]:
        """Why the evidence a request rests on no longer holds: the gate re-run now, and what changed since.

        Re-checked at every approval: the model's stage, its governing policy's active version, the latest gate
        evaluation on this artifact digest (and that it passed), its age, and the waivers it needs being still active.
        """
        name, version, target = request["model_name"], request["model_version"], request["target_stage"]
        try:
            _model, policy, evaluation, waivers, reasons = self._gate(tx, name, version, target)
        except GateRefused as refused:
            return list(refused.reasons)
        changed = list(reasons)
        if (policy.policy, policy.version) != (request["policy_name"], request["policy_version"]):
            changed.append(f"the governing policy is now {policy.policy}@{policy.version}; the request rests on "
                           f"{request['policy_name']}@{request['policy_version']}")
        if evaluation.get("id") and evaluation["id"] != request["evaluation_id"]:
            changed.append(f"the latest evaluation is now {evaluation['id']}; the request rests on "
                           f"{request['evaluation_id']}")
        rested = {w["id"] for w in json.loads(request["waivers"])}
        now = {w["id"] for w in waivers}
        for waiver_id in sorted(rested - now):
            waiver = tx.get_waiver(waiver_id) or {}
            if waiver.get("revoked_at"):
                state = f"was revoked by {waiver['revoked_by']} at {waiver['revoked_at']}"
            elif waiver.get("until", "9999") < _now().date().isoformat():
                state = f"expired on {waiver['until']}"
            elif waiver.get("policy") != policy.ref:
                state = f"was granted under {waiver.get('policy')}, not the active {policy.ref}"
            else:
                state = "is no longer needed: the latest evaluation passes its check"
            changed.append(f"waiver {waiver_id} the request rests on {state}")
        return changed

    def _invalidate(self, session: Session, request_id: str, reasons: list[str]) -> None:
        """Close a request whose evidence changed (ledgered); approvals given on that evidence no longer count."""

        def close(tx: Tx, role: str) -> None:
            request = tx.get_request(request_id)
            if request is None or request["status"] != "pending":
                return
            ref = f"{request['model_name']}@{request['model_version']}"
            payload = {"request_id": request_id, "model": ref, "to_stage": request["target_stage"],
                       "reasons": reasons, "approvals_voided": [d["approver"] for d in tx.decisions(request_id)
                                                                if d["decision"] == "approve"]}
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
                                       event=Event("promotion.invalidated", f"model:{ref}", payload))
            tx.close_request(request_id, "invalidated", row.ts)
            webhooks.enqueue(tx, "promotion.invalidated", payload, row.seq)

        self._act(session, Permission.APPROVE, f"request:{request_id}", close)
        self._flush_webhooks()

    def approve(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        return self._decide(session, request_id, comment, "approve")

    def reject(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        return self._decide(session, request_id, comment, "reject")

    # ------------------------------------------------------------------------------------------- review threads
    def request_changes(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        """Send a pending request back to its requester (``promotion.changes_requested``): neither approval nor
        rejection. Only someone who could decide it now may (not its requester or the model's registrant, not
        someone who already decided it, in a role still open); it waits for the requester's :meth:`answer`."""
        _require_comment(comment, "a comment is required: say what must change")

        def send_back(tx: Tx, _role: str) -> dict[str, Any]:
            request = _find_request(tx, request_id)
            if request["status"] == "changes_requested":
                raise BadInput(f"request {request_id} already awaits changes from its requester, "
                               f"{request['requested_by']}")
            if request["status"] != "pending":
                raise BadInput(f"request {request_id} is already {_status_words(request)}")
            acting = _review_position(tx, session, request).acting
            ref = f"{request['model_name']}@{request['model_version']}"
            payload = {"request_id": request_id, "model": ref, "to_stage": request["target_stage"], "role": acting,
                       "requested_by": request["requested_by"], "comment": comment}
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=acting, event=Event(
                "promotion.changes_requested", f"model:{ref}", payload))
            tx.set_request_status(request_id, "changes_requested")
            tx.insert_request_note({"seq": row.seq, "request_id": request_id, "author": session.name, "role": acting,
                                    "kind": "changes_requested", "comment": comment, "noted_at": row.ts})
            webhooks.enqueue(tx, "promotion.changes_requested", {**payload, "by": session.name}, row.seq)
            return {"request_id": request_id, "model": ref, "status": "changes_requested", "role": acting,
                    "requested_by": request["requested_by"], "seq": row.seq}

        result = self._act(session, Permission.APPROVE, f"request:{request_id}", send_back)
        self._flush_webhooks()
        return result

    def answer(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        """The requester answers a request for changes and the request returns to review
        (``promotion.changes_answered``).

        The gate is run again first: if it refuses (say the card was edited and not evaluated since), nothing is
        written and every reason is given. If the request's evidence is unchanged, the same request is pending again
        and approvals already given stand. If it changed (a new evaluation, another policy version, other waivers),
        approvals given on the old evidence cannot count: the old request is closed as ``superseded`` and a new one
        opened on the new evidence (``supersedes`` names the old one; its thread carries over), in one transaction.
        """
        _require_comment(comment, "a comment is required: say what you changed or why nothing needs to")

        def answer_in(tx: Tx, role: str) -> dict[str, Any]:
            request = _find_request(tx, request_id)
            if request["status"] != "changes_requested":
                raise BadInput(f"request {request_id} is {_status_words(request)}: only a request sent "
                               "back for changes can be answered")
            if session.name != request["requested_by"]:
                raise BadInput(f"only {request['requested_by']}, who opened request {request_id}, can answer its "
                               "requests for changes")
            name, version, target = request["model_name"], request["model_version"], request["target_stage"]
            try:
                _model, policy, evaluation, waivers_used, reasons = self._gate(tx, name, version, target)
            except GateRefused as refused:
                reasons = list(refused.reasons)
            if reasons:
                raise AnswerRefused(request_id, reasons)
            changed = self._evidence_changed(tx, request)
            ref = f"{name}@{version}"
            payload: dict[str, Any] = {"request_id": request_id, "model": ref, "to_stage": target,
                                       "evidence": "changed" if changed else "unchanged", "comment": comment}
            if changed:
                voided = [d["approver"] for d in tx.decisions(request_id) if d["decision"] == "approve"]
                payload.update(changes=changed, approvals_voided=voided)
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "promotion.changes_answered", f"model:{ref}", payload))
            tx.insert_request_note({"seq": row.seq, "request_id": request_id, "author": session.name, "role": role,
                                    "kind": "answer", "comment": comment, "noted_at": row.ts})
            webhooks.enqueue(tx, "promotion.changes_answered", {**payload, "by": session.name}, row.seq)
            if not changed:
                tx.set_request_status(request_id, "pending")
                return {"request_id": request_id, "model": ref, "status": "pending", "seq": row.seq,
                        "supersedes": None, "evidence": "unchanged"}
            tx.close_request(request_id, "superseded", row.ts)
            opened = self._open_in(tx, session, role, name, version, target, request["reason"], policy, evaluation,
                                   waivers_used, supersedes=request_id)
            return {"request_id": opened["request_id"], "model": ref, "status": "pending", "seq": opened["seq"],
                    "supersedes": request_id, "evidence": "changed", "changes": changed,
                    "approvals_voided": payload["approvals_voided"]}

        result = self._act(session, self._thread_permission(session, request_id), f"request:{request_id}", answer_in)
        self._flush_webhooks()
        return result

    def _thread_permission(self, session: Session, request_id: str) -> Permission:
        """The permission ``session`` writes in ``request_id``'s thread with (an unknown request is :class:`NotFound`,
        exit 2, before any role is checked): a reviewer needs ``approve``; its requester the permission they could
        have opened it with — ``promote.request``, or for a reinstatement also ``suspend`` (a compliance officer who
        asked for a suspended version back answers and comments on their own request)."""
        request, held = self._act(session, Permission.READ, f"request:{request_id}",
                                  lambda tx, _r: (_find_request(tx, request_id), tx.user_roles(session.name)))
        if request["requested_by"] != session.name:
            return Permission.APPROVE
        if request["from_stage"] == "suspended" and not acting_role(held, Permission.PROMOTE_REQUEST):
            return Permission.SUSPEND
        return Permission.PROMOTE_REQUEST

    def comment(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        """Add a remark to an open request's thread (``promotion.commented``): its requester, or a reviewer (ML lead,
        compliance officer). A comment decides nothing."""
        _require_comment(comment, "a comment cannot be empty")
        permission = self._thread_permission(session, request_id)

        def note(tx: Tx, role: str) -> dict[str, Any]:
            request = _find_request(tx, request_id)
            if request["status"] not in OPEN_STATUSES:
                raise BadInput(f"request {request_id} is {_status_words(request)}: its thread is closed")
            ref = f"{request['model_name']}@{request['model_version']}"
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "promotion.commented", f"model:{ref}", {"request_id": request_id, "model": ref, "comment": comment}))
            tx.insert_request_note({"seq": row.seq, "request_id": request_id, "author": session.name, "role": role,
                                    "kind": "comment", "comment": comment, "noted_at": row.ts})
            return {"request_id": request_id, "model": ref, "seq": row.seq, "role": role}

        return self._act(session, permission, f"request:{request_id}", note)

    def review(self, session: Session, request_id: str) -> dict[str, Any]:
        """Everything a reviewer needs to decide one request: the stage path and the version's stage now (with its
        suspension, who, when and why), the evidence and its age, whether it still holds (the gate re-run now), a
        side-by-side comparison with the version in production (checks, artifact digest, card text), which roles
        have approved and which remain (with who may still fill them), and the thread (comments, change requests,
        answers and decisions, across requests it superseded). See :mod:`core.releases.review`."""
        from core.releases import review

        def build(tx: Tx, _role: str) -> dict[str, Any]:
            request = _find_request(tx, request_id)
            stale = self._evidence_changed(tx, request) if request["status"] in OPEN_STATUSES else []
            return review.context(tx, session, request, stale, _lapsed)

        return self._act(session, Permission.READ, f"request:{request_id}", build)

    def _transition(self, tx: Tx, session: Session, role: str, request: dict[str, Any],
                    approvers: list[dict[str, Any]]) -> None:
        name, version, target = request["model_name"], request["model_version"], request["target_stage"]
        if target == "production":
            for previous in tx.versions_in_stage(name, "production"):
                if previous["model_version"] != version:
                    self._set_stage(tx, session, role, name, previous["model_version"], "retired", {
                        "reason": f"replaced by {name}@{version}", "request_id": request["id"]})
        self._set_stage(tx, session, role, name, version, target, {
            "reason": request["reason"], "request_id": request["id"], "requested_by": request["requested_by"],
            "approvers": approvers, "evaluation_id": request["evaluation_id"],
            "policy": {"name": request["policy_name"], "version": request["policy_version"]},
            "waivers": json.loads(request["waivers"])}, request=request)

    def _set_stage(self, tx: Tx, session: Session, role: str | None, name: str, version: str, stage: str,
                   details: dict[str, Any], request: dict[str, Any] | None = None) -> int:
        current = tx.stage_of(name, version)
        row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
            "model.stage_changed", f"model:{name}@{version}",
            {"model": f"{name}@{version}", "name": name, "version": version,
             "from_stage": current["stage"] if current else "registered", "to_stage": stage, **details}))
        tx.set_stage({"model_name": name, "model_version": version, "stage": stage, "since": row.ts,
                      "request_id": request["id"] if request else (current or {}).get("request_id"),
                      "evaluation_id": request["evaluation_id"] if request else (current or {}).get("evaluation_id"),
                      "policy_name": request["policy_name"] if request else (current or {}).get("policy_name"),
                      "policy_version": request["policy_version"] if request else (current or {}).get(
                          "policy_version"),
                      "revalidation_required": False, "revalidation_reason": None, "seq": row.seq})
        return row.seq

    def requests(self, session: Session, *, pending: bool = False, mine: bool = False) -> list[dict[str, Any]]:
        """Promotion requests (``pending``: the open ones — awaiting a decision, or changes from their requester),
        each with its decisions, the roles still to decide, and whether it awaits ``session``'s decision."""
        return self._act(session, Permission.READ, "requests",
                         lambda tx, _r: self._listing(tx, session, pending=pending, mine=mine))

    def _listing(self, tx: Tx, session: Session, *, pending: bool, mine: bool) -> list[dict[str, Any]]:
        """Requests as :meth:`requests` lists them, inside the caller's transaction."""
        held = set(tx.user_roles(session.name))
        out = []
        owners = tx.model_owners()
        listed = tx.list_open_requests() if pending else tx.list_requests()
        all_decisions = (tx.decisions_for_requests([r["id"] for r in listed]) if pending
                         else tx.decisions_by_request())
        for r in listed:
            key = (r["model_name"], r["model_version"])
            decisions = all_decisions.get(r["id"], [])
            required = json.loads(r["required_roles"])
            filled = {d["role"] for d in decisions if d["decision"] == "approve"}
            open_roles = [x for x in required if x not in filled]
            item = {**r, "required_roles": required, "waivers": json.loads(r["waivers"]), "decisions": decisions,
                    "open_roles": open_roles if r["status"] in OPEN_STATUSES else []}
            can_decide = (r["status"] == "pending" and session.name not in (r["requested_by"], owners.get(key, ""))
                          and not any(d["approver"] == session.name for d in decisions)
                          and bool(held & set(item["open_roles"])))
            item["awaiting_me"] = can_decide
            if mine and not (r["requested_by"] == session.name or can_decide):
                continue
            out.append(item)
        return out

    def inbox(self, session: Session) -> list[dict[str, Any]]:
        """What awaits ``session``: open requests they may decide and have not (``kind`` ``decide``), and their own
        requests sent back for changes (``kind`` ``answer``, with who asked, when and what). Oldest first; the
        navigation counts it."""

        def build(tx: Tx, _role: str) -> list[dict[str, Any]]:
            listed = self._listing(tx, session, pending=True, mine=True)
            sent_back = [r["id"] for r in listed if r["status"] == "changes_requested"
                         and r["requested_by"] == session.name]
            asks: dict[str, dict[str, Any]] = {}
            for note in tx.request_notes(sent_back):
                if note["kind"] == "changes_requested":
                    asks[note["request_id"]] = note
            items = []
            for r in listed:
                ref = f"{r['model_name']}@{r['model_version']}"
                base = {"request_id": r["id"], "model": ref, "from_stage": r["from_stage"],
                        "target_stage": r["target_stage"], "requested_by": r["requested_by"], "seq": r["seq"]}
                if r["awaiting_me"]:
                    items.append({**base, "kind": "decide", "since": r["requested_at"],
                                  "open_roles": r["open_roles"],
                                  "what": f"decide the promotion of {ref} to {r['target_stage']}"})
                elif r["id"] in asks:
                    ask = asks[r["id"]]
                    items.append({**base, "kind": "answer", "since": ask["noted_at"], "asked_by": ask["author"],
                                  "asked_role": ask["role"], "comment": ask["comment"],
                                  "what": f"answer {ask['author']}'s request for changes to the promotion of {ref} "
                                          f"to {r['target_stage']}"})
            return sorted(items, key=lambda i: i["seq"])

        return self._act(session, Permission.READ, "inbox", build)

    # ------------------------------------------------------------------------------------------- waivers
    def waive(self, session: Session, model_ref: str, *, check: str, until: str, justification: str) -> dict[str, Any]:
        ref = parse_ref(model_ref, "model reference")
        try:
            until_date = date.fromisoformat(until)
        except ValueError:
            raise BadInput(f"the waiver's end date {until!r} is not a date (expected YYYY-MM-DD)") from None
        if until_date <= _now().date():
            raise BadInput(f"the waiver's end date {until} is not in the future: a waiver must end after today")
        require_note(justification, "a justification is required: say why the failed check may be waived",
                     "the justification")

        def grant(tx: Tx, role: str) -> dict[str, Any]:
            if tx.get_model(ref.name, ref.version) is None:
                raise NotFound(f"no model {ref}")
            assignment = tx.governing_policy(ref.name)
            if assignment is None:
                raise BadInput(f"model {ref.name} has no governing policy to waive a check of")
            record = tx.get_policy(assignment["policy_name"])
            policy = parse_policy(record["text"], assignment["policy_name"])
            if check not in {c.id for c in policy.checks}:
                raise BadInput(f"policy {policy.ref} has no check {check!r} (checks: "
                               f"{', '.join(c.id for c in policy.checks)})")
            if policy.max_waiver_days is not None and (until_date - _now().date()).days > policy.max_waiver_days:
                raise BadInput(f"policy {policy.ref} caps waivers at {policy.max_waiver_days} days")
            waiver_id = f"wv-{uuid.uuid4().hex[:10]}"
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "waiver.granted", model_node(ref), {"id": waiver_id, "model": str(ref), "check": check,
                                                     "until": until_date.isoformat(), "justification": justification,
                                                     "policy": policy.ref}))
            tx.insert_waiver({"id": waiver_id, "model_name": ref.name, "model_version": ref.version, "check_id": check,
                              "until": until_date.isoformat(), "justification": justification,
                              "granted_by": session.name, "granted_at": row.ts, "seq": row.seq,
                              "policy": policy.ref})
            return {"id": waiver_id, "model": str(ref), "check": check, "until": until_date.isoformat(),
                    "seq": row.seq}

        return self._act(session, Permission.WAIVE, model_node(ref), grant)

    def revoke_waiver(self, session: Session, waiver_id: str, *, reason: str) -> dict[str, Any]:
        def revoke(tx: Tx, role: str) -> dict[str, Any]:
            waiver = tx.get_waiver(waiver_id)
            if waiver is None:
                raise NotFound(f"no waiver {waiver_id}")
            if waiver["revoked_at"]:
                raise BadInput(f"waiver {waiver_id} was already revoked")
            ref = f"{waiver['model_name']}@{waiver['model_version']}"
            row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "waiver.revoked", f"model:{ref}", {"id": waiver_id, "model": ref, "check": waiver["check_id"],
                                                  "reason": reason}))
            tx.revoke_waiver(waiver_id, session.name, row.ts)
            return {"id": waiver_id, "revoked": True, "seq": row.seq}

        return self._act(session, Permission.WAIVE, f"waiver:{waiver_id}", revoke)

    def waivers(self, session: Session, model_ref: str | None = None) -> list[dict[str, Any]]:
        name = version = None
        if model_ref:
            name, _, version = model_ref.partition("@")
        today = _now().date().isoformat()

        def listing(tx: Tx, _role: str) -> list[dict[str, Any]]:
            return [{**w, "active": w["revoked_at"] is None and w["until"] >= today}
                    for w in tx.waivers_for(name or None, version or None)]

        return self._act(session, Permission.READ, "waivers", listing)

    # ------------------------------------------------------------------------------------------- suspension
    def suspend(self, session: Session, model_ref: str, *, reason: str) -> dict[str, Any]:
        ref = parse_ref(model_ref, "model reference")
        require_note(reason, "a reason is required: say why this version is suspended", "the reason")

        def stop(tx: Tx, role: str) -> dict[str, Any]:
            current = tx.stage_of(ref.name, ref.version)
            if current is None or current["stage"] != "production":
                raise BadInput(f"{ref} is not in production (stage: {current['stage'] if current else 'registered'})")
            seq = self._set_stage(tx, session, role, ref.name, ref.version, "suspended",
                                  {"reason": reason, "suspended_by": session.name})
            self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "model.suspended", model_node(ref), {"model": str(ref), "reason": reason, "stage_change_seq": seq}))
            webhooks.enqueue(tx, "model.suspended", {"model": str(ref), "reason": reason, "by": session.name}, seq)
            return {"model": str(ref), "stage": "suspended", "seq": seq}

        result = self._act(session, Permission.SUSPEND, model_node(ref), stop)
        self._flush_webhooks()
        return result

    def stages(self, session: Session) -> list[dict[str, Any]]:
        return self._act(session, Permission.READ, "stages", lambda tx, _r: tx.all_stages())

    # ------------------------------------------------------------------------------------------- revalidation
    def _flag(self, tx: Tx, session: Session, role: str | None, name: str, version: str, reason: str,
              seq_hint: int | None = None) -> int:
        row = self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
            "model.revalidation_required", f"model:{name}@{version}", {"model": f"{name}@{version}",
                                                                       "reason": reason}))
        tx.flag_revalidation(name, version, reason)
        webhooks.enqueue(tx, "model.revalidation_required", {"model": f"{name}@{version}", "reason": reason},
                         row.seq)
        return row.seq

    def flag_after_policy_activation(self, tx: Tx, session: Session, role: str, policy_name: str,
                                     version: int) -> list[str]:
        """Flag released versions approved under an older version of a newly activated policy."""
        flagged = []
        for model_name in tx.models_governed_by(policy_name):
            for stage in ("staging", "production"):
                for entry in tx.versions_in_stage(model_name, stage):
                    if entry["policy_name"] == policy_name and (entry["policy_version"] or 0) < version:
                        self._flag(tx, session, role, model_name, entry["model_version"],
                                   f"policy {policy_name}@{version} replaced @{entry['policy_version']} under which "
                                   "it was approved")
                        flagged.append(f"{model_name}@{entry['model_version']}")
        return flagged

    # ------------------------------------------------------------------------------------------- history
    def history(self, session: Session, model_name: str, at: str | None = None) -> dict[str, Any]:
        """Which version held which stage, when, on whose request and approval, under which evidence.

        Reconstructed from ``model.stage_changed`` ledger entries only, so it cannot disagree with the ledger.
        """
        moment = None
        if at:
            try:
                moment = _parse_ts(at if ("T" in at or " " in at) else f"{at}T23:59:59.999999+00:00")
            except ValueError:
                raise BadInput(f"{at!r} is not a date or time (expected ISO 8601, e.g. 2026-05-01 or "
                               "2026-05-01T09:00:00Z)") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)

        def build(tx: Tx, _role: str) -> dict[str, Any]:
            rows = tx.ledger_for_subject_prefix(f"model:{model_name}@", ["model.stage_changed"])
            events = [decode_row(r) for r in rows if json.loads(r.payload).get("name") == model_name]
            timeline = [{"seq": e["seq"], "ts": e["ts"], "actor": e["actor"], "role": e["role"],
                         **{k: v for k, v in e["payload"].items() if k not in ("name",)}} for e in events]
            if moment is not None:
                timeline = [t for t in timeline if _parse_ts(t["ts"]) <= moment]
            state: dict[str, dict[str, Any]] = {}
            for t in timeline:
                state[t["version"]] = t
            current = {v: {"stage": t["to_stage"], "since": t["ts"], "seq": t["seq"],
                           "requested_by": t.get("requested_by"), "approvers": t.get("approvers", []),
                           "evaluation_id": t.get("evaluation_id"), "policy": t.get("policy"),
                           "reason": t.get("reason")}
                       for v, t in sorted(state.items())}
            production = [v for v, s in current.items() if s["stage"] == "production"]
            return {"model": model_name, "at": moment.isoformat() if moment else None,
                    "production": production[0] if production else None, "versions": current,
                    "timeline": timeline}

        return self._act(session, Permission.READ, f"model:{model_name}", build)

    def _flush_webhooks(self) -> None:
        webhooks.deliver_in_background(self.store, wait=float(__import__("os").environ.get(
            "COUNTERSIGN_WEBHOOK_WAIT", "2")))


def _lapsed(tx: Tx, decision: dict[str, Any]) -> bool:
    """Whether an approval no longer counts: its approver has since lost the role they approved in (revoked after
    the approval, even if granted again later)."""
    if decision["role"] not in tx.user_roles(decision["approver"]):
        return True
    return any(action == "user.role_revoked" and seq > int(decision["seq"])
               and json.loads(payload).get("role") == decision["role"]
               for seq, _actor, action, payload in tx.identity_events(decision["approver"]))


def _find_request(tx: Tx, request_id: str) -> dict[str, Any]:
    """The promotion request ``request_id`` (any status), or raise :class:`NotFound`."""
    request = tx.get_request(request_id)
    if request is None:
        raise NotFound(f"no promotion request {request_id}")
    return request


def _status_words(request: dict[str, Any]) -> str:
    """A request's status in words for refusals ("sent back to its requester for changes", not
    ``changes_requested``); the terminal statuses keep their ledger names."""
    words = {"pending": "awaiting decisions", "changes_requested": "sent back to its requester for changes",
             "invalidated": "invalidated: its evidence changed",
             "superseded": "superseded by a request on new evidence"}
    return words.get(request["status"], request["status"].replace("_", " "))


def _require_comment(comment: str | None, refusal: str) -> None:
    """Refuse (:class:`BadInput`) a missing or blank comment (with ``refusal``: every review step is explained) and
    one longer than :data:`core.inputs.limits.MAX_NOTE_CHARS`."""
    require_note(comment, refusal, "the comment")


@dataclass(frozen=True)
class _ReviewPosition:
    """Where a reviewer stands on an open request: the role they would act in, the roles still open, the model, the
    decisions so far, the approvals that lapsed and the roles the reviewer holds."""

    acting: str
    open_roles: list[str]
    model: dict[str, Any]
    decisions: list[dict[str, Any]]
    lapsed: list[dict[str, Any]]
    held: list[str]


def _review_position(tx: Tx, session: Session, request: dict[str, Any], verb: str = "review",
                     noun: str = "review") -> _ReviewPosition:
    """The open role in which ``session`` may ``verb`` (decide, review) ``request`` now, or raise
    :class:`SeparationOfDuties`: not its requester, not the model's registrant, not someone who already decided it,
    and holding a role still to fill. An earlier approval fills its role only while its approver still holds that
    role unbroken (:func:`_lapsed`)."""
    request_id = request["id"]
    model = tx.get_model(request["model_name"], request["model_version"]) or {}
    if session.name == request["requested_by"]:
        raise SeparationOfDuties(f"{session.name} requested this promotion and may not {verb} it (separation of "
                                 "duties)")
    if session.name == model.get("owner"):
        raise SeparationOfDuties(f"{session.name} registered {request['model_name']}@{request['model_version']} "
                                 f"and may not {verb} its promotion (separation of duties)")
    decisions = tx.decisions(request_id)
    if any(d["approver"] == session.name for d in decisions):
        raise SeparationOfDuties(f"{session.name} has already decided on request {request_id}")
    lapsed = [d for d in decisions if d["decision"] == "approve" and _lapsed(tx, d)]
    filled = {d["role"] for d in decisions if d["decision"] == "approve" and d not in lapsed}
    open_roles = [r for r in json.loads(request["required_roles"]) if r not in filled]
    held = tx.user_roles(session.name)
    acting = next((r for r in open_roles if r in held), None)
    if acting is None:
        needed = " or ".join(open_roles) or "none (all roles are filled)"
        raise SeparationOfDuties(f"request {request_id} needs a {noun} by {needed}; {session.name} holds "
                                 f"{', '.join(held) or 'no role'}")
    return _ReviewPosition(acting, open_roles, model, decisions, lapsed, held)


def _independence_problem(tx: Tx, approver: str, acting: str, held: list[str], request: dict[str, Any],
                          participants: dict[str, str]) -> str | None:
    """Why ``approver`` is not an independent second person on this request, or ``None``.

    The approver must not hold admin; their account must predate the request and must not have been created by
    another participant (requester, registrant, earlier approver); the role they decide in must have been held since
    before the request was opened and must not have been granted by a participant. So no one can approve through an
    account they created, or in a role they handed out, and no role juggling or new account during a request counts.
    """
    if Role.ADMIN.value in held:
        return "admins approve nothing (admin is exclusive of the approving roles)"
    created: tuple[int, str] | None = None
    enrolled: int | None = None
    granted: dict[str, tuple[int, str]] = {}
    for seq, actor, action, payload_text in tx.identity_events(approver):
        payload = json.loads(payload_text)
        if action == "user.added":
            created = (seq, actor)
            for role in payload.get("roles") or []:
                granted[role] = (seq, actor)
        elif action == "user.role_granted":
            granted[str(payload.get("role"))] = (seq, actor)
        elif action == "user.role_revoked":
            granted.pop(str(payload.get("role")), None)
        elif action == "user.enrolled":
            enrolled = seq
    opened = int(request["seq"])
    if enrolled is not None and enrolled > opened:
        return f"the account {approver!r} was enrolled after the request was opened (seq {enrolled} > {opened})"
    if created is not None:
        if created[0] > opened:
            return f"the account {approver!r} was created after the request was opened (seq {created[0]} > {opened})"
        if created[1] in participants and created[1] != approver:
            return f"the account {approver!r} was created by {created[1]}, who {participants[created[1]]}"
    grant = granted.get(acting)
    if grant is None or grant[0] > opened:
        when = f"at seq {grant[0]}" if grant else "without a ledger record"
        return f"the role {acting} was granted {when}, after the request was opened at seq {opened}"
    if grant[1] in participants and grant[1] != approver:
        return f"the role {acting} was granted to {approver!r} by {grant[1]}, who {participants[grant[1]]}"
    return None
