"""The CLI's human-readable output says everything in words (tester's defects: raw values in evaluate, review, tables
and messages): operators in words ("at least 0.7000"), numbers to 4 decimals, lists joined with commas, roles as
"ML lead", statuses as "changes requested", yes/no for booleans, timestamps to the second in UTC, and a readable
review summary instead of JSON. ``--json`` stays exact JSON.

The commands run in real subprocesses on the releases template (real German credit models); the wording helpers of
:mod:`cli.words` are also checked directly on review contexts the template does not produce (a version in production
to compare with, a lapsed approval, stale evidence).
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli import words
from tests.cli.test_releases_cli import (
    as_,
    env as env,  # noqa: F401 - fixture
    template as template,  # noqa: F401 - fixture
)
from tests.conftest import run_cli
from tests.core.releases.test_releases import LABEL

ROOT = Path(__file__).resolve().parents[2]
LENIENT = ROOT / "tests" / "fixtures" / "policies" / "lenient.yaml"
#: what human-readable output must never show: Python/JSON literals, list brackets, operator ids, raw role and status
#: ids, JSON escapes and timestamps with microseconds
RAW = {
    "Python boolean": re.compile(r"\b(True|False)\b"),
    "None/null": re.compile(r"\b(None|null)\b"),
    "a list literal": re.compile(r"\["),
    "an operator id": re.compile(r"\b(gte|lte|gt|lt|eq)\b"),
    "a role id": re.compile(r"\b(ml_lead|compliance_officer|data_scientist)\b"),
    "a status id": re.compile(r"\bchanges_requested\b"),
    "a JSON escape": re.compile(r"\\u[0-9a-f]{4}"),
    "a microsecond timestamp": re.compile(r"\.\d{6}Z"),
    "an ISO timestamp": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d"),
}
SECOND_UTC = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
ROOT_USER = {"user": "root", "password": "root-password"}


def _words(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    """The command's standard output, having checked its exit code and that it holds no raw value."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for what, pattern in RAW.items():
        found = pattern.search(result.stdout)
        assert found is None, f"{what} in human output: {found.group()!r}\n{result.stdout}"
    return result.stdout


def _line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def test_evaluate_words_every_check_as_the_app_does(env: dict[str, str]) -> None:  # noqa: F811
    passed = _words(as_(env, "dana", "evaluate", "scorer@1", "--data", "german-credit@1", "--policy", str(LENIENT),
                        "--label", LABEL))
    assert "  PASS  auc: ROC AUC " in passed and " — must be at least 0.7000: passes" in passed
    assert "must be at most 0.3000" in passed  # the fairness rule (lte) in words
    card = _line(passed, "  PASS  card:")
    assert "required sections missing" in card and "intended use, limitations" in card  # the list in words
    warned = _line(passed, "  WARN  near-perfect-accuracy:")
    assert warned.endswith("must be at least 0.9900: fails (warning only)")
    assert re.search(r"Accuracy \d\.\d{4} ", warned)  # 4 decimals
    assert passed.splitlines()[-1] == "Verdict: PASS (warnings: near-perfect-accuracy)"

    failed = _words(as_(env, "dana", "evaluate", "risky@1", "--data", "german-credit@1", "--policy", "strict",
                        "--label", LABEL), code=1)
    assert "must be at least 0.9500: fails" in _line(failed, "  FAIL  auc-excellent:")
    assert failed.splitlines()[-1] == "Verdict: FAIL (blocking: auc-excellent)"

    as_json = json.loads(as_(env, "dana", "evaluate", "risky@1", "--data", "german-credit@1", "--policy", "strict",
                             "--label", LABEL, "--json").stdout)
    assert as_json["checks"][1]["operator"] == "gte" and as_json["passed"] is False  # --json unchanged

    listed = _words(as_(env, "aude", "evaluation", "list"))
    assert "EVALUATED_AT" in listed and SECOND_UTC.search(listed)
    shown = _words(as_(env, "aude", "evaluation", "show", as_json["id"]))
    assert SECOND_UTC.search(_line(shown, "Recorded by dana at "))


