"""Separation of duties on a promotion request: who may still decide it, in which role, and whether an approver is an
independent second person; plus the small lookups every review step shares.

No one decides a request they opened or a model they registered, or decides twice; an approval fills its role only
while its approver holds that role unbroken; an approver must not hold admin, and neither their account nor the role
they decide in may be newer than the request or handed out by another participant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.errors import NotFound, SeparationOfDuties
from core.identity.roles import Permission, Role, acting_role
from core.identity.users import Session
from core.inputs.limits import require_note
from core.storage.contract import Transaction as Tx

__all__ = ["ReviewPosition", "approval_lapsed", "find_request", "independence_problem", "reinstatement_permission",
           "require_comment", "review_position", "status_words", "thread_permission"]


def approval_lapsed(tx: Tx, decision: dict[str, Any]) -> bool:
    """Whether an approval no longer counts: its approver has since lost the role they approved in (revoked after
    the approval, even if granted again later)."""
    if decision["role"] not in tx.user_roles(decision["approver"]):
        return True
    return any(action == "user.role_revoked" and seq > int(decision["seq"])
               and json.loads(payload).get("role") == decision["role"]
               for seq, _actor, action, payload in tx.identity_events(decision["approver"]))


def find_request(tx: Tx, request_id: str) -> dict[str, Any]:
    """The promotion request ``request_id`` (any status), or raise :class:`NotFound`."""
    request = tx.get_request(request_id)
    if request is None:
        raise NotFound(f"no promotion request {request_id}")
    return request


def status_words(request: dict[str, Any]) -> str:
    """A request's status in words for refusals ("sent back to its requester for changes", not
    ``changes_requested``); the terminal statuses keep their ledger names."""
    words = {"pending": "awaiting decisions", "changes_requested": "sent back to its requester for changes",
             "invalidated": "invalidated: its evidence changed",
             "superseded": "superseded by a request on new evidence"}
    status = str(request["status"])
    return words.get(status, status.replace("_", " "))


def require_comment(comment: str | None, refusal: str) -> None:
    """Refuse (:class:`BadInput`) a missing or blank comment (with ``refusal``: every review step is explained) and
    one longer than :data:`core.inputs.limits.MAX_NOTE_CHARS`."""
    require_note(comment, refusal, "the comment")


@dataclass(frozen=True)
class ReviewPosition:
    """Where a reviewer stands on an open request: the role they would act in, the roles still open, the model, the
    decisions so far, the approvals that lapsed and the roles the reviewer holds."""

    acting: str
    open_roles: list[str]
    model: dict[str, Any]
    decisions: list[dict[str, Any]]
    lapsed: list[dict[str, Any]]
    held: list[str]


def review_position(tx: Tx, session: Session, request: dict[str, Any], verb: str = "review",
                    noun: str = "review") -> ReviewPosition:
    """The open role in which ``session`` may ``verb`` (decide, review) ``request`` now, or raise
    :class:`SeparationOfDuties`: not its requester, not the model's registrant, not someone who already decided it,
    and holding a role still to fill. An earlier approval fills its role only while its approver still holds that
    role unbroken (:func:`approval_lapsed`)."""
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
    lapsed = [d for d in decisions if d["decision"] == "approve" and approval_lapsed(tx, d)]
    filled = {d["role"] for d in decisions if d["decision"] == "approve" and d not in lapsed}
    open_roles = [r for r in json.loads(request["required_roles"]) if r not in filled]
    held = tx.user_roles(session.name)
    acting = next((r for r in open_roles if r in held), None)
    if acting is None:
        needed = " or ".join(open_roles) or "none (all roles are filled)"
        raise SeparationOfDuties(f"request {request_id} needs a {noun} by {needed}; {session.name} holds "
                                 f"{', '.join(held) or 'no role'}")
    return ReviewPosition(acting, open_roles, model, decisions, lapsed, held)


def independence_problem(tx: Tx, approver: str, acting: str, held: list[str], request: dict[str, Any],
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


def reinstatement_permission(held: list[str] | tuple[str, ...]) -> Permission:
    """The permission a holder of ``held`` asks for a suspended version back with: whoever may request promotions or
    suspend versions may ask (so a compliance officer who suspended a version can ask for it back). Holding neither,
    it is ``promote.request`` (and the request is refused for want of it)."""
    if acting_role(held, Permission.PROMOTE_REQUEST) or not acting_role(held, Permission.SUSPEND):
        return Permission.PROMOTE_REQUEST
    return Permission.SUSPEND


def thread_permission(request: dict[str, Any], name: str, held: list[str] | tuple[str, ...]) -> Permission:
    """The permission ``name`` (holding ``held``) writes in ``request``'s thread (comments, answers) with: a reviewer
    needs ``promotion.decide``; its requester the permission they could have opened it with — ``promote.request``, or
    for a reinstatement (from ``suspended``) the one :func:`reinstatement_permission` gives."""
    if request["requested_by"] != name:
        return Permission.APPROVE
    if request.get("from_stage") == "suspended":
        return reinstatement_permission(held)
    return Permission.PROMOTE_REQUEST
