"""Releases: governing policies, promotion requests behind a policy gate, role-based approvals with separation of
duties, waivers, suspension, monitoring, and the production history.

Stages: ``registered`` → ``staging`` → ``production`` → ``retired``, plus ``suspended``. A model name has at most one
version in production; promoting a new one retires the previous one in the same transaction. Every transition is a
``model.stage_changed`` ledger entry carrying who requested it, who approved it in which role, and the evaluation and
policy version it rested on — :meth:`ReleaseService.history` rebuilds the timeline from those entries alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.catalog.datasets import parse_ref
from core.catalog.registry import model_node
from core.errors import BadInput, NotFound, SeparationOfDuties
from core.evidence import attest
from core.identity.roles import Permission, Role
from core.identity.users import Session
from core.inputs.limits import require_note
from core.ledger.chain import Event
from core.policy.rules import Policy
from core.releases import clock, webhooks
from core.releases.gate import ALLOWED_FROM, AnswerRefused, GateRefused, gate
from core.releases.inbox import OPEN_STATUSES
from core.releases.separation import (
    approval_lapsed,
    find_request,
    independence_problem,
    reinstatement_permission,
    require_comment,
    review_position,
    status_words,
    thread_permission,
)
from core.storage.contract import Transaction as Tx
from core.tlog.canonical import canonical_bytes

if TYPE_CHECKING:
    from core.api.context import Context


STAGES = ("registered", "staging", "production", "retired", "suspended")
#: thread note kinds: a remark, a reviewer's request for changes, the requester's answer (the request returns to review)
NOTE_KINDS = ("comment", "changes_requested", "answer")
DEFAULT_APPROVERS = {"staging": [Role.ML_LEAD.value], "production": [Role.ML_LEAD.value, Role.COMPLIANCE_OFFICER.value]}


class ReleaseService:
    """Promotions, approvals, waivers, suspension, monitoring and history (see :mod:`core.releases.promotions`)."""

    def __init__(self, ctx: Context) -> None:
        #: (session, model name) → what to add to the result; called once a promotion or suspension committed
        self.after_release: list[Callable[[Session, str], dict[str, Any]]] = []
        self._ctx = ctx

    # ------------------------------------------------------------------------------------------- policy assignment
    def assign_policy(self, session: Session, model_name: str, policy_name: str,
                      permission: Permission = Permission.POLICY_ASSIGN) -> dict[str, Any]:
        def assign(tx: Tx, role: str) -> dict[str, Any]:
            return self.assign_in(tx, session, role, model_name, policy_name, override=True)

        return self._ctx.act(session, permission, f"model:{model_name}", assign)

    def assign_in(self, tx: Tx, session: Session, role: str, model_name: str, policy_name: str,
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
        row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
            "policy.assigned", f"model:{model_name}",
            {"model": model_name, "policy": policy_name, "previous_policy": current["policy_name"] if current else None,
             "active_version": policy["version"]}))
        tx.assign_policy({"model_name": model_name, "policy_name": policy_name, "assigned_by": session.name,
                          "assigned_at": row.ts, "seq": row.seq})
        return {"model": model_name, "policy": policy_name, "changed": True, "seq": row.seq}

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
                model, policy, evaluation, waivers_used, reasons = gate(tx, ref.name, ref.version, to)
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
            result = self._ctx.act(session, permission, model_node(ref), open_request)
        except GateRefused:
            self._record_refusal(session, ref, to, refused, permission)
            raise
        self.flush_webhooks()
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
        row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
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
        held = self._ctx.act(session, Permission.READ, model_node(ref), lambda tx, _r: tx.user_roles(session.name))
        permission = reinstatement_permission(held)
        stage = self._ctx.act(session, permission, model_node(ref), lambda tx, _r: tx.stage_of(ref.name, ref.version))
        if stage is None or stage["stage"] != "suspended":
            raise BadInput(f"{ref} is not suspended (stage: {stage['stage'] if stage else 'registered'}); request "
                           "an ordinary promotion instead")
        return self.promote(session, model_ref, to="production", reason=reason, permission=permission)

    def _record_refusal(self, session: Session, ref: Any, to: str, reasons: list[str],  # noqa: ANN401
                        permission: Permission = Permission.PROMOTE_REQUEST) -> None:
        def record(tx: Tx, role: str) -> None:
            self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "promotion.refused", model_node(ref), {"model": str(ref), "to_stage": to, "reasons": reasons}))

        self._ctx.act(session, permission, model_node(ref), record)

    def _decide(self, session: Session, request_id: str, comment: str, decision: str) -> dict[str, Any]:
        require_comment(comment, "a comment is required: every decision is explained")

        def decide(tx: Tx, _role: str) -> dict[str, Any]:
            request = find_request(tx, request_id)
            if request["status"] == "changes_requested" and decision == "approve":
                raise BadInput(f"request {request_id} awaits changes from its requester, {request['requested_by']};"
                               " it returns to review when they answer")
            if request["status"] not in OPEN_STATUSES:
                raise BadInput(f"request {request_id} is already {status_words(request)}")
            position = review_position(tx, session, request, "decide", "decision")
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
            problem = (independence_problem(tx, session.name, acting, held, request, participants)
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
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=acting, event=Event(
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
            result = self._ctx.act(session, Permission.APPROVE, f"request:{request_id}", decide)
        except GateRefused:
            if stale:
                self._invalidate(session, request_id, stale)
            raise
        self.flush_webhooks()
        for hook in self.after_release if result["status"] == "approved" else ():
            result.update(hook(session, result["model"].rsplit("@", 1)[0]))
        return result

    def _evidence_changed(self, tx: Tx, request: dict[str, Any]) -> list[str]:
        """Why the evidence a request rests on no longer holds: the gate re-run now, and what changed since.

        Re-checked at every approval: the model's stage, its governing policy's active version, the latest gate
        evaluation on this artifact digest (and that it passed), its age, and the waivers it needs being still active.
        """
        name, version, target = request["model_name"], request["model_version"], request["target_stage"]
        try:
            _model, policy, evaluation, waivers, reasons = gate(tx, name, version, target)
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
        in_force = {w["id"] for w in waivers}
        for waiver_id in sorted(rested - in_force):
            waiver = tx.get_waiver(waiver_id) or {}
            if waiver.get("revoked_at"):
                state = f"was revoked by {waiver['revoked_by']} at {waiver['revoked_at']}"
            elif waiver.get("until", "9999") < clock.now().date().isoformat():
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
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
                                            event=Event("promotion.invalidated", f"model:{ref}", payload))
            tx.close_request(request_id, "invalidated", row.ts)
            webhooks.enqueue(tx, "promotion.invalidated", payload, row.seq)

        self._ctx.act(session, Permission.APPROVE, f"request:{request_id}", close)
        self.flush_webhooks()

    def approve(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        return self._decide(session, request_id, comment, "approve")

    def reject(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        return self._decide(session, request_id, comment, "reject")

    # ------------------------------------------------------------------------------------------- review threads
    def request_changes(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        """Send a pending request back to its requester (``promotion.changes_requested``): neither approval nor
        rejection. Only someone who could decide it now may (not its requester or the model's registrant, not
        someone who already decided it, in a role still open); it waits for the requester's :meth:`answer`."""
        require_comment(comment, "a comment is required: say what must change")

        def send_back(tx: Tx, _role: str) -> dict[str, Any]:
            request = find_request(tx, request_id)
            if request["status"] == "changes_requested":
                raise BadInput(f"request {request_id} already awaits changes from its requester, "
                               f"{request['requested_by']}")
            if request["status"] != "pending":
                raise BadInput(f"request {request_id} is already {status_words(request)}")
            acting = review_position(tx, session, request).acting
            ref = f"{request['model_name']}@{request['model_version']}"
            payload = {"request_id": request_id, "model": ref, "to_stage": request["target_stage"], "role": acting,
                       "requested_by": request["requested_by"], "comment": comment}
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=acting, event=Event(
                "promotion.changes_requested", f"model:{ref}", payload))
            tx.set_request_status(request_id, "changes_requested")
            tx.insert_request_note({"seq": row.seq, "request_id": request_id, "author": session.name, "role": acting,
                                    "kind": "changes_requested", "comment": comment, "noted_at": row.ts})
            webhooks.enqueue(tx, "promotion.changes_requested", {**payload, "by": session.name}, row.seq)
            return {"request_id": request_id, "model": ref, "status": "changes_requested", "role": acting,
                    "requested_by": request["requested_by"], "seq": row.seq}

        result = self._ctx.act(session, Permission.APPROVE, f"request:{request_id}", send_back)
        self.flush_webhooks()
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
        require_comment(comment, "a comment is required: say what you changed or why nothing needs to")

        def answer_in(tx: Tx, role: str) -> dict[str, Any]:
            request = find_request(tx, request_id)
            if request["status"] != "changes_requested":
                raise BadInput(f"request {request_id} is {status_words(request)}: only a request sent "
                               "back for changes can be answered")
            if session.name != request["requested_by"]:
                raise BadInput(f"only {request['requested_by']}, who opened request {request_id}, can answer its "
                               "requests for changes")
            name, version, target = request["model_name"], request["model_version"], request["target_stage"]
            try:
                _model, policy, evaluation, waivers_used, reasons = gate(tx, name, version, target)
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
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
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

        result = self._ctx.act(session, self._thread_permission(session, request_id), f"request:{request_id}",
                               answer_in)
        self.flush_webhooks()
        return result

    def _thread_permission(self, session: Session, request_id: str) -> Permission:
        """The permission ``session`` writes in ``request_id``'s thread with (an unknown request is :class:`NotFound`,
        exit 2, before any role is checked): a reviewer needs ``approve``; its requester the permission they could
        have opened it with — ``promote.request``, or for a reinstatement also ``suspend`` (a compliance officer who
        asked for a suspended version back answers and comments on their own request)."""
        request, held = self._ctx.act(session, Permission.READ, f"request:{request_id}",
                                      lambda tx, _r: (find_request(tx, request_id), tx.user_roles(session.name)))
        return thread_permission(request, session.name, held)

    def comment(self, session: Session, request_id: str, *, comment: str) -> dict[str, Any]:
        """Add a remark to an open request's thread (``promotion.commented``): its requester, or a reviewer (ML lead,
        compliance officer). A comment decides nothing."""
        require_comment(comment, "a comment cannot be empty")
        permission = self._thread_permission(session, request_id)

        def note(tx: Tx, role: str) -> dict[str, Any]:
            request = find_request(tx, request_id)
            if request["status"] not in OPEN_STATUSES:
                raise BadInput(f"request {request_id} is {status_words(request)}: its thread is closed")
            ref = f"{request['model_name']}@{request['model_version']}"
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "promotion.commented", f"model:{ref}", {"request_id": request_id, "model": ref, "comment": comment}))
            tx.insert_request_note({"seq": row.seq, "request_id": request_id, "author": session.name, "role": role,
                                    "kind": "comment", "comment": comment, "noted_at": row.ts})
            return {"request_id": request_id, "model": ref, "seq": row.seq, "role": role}

        return self._ctx.act(session, permission, f"request:{request_id}", note)

    def review(self, session: Session, request_id: str) -> dict[str, Any]:
        """Everything a reviewer needs to decide one request: the stage path and the version's stage now (with its
        suspension, who, when and why), the evidence and its age, whether it still holds (the gate re-run now), a
        side-by-side comparison with the version in production (checks, artifact digest, card text), which roles
        have approved and which remain (with who may still fill them), and the thread (comments, change requests,
        answers and decisions, across requests it superseded). See :mod:`core.releases.review`."""
        from core.releases import review

        def build(tx: Tx, _role: str) -> dict[str, Any]:
            request = find_request(tx, request_id)
            stale = self._evidence_changed(tx, request) if request["status"] in OPEN_STATUSES else []
            return review.context(tx, session, request, stale, approval_lapsed)

        return self._ctx.act(session, Permission.READ, f"request:{request_id}", build)

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
        row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
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
            self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "model.suspended", model_node(ref), {"model": str(ref), "reason": reason, "stage_change_seq": seq}))
            webhooks.enqueue(tx, "model.suspended", {"model": str(ref), "reason": reason, "by": session.name}, seq)
            return {"model": str(ref), "stage": "suspended", "seq": seq}

        result = self._ctx.act(session, Permission.SUSPEND, model_node(ref), stop)
        self.flush_webhooks()
        for hook in self.after_release:
            result.update(hook(session, ref.name))
        return result

    def stages(self, session: Session) -> list[dict[str, Any]]:
        return self._ctx.act(session, Permission.READ, "stages", lambda tx, _r: tx.all_stages())

    # ------------------------------------------------------------------------------------------- revalidation
    def flag(self, tx: Tx, session: Session, role: str | None, name: str, version: str, reason: str,
             seq_hint: int | None = None) -> int:
        row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
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
                        self.flag(tx, session, role, model_name, entry["model_version"],
                                  f"policy {policy_name}@{version} replaced @{entry['policy_version']} under which "
                                  "it was approved")
                        flagged.append(f"{model_name}@{entry['model_version']}")
        return flagged

    def flush_webhooks(self) -> None:
        webhooks.deliver_in_background(self._ctx.store, wait=webhooks.flush_wait())
