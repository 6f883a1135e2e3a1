"""The context a reviewer decides a promotion request in: what moves where, what changed since production, how old
the evidence is, who has decided and who must still, and the conversation so far.

Built by :meth:`core.releases.promotions.ReleaseService.review` inside one read transaction; everything here is
plain data for the app, the CLI and the reports (nothing imports Streamlit). Values are kept as data (numbers,
timestamps); the ``*_words`` fields say the same in words.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.catalog.registry import model_node
from core.display.words import role_words, when
from core.evaluation.explanations import check_value, metric_label, rule_text, verdict_words
from core.identity.roles import Role
from core.identity.users import Session
from core.storage.contract import Transaction as Tx

#: request statuses in words
STATUS_WORDS = {"pending": "awaiting decisions", "changes_requested": "sent back to its requester for changes",
                "approved": "approved", "rejected": "rejected", "invalidated": "closed: its evidence changed",
                "superseded": "replaced by a request on new evidence"}
#: thread entry kinds in words
KIND_WORDS = {"comment": "commented", "changes_requested": "requested changes", "answer": "answered",
              "approve": "approved", "reject": "rejected"}
#: how many lines of card difference are kept (the rest is counted)
MAX_DIFF_LINES = 400


def age_words(ts: str | None, now: datetime | None = None) -> str:
    """How long ago ``ts`` was, in words: "today", "yesterday", "3 days ago" ("—" for nothing)."""
    if not ts:
        return "—"
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return str(ts)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    days = ((now or datetime.now(UTC)) - moment).days
    if days <= 0:
        hours = int(((now or datetime.now(UTC)) - moment).total_seconds() // 3600)
        return "less than an hour ago" if hours < 1 else f"{hours} hour{'s' if hours != 1 else ''} ago"
    return "yesterday" if days == 1 else f"{days} days ago"


def _value(check: dict[str, Any] | None) -> float | None:
    value = (check or {}).get("value")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def compare_checks(candidate: dict[str, Any] | None, production: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per check of the candidate's evaluation (then any check only production has): the metric, the rule,
    each side's value and verdict in words, and the numeric change (candidate minus production)."""
    ours = {c["id"]: c for c in (candidate or {}).get("checks", [])}
    theirs = {c["id"]: c for c in (production or {}).get("checks", [])}
    rows = []
    for check_id in [*ours, *(c for c in theirs if c not in ours)]:
        mine, other = ours.get(check_id), theirs.get(check_id)
        ref = mine or other or {}
        a, b = _value(mine), _value(other)
        rows.append({
            "check": check_id, "kind": ref.get("kind") or "metric", "metric": metric_label(ref.get("metric")),
            "rule": f"must {rule_text(ref)}", "severity": ref.get("severity"),
            "candidate": check_value(mine) if mine else "not checked",
            "candidate_verdict": verdict_words(mine) if mine else "—",
            "candidate_passed": bool(mine["passed"]) if mine else None,
            "production": check_value(other) if other else "not checked",
            "production_verdict": verdict_words(other) if other else "—",
            "production_passed": bool(other["passed"]) if other else None,
            "change": None if a is None or b is None else a - b})
    return rows