def test_review_round_trip_in_words(env: dict[str, str]) -> None:  # noqa: F811
    until = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    assert as_(env, "chloe", "waive", "risky@1", "--check", "auc-excellent", "--until", until,
               "--justification", "Pilot.").returncode == 0
    waivers = _words(as_(env, "chloe", "waiver", "list"))
    assert _line(waivers, "wv-").split()[4] == "yes"

    opened = as_(env, "dana", "promote", "scorer@1", "--to", "staging", "--reason", "Candidate.")
    request = re.search(r"Request (pr-\w+): scorer@1 → staging, awaiting ML lead$", _words(opened).strip())
    assert request, opened.stdout
    request_id = request.group(1)
    sent = _words(as_(env, "lee", "request-changes", request_id, "--comment", "Add the subgroup analysis."))
    assert sent.startswith("Changes requested as ML lead:")
    inbox = _words(as_(env, "dana", "inbox"))
    assert SECOND_UTC.search(_line(inbox, request_id))
    listed = _words(as_(env, "lee", "requests"))
    row = _line(listed, request_id)
    assert "changes requested" in row and row.rstrip().endswith(" no") and "ML lead" in row
    assert "lee (ML lead), chloe (compliance officer)" in listed  # live@1's approvers, roles in words
    assert _words(as_(env, "dana", "answer", request_id, "--comment", "Added to the card's caveats."))
    assert _line(_words(as_(env, "lee", "requests", "--pending")), request_id).rstrip().endswith(" yes")

    review = _words(as_(env, "lee", "review", request_id))
    assert not review.lstrip().startswith("{")
    assert review.startswith(f"Request {request_id}: scorer@1 from registered to staging, ")
    assert "Stage now: scorer@1 is registered (not promoted)" in review
    evidence = _line(review, "Evidence: evaluation ev-")
    assert SECOND_UTC.search(evidence) and evidence.endswith(": passed")
    assert "  Still holds: yes" in review
    assert "Compared with production: no other version of this model is in production" in review
    assert "  - auc (ROC AUC) must be at least 0.7000; candidate " in review
    assert "Approvals: needs ML lead" in review
    assert re.search(r"  Still needed: ML lead, who may decide: .*\blee\b", review)
    thread = review.split("Thread:\n", 1)[1].splitlines()
    assert [bool(SECOND_UTC.match(line.strip())) for line in thread] == [True] * 3
    assert thread[1].endswith("lee (ML lead) requested changes: Add the subgroup analysis.")
    assert thread[2].endswith("dana (data scientist) answered: Added to the card's caveats.")
    as_json = json.loads(as_(env, "lee", "review", request_id, "--json").stdout)
    assert [n["kind"] for n in as_json["thread"]] == ["request", "changes_requested", "answer"]  # unchanged JSON
    assert as_json["suspension"] is None and as_json["evidence"]["passed"] is True

    approved = _words(as_(env, "lee", "approve", request_id, "--comment", "Good."))
    assert approved.strip() == "Approved as ML lead: scorer@1 promoted to staging"
    production = json.loads(as_(env, "dana", "promote", "scorer@1", "--to", "production", "--reason", "Ship.",
                                "--json").stdout)["request_id"]
    partly = _words(as_(env, "lee", "approve", production, "--comment", "Fine."))
    assert partly.strip() == "Approved as ML lead; still awaiting compliance officer"
    rejected = _words(as_(env, "chloe", "reject", production, "--comment", "Not yet."))
    assert rejected.strip() == f"Rejected as compliance officer: request {production} closed"

    history = _words(as_(env, "aude", "history", "scorer"))
    assert re.search(r"  1: staging since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, requested by dana, approved by "
                     r"lee \(ML lead\)", history)
    assert re.search(r"seq \d+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  1: registered → staging  by lee \(ML lead\)  "
                     r"\(Candidate\.\)", history)


