"""What the CLI's human-readable output says, in words: roles, statuses, users, waivers, CSV dialects, an
evaluation's checks and a request's review context.

Every function here returns plain lines (or one line) of text and prints nothing; :mod:`cli.main` prints them with
:func:`cli.output.say`, which makes any control character in a user's text visible. The wording is the one the app
and the regulator report share (:mod:`core.display.words`, :mod:`core.evaluation.explanations`): operators in words
("at least 0.8000"), numbers to 4 decimals, roles as "ML lead", timestamps to the second in UTC, yes/no rather than
``True``/``False``, lists joined with commas — never a Python or JSON literal. ``--json`` output does not come here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.display.words import STAGE_WORDS, human, number, role_words, when
from core.evaluation.explanations import check_sentence

#: how a CSV delimiter is named
_DELIMITERS = {" ": "space", "\t": "tab", ",": "comma", ";": "semicolon", "|": "vertical bar"}
#: a thread entry's kind in words (when the review context gives none)
_KIND_WORDS = {"request": "requested the promotion", "comment": "commented", "changes_requested": "requested changes",
               "answer": "answered", "approve": "approved", "reject": "rejected"}


def roles(names: Iterable[str] | None, empty: str = "no role") -> str:
    """Roles in words, joined with commas ("ML lead, compliance officer"); ``empty`` when there is none."""
    listed = [role_words(r) for r in names or []]
    return ", ".join(listed) if listed else empty


def status(value: str | None) -> str:
    """A request's status in words ("changes requested", not ``changes_requested``)."""
    return str(value or "—").replace("_", " ")


def stage(value: str | None) -> str:
    """A stage name in words ("registered", "staging", "production"...)."""
    return str(value or "registered").replace("_", " ")


def user_status(user: dict[str, Any]) -> str:
    """An account's state: "active", "awaiting enrolment" or "deactivated <when>" (see ``Countersign.users``: a
    deactivated account has ``active`` false and ``deactivated`` holding when, by whom and why)."""
    if not user.get("active", True):
        gone = user.get("deactivated") or {}
        return f"deactivated {when(gone['ts'])}" if gone.get("ts") else "deactivated"
    return "active" if user.get("enrolled") else "awaiting enrolment"


def waiver_state(waiver: dict[str, Any]) -> str:
    """Whether a waiver is in force: "yes", "no (revoked <when> by NAME)" or "no (expired)"."""
    if waiver.get("revoked_at"):
        by = f" by {waiver['revoked_by']}" if waiver.get("revoked_by") else ""
        return f"no (revoked {when(waiver['revoked_at'])}{by})"
    return "yes" if waiver.get("active") else "no (expired)"


def csv_dialect(csv: dict[str, Any]) -> str:
    """How a CSV file was read, in words: "delimiter space, no header line, columns checking, duration"."""
    parts = []
    for key, value in csv.items():
        if key == "delimiter" and value is not None:
            parts.append(f"delimiter {_DELIMITERS.get(value, f'“{value}”')}")
        elif key == "header" and value is not None:
            parts.append("a header line" if value else "no header line")
        elif key == "columns" and value:
            parts.append(f"columns {human(list(value))}")
        elif value is not None:
            parts.append(f"{key.replace('_', ' ')} {human(value)}")
    return ", ".join(parts) or "DuckDB's guesses"


# ------------------------------------------------------------------------------------------- evaluations
def check_line(check: dict[str, Any]) -> str:
    """One check of an evaluation on one line: a mark (PASS, FAIL, WARN), its id, and the sentence the app and the
    report use (:func:`core.evaluation.explanations.check_sentence`: "ROC AUC 0.9417 — must be at least 0.8000:
    passes"), plus what the sentence leaves out (the reason a value is what it is, rows dropped, drifted columns)."""
    mark = "PASS" if check.get("passed") else ("FAIL" if check.get("severity", "block") == "block" else "WARN")
    details = check.get("details") if isinstance(check.get("details"), dict) else {}
    extra = ""
    reason = details.get("reason")
    if reason and check.get("value") is not None:  # check_sentence names the reason of an undefined value itself
        extra += f" ({reason})"
    used = details.get("data")
    if isinstance(used, dict) and used.get("dropped"):
        extra += f" (dropped {number(used['dropped'])} of {number(used.get('rows'))} rows with missing values)"
    if check.get("kind") == "drift" and details.get("drifted_columns"):
        extra += f"; drifted: {human(list(details['drifted_columns']))}"
    return f"  {mark:4}  {check.get('id')}: {check_sentence(check)}{extra}"