def card_diff(candidate: str | None, production: str | None, candidate_name: str,
              production_name: str) -> list[str]:
    """The unified difference between two model card texts (production first), at most :data:`MAX_DIFF_LINES`."""
    lines = list(difflib.unified_diff((production or "").splitlines(), (candidate or "").splitlines(),
                                      fromfile=production_name, tofile=candidate_name, lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"… {len(lines) - MAX_DIFF_LINES} more lines"]
    return lines


def _suspension(tx: Tx, name: str, version: str) -> dict[str, Any] | None:
    """The version's suspension now in force (who, when, why), from the ledger entry that made it."""
    stage = tx.stage_of(name, version)
    if stage is None or stage["stage"] != "suspended":
        return None
    rows = tx.ledger_entries([int(stage["seq"])])
    payload = json.loads(rows[0].payload) if rows else {}
    by = payload.get("suspended_by") or (rows[0].actor if rows else None)
    return {"by": by, "role": rows[0].role if rows else None, "at": stage["since"], "at_words": when(stage["since"]),
            "reason": payload.get("reason"), "seq": int(stage["seq"])}


def _chain(tx: Tx, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The request and those it superseded, oldest first."""
    chain, seen = [request], {request["id"]}
    while chain[0].get("supersedes") and chain[0]["supersedes"] not in seen:
        earlier = tx.get_request(chain[0]["supersedes"])
        if earlier is None:
            break
        seen.add(earlier["id"])
        chain.insert(0, earlier)
    return chain


def _thread(tx: Tx, chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in chain]
    entries = [{"seq": int(n["seq"]), "request_id": n["request_id"], "author": n["author"], "role": n["role"],
                "kind": n["kind"], "comment": n["comment"], "at": n["noted_at"]} for n in tx.request_notes(ids)]
    for request_id, decisions in tx.decisions_for_requests(ids).items():
        entries += [{"seq": int(d["seq"]), "request_id": request_id, "author": d["approver"], "role": d["role"],
                     "kind": d["decision"], "comment": d["comment"], "at": d["decided_at"]} for d in decisions]
    for r in chain:
        entries.append({"seq": int(r["seq"]), "request_id": r["id"], "author": r["requested_by"], "role": None,
                        "kind": "request", "comment": r["reason"], "at": r["requested_at"]})
    entries.sort(key=lambda e: e["seq"])
    for e in entries:
        e["at_words"] = when(e["at"])
        e["role_words"] = role_words(e["role"]) if e["role"] else ""
        e["kind_words"] = "requested the promotion" if e["kind"] == "request" else KIND_WORDS.get(e["kind"], e["kind"])
    return entries


def _approvals(tx: Tx, request: dict[str, Any], lapsed: Callable[[Tx, dict[str, Any]], bool]) -> dict[str, Any]:
    required = json.loads(request["required_roles"])
    decisions = tx.decisions(request["id"])
    approvals = [d for d in decisions if d["decision"] == "approve"]
    gone = [d for d in approvals if lapsed(tx, d)]
    standing = [d for d in approvals if d not in gone]
    filled = {d["role"] for d in standing}
    open_roles = [r for r in required if r not in filled] if request["status"] in ("pending", "changes_requested") \
        else []
    model = tx.get_model(request["model_name"], request["model_version"]) or {}
    excluded = {request["requested_by"], model.get("owner"), *(d["approver"] for d in decisions)}
    who = {role: [u["name"] for u in tx.list_users() if role in u["roles"] and u["name"] not in excluded
                  and Role.ADMIN.value not in u["roles"]] for role in open_roles}
    return {"required": required,
            "standing": [{"approver": d["approver"], "role": d["role"], "at": d["decided_at"]} for d in standing],
            "lapsed": [{"approver": d["approver"], "role": d["role"], "at": d["decided_at"]} for d in gone],
            "open_roles": open_roles, "who_may_decide": who,
            "still_needed_words": _still_needed(request, decisions, open_roles, who)}


def _still_needed(request: dict[str, Any], decisions: list[dict[str, Any]], open_roles: list[str],
                  who: dict[str, list[str]]) -> str:
    """Who must still decide, in words: the open roles and who may fill them, or why nobody is (the request was
    approved, rejected — by whom —, superseded or invalidated)."""
    status = request["status"]
    if status in ("pending", "changes_requested"):
        if not open_roles:
            return "nobody: every required role has approved"
        return "; ".join(f"{_a(role_words(r))} ({', '.join(who[r]) or 'nobody eligible yet'})" for r in open_roles)
    if status == "approved":
        return "nobody: every required role approved"
    if status == "rejected":
        by = [f"{d['approver']} ({role_words(d['role'])})" for d in decisions if d["decision"] == "reject"]
        return "nobody: the request was rejected" + (f" by {', '.join(by)}" if by else "")
    return f"nobody: the request was {STATUS_WORDS.get(status, status.replace('_', ' '))}"


def _a(noun: str) -> str:
    """``noun`` with its indefinite article by sound ("an ML lead", "a compliance officer")."""
    return f"{'an' if noun[:1].lower() in 'aeio' or noun.startswith(('ML', 'SR')) else 'a'} {noun}"


def context(tx: Tx, session: Session, request: dict[str, Any], stale: list[str],
            lapsed: Callable[[Tx, dict[str, Any]], bool]) -> dict[str, Any]:
    """The review context of ``request`` (see the module docstring). ``stale``: why its evidence no longer holds
    (the gate re-run now; empty when it still holds)."""
    name, version = request["model_name"], request["model_version"]
    ref = f"{name}@{version}"
    model = tx.get_model(name, version) or {}
    stage = tx.stage_of(name, version)
    evaluation = tx.get_evaluation(request["evaluation_id"])
    result = json.loads(evaluation["result"]) if evaluation else None
    production = None
    in_production = [s for s in tx.versions_in_stage(name, "production") if s["model_version"] != version]
    if in_production:
        other = in_production[0]["model_version"]
        latest = tx.latest_gate_evaluation(name, other)
        other_model = tx.get_model(name, other) or {}
        production = {"version": other, "ref": f"{name}@{other}", "since": in_production[0]["since"],
                      "evaluation_id": latest["id"] if latest else None,
                      "evaluated_at": latest["evaluated_at"] if latest else None,
                      "result": json.loads(latest["result"]) if latest else None,
                      "artifact_digest": other_model.get("artifact_digest")}
    card = tx.latest_document("model_card", model_node(ref))
    other_card = tx.latest_document("model_card", model_node(production["ref"])) if production else None
    comparison = {
        "checks": compare_checks(result, production["result"] if production else None),
        "artifact": {"candidate": model.get("artifact_digest"),
                     "production": production["artifact_digest"] if production else None,
                     "same": production is not None and model.get("artifact_digest") == production["artifact_digest"]},
        "card": {"candidate_revision": card["revision"] if card else None,
                 "production_revision": other_card["revision"] if other_card else None,
                 "same": bool(production) and (card or {}).get("digest") == (other_card or {}).get("digest"),
                 "diff": card_diff(card["content"] if card else None, other_card["content"] if other_card else None,
                                   ref, production["ref"]) if production else []},
    }
    chain = _chain(tx, request)
    superseding = tx.request_superseding(request["id"])
    evaluated_at = evaluation["evaluated_at"] if evaluation else None
    return {
        "request": {**request, "required_roles": json.loads(request["required_roles"]),
                    "waivers": json.loads(request["waivers"])},
        "model": ref, "status": request["status"], "status_words": STATUS_WORDS.get(request["status"],
                                                                                    request["status"]),
        "stage_path": [request["from_stage"], request["target_stage"]],
        "stage_now": stage["stage"] if stage else "registered",
        "suspension": _suspension(tx, name, version),
        "evidence": {"evaluation_id": request["evaluation_id"], "evaluated_at": evaluated_at,
                     "evaluated_words": when(evaluated_at), "age_words": age_words(evaluated_at),
                     "passed": bool(result["passed"]) if result else None,
                     "dataset": evaluation["dataset_ref"] if evaluation else None,
                     "evaluated_by": evaluation["evaluated_by"] if evaluation else None,
                     "stale": stale},
        "production": production and {k: v for k, v in production.items() if k != "result"},
        "comparison": comparison,
        "approvals": _approvals(tx, request, lapsed),
        "thread": _thread(tx, chain),
        "supersedes": request.get("supersedes"),
        "superseded_by": superseding["id"] if superseding else None,
        "viewer": session.name,
    }