def test_review_of_a_suspended_version_names_the_suspension(env: dict[str, str]) -> None:  # noqa: F811
    assert as_(env, "chloe", "suspend", "live@1", "--reason", "Complaint review.").returncode == 0
    assert as_(env, "dana", "evaluate", "live@1", "--data", "german-credit@1", "--policy", "house",
               "--label", LABEL).returncode == 0  # reinstatement needs evidence made since the suspension
    opened = json.loads(as_(env, "dana", "reinstate", "live@1", "--reason", "Fixed.", "--json").stdout)
    review = _words(as_(env, "chloe", "review", opened["request_id"]))
    assert "from suspended to production" in review.splitlines()[0]
    assert "Stage now: live@1 is suspended" in review
    suspended = _line(review, "  Suspended at ")
    assert SECOND_UTC.search(suspended) and suspended.endswith("by chloe (compliance officer): Complaint review.")
    assert "Still needed: ML lead, who may decide:" in review
    assert "Still needed: compliance officer, who may decide:" in review


def test_users_in_words(env: dict[str, str]) -> None:  # noqa: F811
    added = _words(run_cli(env, "user", "add", "zed", "--role", "ml_lead", "--role", "compliance_officer",
                           **ROOT_USER))
    assert added.startswith("Added zed (compliance officer, ML lead), ledger seq ")
    assert re.search(r"Enrolment code \(works once, until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): \w+", added)
    assert run_cli(env, "user", "add", "yan", "--role", "auditor", **ROOT_USER).returncode == 0
    gone = _words(run_cli(env, "user", "deactivate", "yan", "--reason", "Left.", **ROOT_USER))
    assert gone.strip().endswith("roles removed: auditor")
    listing = _words(run_cli(env, "user", "list", **ROOT_USER))
    header = listing.splitlines()[0].split()
    assert "STATUS" in header and "ENROLLED" not in header
    assert re.search(r"^yan +no role +deactivated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC ", listing, re.M)
    assert re.search(r"^zed +compliance officer, ML lead +awaiting enrolment ", listing, re.M)
    assert re.search(r"^lee +ML lead +active ", listing, re.M)
    log = _words(run_cli(env, "log", "--limit", "3", **ROOT_USER))
    assert "administrator" in log and SECOND_UTC.search(log)


# ------------------------------------------------------------------------------------------- cli.words directly
def _check(**fields: object) -> dict[str, object]:
    return {"id": "auc", "kind": "metric", "metric": "roc_auc", "operator": "gte", "threshold": 0.8, "value": 0.9417,
            "passed": True, "severity": "block", "details": {}, **fields}


def _no_raw(lines: list[str]) -> str:
    text = "\n".join(lines)
    for what, pattern in RAW.items():
        found = pattern.search(text)
        assert found is None, f"{what}: {found.group()!r}\n{text}"
    return text


def test_check_lines_in_words() -> None:
    assert words.check_line(_check()) == "  PASS  auc: ROC AUC 0.9417 — must be at least 0.8000: passes"
    line = words.check_line(_check(id="eo", kind="fairness", metric="equalized_odds_difference", operator="lte",
                                   threshold=0.15, value=0.036, passed=True))
    assert line.endswith("Equalized odds difference 0.0360 — must be at most 0.1500: passes")
    docs = words.check_line(_check(id="doc", kind="documentation", metric="model_card", operator="requires",
                                   threshold=["model_details", "intended_use"], value=1, passed=False,
                                   details={"required": ["model_details", "intended_use"],
                                            "missing": ["intended_use"], "card_present": True}))
    assert docs.startswith("  FAIL  doc: Documentation: 1 of 2 required sections missing (intended use)")
    assert "(model details, intended use)" in docs and "[" not in docs
    undefined = words.check_line(_check(value=None, passed=False, severity="warn",
                                        details={"reason": "only one class in the labels"}))
    assert undefined.startswith("  WARN  auc: ROC AUC undefined") and "(only one class in the labels)" in undefined
    assert "None" not in undefined
    dropped = words.check_line(_check(details={"data": {"dropped": 3, "rows": 100}}))
    assert dropped.endswith("(dropped 3 of 100 rows with missing values)")