def evaluation_lines(result: dict[str, Any]) -> list[str]:
    """An evaluation as a person reads it: what was evaluated on what under which policy, each check in words, and
    the verdict (naming the blocking checks that failed)."""
    policy = result["policy"]
    lines = [f"Evaluation {result['id']}: {result['model']['ref']} on {result['data']['ref']} "
             f"({number(result['data']['rows'])} rows) under {policy['name']}@{policy['version']} "
             f"(sha256 {policy['sha256'][:12]}…)"]
    loading = result["model"].get("pickle_loading")
    if loading:
        trusted = ", ".join(f"{t['name']} (seq {t['seq']})" for t in loading.get("trusted_by") or []) or "nobody"
        lines.append(f"  Loaded a {loading['format']} artifact, which runs code, in an isolated process for "
                     f"{loading['loaded_by']}; trusted by {trusted}")
    lines += [check_line(check) for check in result["checks"]]
    failed = result.get("failed_block_checks") or []
    warned = result.get("failed_warn_checks") or []
    lines.append(f"Verdict: {str(result['verdict']).upper()}"
                 + (f" (blocking: {human(list(failed))})" if failed else "")
                 + (f" (warnings: {human(list(warned))})" if warned else ""))
    return lines


# ------------------------------------------------------------------------------------------- review
def _who(name: str | None, role: str | None) -> str:
    return f"{name or 'someone'} ({role_words(role)})" if role else (name or "someone")


def review_lines(review: dict[str, Any]) -> list[str]:
    """A promotion request's review context (``Countersign.review``) as a person reads it: what moves where and the
    model's stage now (with a suspension and its reason), the evidence, its age and whether it still holds, the
    comparison with the version in production (each check: rule, candidate, production), who approved and which
    roles remain (with who may fill them), and the thread, every time to the second in UTC."""
    request = review.get("request") or {}
    model = review.get("model") or f"{request.get('model_name')}@{request.get('model_version')}"
    path = review.get("stage_path") or [request.get("from_stage"), request.get("target_stage")]
    lines = [f"Request {request.get('id')}: {model} from {stage(path[0])} to {stage(path[-1])}, "
             f"{review.get('status_words') or status(review.get('status'))}",
             f"  Requested by {request.get('requested_by')} at {when(request.get('requested_at'))}: "
             f"{request.get('reason') or '(no reason given)'}"]
    if request.get("policy_name"):
        lines.append(f"  Under policy {request['policy_name']}@{request.get('policy_version')}; needs "
                     f"{roles(request.get('required_roles'), 'no approval')}")
    waivers = request.get("waivers") or []
    if waivers:
        lines.append("  Rests on waivers: " + ", ".join(
            f"{w.get('id')} ({w.get('check')}, until {w.get('until')})" if isinstance(w, dict) else str(w)
            for w in waivers))
    if review.get("supersedes"):
        lines.append(f"  Supersedes request {review['supersedes']}")
    if review.get("superseded_by"):
        lines.append(f"  Superseded by request {review['superseded_by']}")

    now = review.get("stage_now") or "registered"
    lines.append(f"Stage now: {model} {STAGE_WORDS.get(now, 'is ' + stage(now))}")
    suspension = review.get("suspension")
    if suspension:
        lines.append(f"  Suspended at {when(suspension.get('at'))} by "
                     f"{_who(suspension.get('by'), suspension.get('role'))}: "
                     f"{suspension.get('reason') or 'no reason recorded'}")

    lines += _evidence_lines(review.get("evidence") or {})
    lines += _comparison_lines(review)
    lines += _approval_lines(review.get("approvals") or {})
    lines += _thread_lines(review.get("thread") or [], request.get("id"))
    return lines


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    if not evidence.get("evaluation_id"):
        return ["Evidence: none recorded"]
    passed = evidence.get("passed")
    verdict = "—" if passed is None else ("passed" if passed else "failed")
    by = f" by {evidence['evaluated_by']}" if evidence.get("evaluated_by") else ""
    on = f" on {evidence['dataset']}" if evidence.get("dataset") else ""
    lines = [f"Evidence: evaluation {evidence['evaluation_id']}{on}{by}, at {when(evidence.get('evaluated_at'))} "
             f"({evidence.get('age_words') or 'age unknown'}): {verdict}"]
    stale = evidence.get("stale") or []
    if stale:
        lines.append("  Still holds: no; the gate, run again now, finds:")
        lines += [f"    - {reason}" for reason in stale]
    else:
        lines.append("  Still holds: yes (the gate, run again now, finds nothing changed)")
    return lines