def test_small_words() -> None:
    assert words.roles(["compliance_officer", "ml_lead"]) == "compliance officer, ML lead"
    assert words.roles([]) == "no role" and words.roles([], "nobody") == "nobody"
    assert words.status("changes_requested") == "changes requested"
    assert words.user_status({"active": True, "enrolled": True}) == "active"
    assert words.user_status({"active": True, "enrolled": False}) == "awaiting enrolment"
    assert words.user_status({"active": False, "enrolled": False, "deactivated": {
        "ts": "2026-11-02T10:00:01.123456Z", "by": "root", "reason": "Left."}}) == \
        "deactivated 2026-11-02 10:00:01 UTC"
    assert words.waiver_state({"active": True, "revoked_at": None}) == "yes"
    assert words.waiver_state({"active": False, "revoked_at": None}) == "no (expired)"
    assert words.waiver_state({"active": False, "revoked_at": "2026-11-02T10:00:01.5Z", "revoked_by": "chloe"}) == \
        "no (revoked 2026-11-02 10:00:01 UTC by chloe)"
    assert words.csv_dialect({"delimiter": "\t", "header": True, "columns": ["a", "b"]}) == \
        "delimiter tab, a header line, columns a, b"


def _review(**fields: object) -> dict[str, object]:
    ts = "2026-11-02T10:00:01.123456Z"
    base: dict[str, object] = {
        "request": {"id": "pr-2", "model_name": "m", "model_version": "2", "from_stage": "staging",
                    "target_stage": "production", "reason": "Better recall.", "requested_by": "dana",
                    "requested_at": ts, "policy_name": "house", "policy_version": 3,
                    "required_roles": ["ml_lead", "compliance_officer"],
                    "waivers": [{"id": "wv-1", "check": "drift", "until": "2026-12-01"}], "status": "pending"},
        "model": "m@2", "status": "pending", "status_words": "awaiting decisions",
        "stage_path": ["staging", "production"], "stage_now": "staging", "suspension": None,
        "evidence": {"evaluation_id": "ev-1", "evaluated_at": ts, "age_words": "3 days ago", "passed": True,
                     "dataset": "d@1", "evaluated_by": "dana",
                     "stale": ["the latest evaluation is now ev-9; the request rests on ev-1"]},
        "production": {"version": "1", "ref": "m@1", "since": ts, "evaluation_id": "ev-0", "evaluated_at": ts},
        "comparison": {
            "checks": [{"check": "auc", "kind": "metric", "metric": "ROC AUC", "rule": "must be at least 0.8000",
                        "severity": "block", "candidate": "0.9417", "candidate_verdict": "passes",
                        "candidate_passed": True, "production": "0.9012", "production_verdict": "passes",
                        "production_passed": True, "change": 0.0405},
                       {"check": "old", "kind": "metric", "metric": "Accuracy", "rule": "must be at least 0.7000",
                        "severity": "warn", "candidate": "not checked", "candidate_verdict": "—",
                        "candidate_passed": None, "production": "0.8000", "production_verdict": "passes",
                        "production_passed": True, "change": None}],
            "artifact": {"candidate": "a" * 64, "production": "b" * 64, "same": False},
            "card": {"candidate_revision": 2, "production_revision": 1, "same": False,
                     "diff": ["--- m@1", "+++ m@2", "-old", "+new"]}},
        "approvals": {"required": ["ml_lead", "compliance_officer"],
                      "standing": [{"approver": "lee", "role": "ml_lead", "at": ts}],
                      "lapsed": [{"approver": "bo", "role": "compliance_officer", "at": ts}],
                      "open_roles": ["compliance_officer"], "who_may_decide": {"compliance_officer": []}},
        "thread": [{"seq": 5, "request_id": "pr-1", "author": "dana", "role": None, "kind": "request",
                    "comment": "First try.", "at": ts, "at_words": "x", "role_words": "", "kind_words": ""},
                   {"seq": 9, "request_id": "pr-2", "author": "lee", "role": "ml_lead", "kind": "approve",
                    "comment": "Good.", "at": ts}],
        "supersedes": "pr-1", "superseded_by": None, "viewer": "lee"}
    return {**base, **fields}