def _comparison_lines(review: dict[str, Any]) -> list[str]:
    production = review.get("production")
    comparison = review.get("comparison") or {}
    checks = comparison.get("checks") or []
    if production:
        evaluated = (f"evaluation {production['evaluation_id']} at {when(production.get('evaluated_at'))}"
                     if production.get("evaluation_id") else "no evaluation")
        lines = [f"Compared with production: {production.get('ref')} (in production since "
                 f"{when(production.get('since'))}; {evaluated})"]
    else:
        lines = ["Compared with production: no other version of this model is in production"]
    for row in checks:
        candidate = str(row.get("candidate"))
        if row.get("candidate_verdict") not in (None, "", "—"):
            candidate += f": {row['candidate_verdict']}"
        severity = "" if row.get("severity") in (None, "block") else ", warning only"
        line = f"  - {row.get('check')} ({row.get('metric')}{severity}) {row.get('rule')}; candidate {candidate}"
        if production:
            other = str(row.get("production"))
            if row.get("production_verdict") not in (None, "", "—"):
                other += f": {row['production_verdict']}"
            change = row.get("change")
            line += f"; production {other}" + ("" if change is None else f"; change {change:+.4f}")
        lines.append(line)
    if production:
        artifact = comparison.get("artifact") or {}
        lines.append("  Artifact: " + ("the same as production's" if artifact.get("same") else
                                      "differs from production's"))
        card = comparison.get("card") or {}
        revisions = (f"candidate revision {human(card.get('candidate_revision'))}, production revision "
                     f"{human(card.get('production_revision'))}")
        if card.get("same"):
            lines.append(f"  Model card: the same text as production's ({revisions})")
        else:
            diff = card.get("diff") or []
            lines.append(f"  Model card: differs from production's ({revisions})" + (":" if diff else ""))
            lines += [f"    {line}" for line in diff]
    return lines


def _approval_lines(approvals: dict[str, Any]) -> list[str]:
    lines = [f"Approvals: needs {roles(approvals.get('required'), 'no approval')}"]
    for a in approvals.get("standing") or []:
        lines.append(f"  - approved by {_who(a.get('approver'), a.get('role'))} at {when(a.get('at'))}")
    for a in approvals.get("lapsed") or []:
        lines.append(f"  - no longer counts: {_who(a.get('approver'), a.get('role'))}, approved at "
                     f"{when(a.get('at'))}")
    open_roles = approvals.get("open_roles") or []
    who = approvals.get("who_may_decide") or {}
    if not open_roles:
        lines.append("  Still needed: nobody (no required role remains open)")
    for role in open_roles:
        names = who.get(role) or []
        lines.append(f"  Still needed: {role_words(role)}, "
                     + (f"who may decide: {human(list(names))}" if names else "nobody eligible yet"))
    return lines


def _thread_lines(thread: list[dict[str, Any]], request_id: str | None) -> list[str]:
    if not thread:
        return ["Thread: empty"]
    lines = ["Thread:"]
    for entry in thread:
        kind = entry.get("kind_words") or _KIND_WORDS.get(entry.get("kind") or "", status(entry.get("kind")))
        comment = entry.get("comment")
        lines.append(f"  {when(entry.get('at'))}  {_who(entry.get('author'), entry.get('role'))} {kind}"
                     + (f": {comment}" if comment else "")
                     + (f" (on request {entry['request_id']})" if entry.get("request_id") not in (None, request_id)
                        else ""))
    return lines