def test_review_lines_compare_with_production_and_say_what_remains() -> None:
    text = _no_raw(words.review_lines(_review()))
    lines = text.splitlines()
    assert lines[0] == "Request pr-2: m@2 from staging to production, awaiting decisions"
    assert "  Requested by dana at 2026-11-02 10:00:01 UTC: Better recall." in lines
    assert "  Under policy house@3; needs ML lead, compliance officer" in lines
    assert "  Rests on waivers: wv-1 (drift, until 2026-12-01)" in lines
    assert "  Supersedes request pr-1" in lines and "Stage now: m@2 is in staging" in lines
    assert "  Still holds: no; the gate, run again now, finds:" in lines
    assert "    - the latest evaluation is now ev-9; the request rests on ev-1" in lines
    assert lines[lines.index("  Still holds: no; the gate, run again now, finds:") - 1].endswith(
        "at 2026-11-02 10:00:01 UTC (3 days ago): passed")
    assert ("Compared with production: m@1 (in production since 2026-11-02 10:00:01 UTC; evaluation ev-0 at "
            "2026-11-02 10:00:01 UTC)") in lines
    assert ("  - auc (ROC AUC) must be at least 0.8000; candidate 0.9417: passes; production 0.9012: passes; "
            "change +0.0405") in lines
    assert ("  - old (Accuracy, warning only) must be at least 0.7000; candidate not checked; production 0.8000: "
            "passes") in lines
    assert "  Artifact: differs from production's" in lines
    assert "  Model card: differs from production's (candidate revision 2, production revision 1):" in lines
    assert "    +new" in lines
    assert "  - approved by lee (ML lead) at 2026-11-02 10:00:01 UTC" in lines
    assert "  - no longer counts: bo (compliance officer), approved at 2026-11-02 10:00:01 UTC" in lines
    assert "  Still needed: compliance officer, nobody eligible yet" in lines
    assert "  2026-11-02 10:00:01 UTC  dana requested the promotion: First try. (on request pr-1)" in lines
    assert "  2026-11-02 10:00:01 UTC  lee (ML lead) approved: Good." in lines


def test_review_lines_of_a_suspended_version_without_production() -> None:
    review = _review(production=None, stage_now="suspended", stage_path=["suspended", "production"],
                     suspension={"by": "chloe", "role": "compliance_officer", "at": "2026-11-03T08:00:00.000001Z",
                                 "reason": "Complaint.", "seq": 12},
                     approvals={"required": ["ml_lead"], "standing": [], "lapsed": [], "open_roles": [],
                                "who_may_decide": {}}, thread=[])
    review["evidence"] = {**review["evidence"], "stale": [], "passed": None}  # type: ignore[dict-item]
    lines = _no_raw(words.review_lines(review)).splitlines()
    assert "Stage now: m@2 is suspended" in lines
    assert "  Suspended at 2026-11-03 08:00:00 UTC by chloe (compliance officer): Complaint." in lines
    assert "Compared with production: no other version of this model is in production" in lines
    assert not any(line.startswith("  Artifact") for line in lines)
    assert "  Still holds: yes (the gate, run again now, finds nothing changed)" in lines
    assert "  Still needed: nobody (no required role remains open)" in lines and "Thread: empty" in lines
