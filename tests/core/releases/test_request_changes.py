"""Requesting changes: a state distinct from reject, a thread of comments, and the inbox.

A reviewer sends a pending request back to its requester (``changes_requested``); the requester answers and the
request returns to review — the same request when its evidence is unchanged, a new one that supersedes it when the
evidence changed (approvals given on the old evidence never carry over). Every step is one ledger entry; separation
of duties and the gate's re-check of current evidence hold throughout. Real models and data (the fixtures of
``test_releases``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.api.countersign import Countersign
from core.errors import BadInput, PermissionDenied, SeparationOfDuties
from core.identity.users import Session
from core.releases.promotions import AnswerRefused, GateRefused
from tests.core.releases.test_releases import (  # noqa: F401 - fixtures
    GERMAN_CARD,
    LABEL,
    World,
    _no_webhooks,
    approve_all,
    copy_db,
    head,
    ledger,
    stage,
    world,
)


@pytest.fixture
def cs(world: World, tmp_path: Path) -> Iterator[Countersign]:  # noqa: F811 - world is the imported fixture
    """A copy of the template database of ``test_releases``, kept open for the test."""
    service = copy_db(world.template, tmp_path / "ledger.duckdb")
    with service.store.held():
        yield service


@pytest.fixture
def s(world: World) -> dict[str, Session]:  # noqa: F811
    return world.s


ASK = "Please add the monitoring plan to the card."
ANSWER = "Monitoring plan added; nothing else changed."


def _to_production(cs: Countersign, s: dict[str, Session], ref: str = "scorer@1") -> dict[str, Any]:
    """``ref`` in staging, and a request to production approved by the ML lead, waiting for compliance."""
    approve_all(cs, cs.promote(s["dana"], ref, to="staging", reason="Candidate."), s["lee"])
    request = cs.promote(s["dana"], ref, to="production", reason="Ship it.")
    cs.approve(s["lee"], request["request_id"], comment="ML review done.")
    return request


def _status(cs: Countersign, s: dict[str, Session], request_id: str) -> str:
    return next(r["status"] for r in cs.requests(s["aude"]) if r["id"] == request_id)


def _kinds(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["kind"], i["request_id"]) for i in items]


def test_request_changes_then_answer_returns_the_request_to_review(cs: Countersign, s: dict[str, Session]) -> None:
    request = _to_production(cs, s)
    rid = request["request_id"]
    assert _kinds(cs.inbox(s["chloe"])) == [("decide", rid)]
    assert cs.inbox(s["dana"]) == []

    before = head(cs)
    sent = cs.request_changes(s["chloe"], rid, comment=ASK)
    assert (sent["status"], sent["role"], sent["requested_by"]) == ("changes_requested", "compliance_officer", "dana")
    [entry] = ledger(cs, before)
    assert (entry["action"], entry["actor"], entry["role"]) == ("promotion.changes_requested", "chloe",
                                                                "compliance_officer")
    assert entry["payload"]["comment"] == ASK and entry["payload"]["request_id"] == rid
    assert _status(cs, s, rid) == "changes_requested"
    # Not a rejection: still open, counted as open, not closed.
    [open_request] = [r for r in cs.requests(s["aude"], pending=True) if r["id"] == rid]
    assert open_request["closed_at"] is None and open_request["open_roles"] == ["compliance_officer"]

    # The requester's inbox has it, with who asked and what; the reviewer's no longer does.
    [item] = cs.inbox(s["dana"])
    assert (item["kind"], item["asked_by"], item["comment"]) == ("answer", "chloe", ASK)
    assert cs.inbox(s["chloe"]) == []

    # While it waits for the requester nobody approves it, and no second request opens beside it.
    before = head(cs)
    with pytest.raises(BadInput, match="awaits changes from its requester, dana"):
        cs.approve(s["chloe"], rid, comment="Approve anyway.")
    with pytest.raises(BadInput, match="awaits changes"):
        cs.promote(s["dana"], "scorer@1", to="production", reason="Again.")
    with pytest.raises(BadInput, match="already awaits changes"):
        cs.request_changes(s["bo"], rid, comment="Me too.")
    assert head(cs) == before

    answered = cs.answer(s["dana"], rid, comment=ANSWER)
    assert (answered["request_id"], answered["status"], answered["evidence"]) == (rid, "pending", "unchanged")
    [entry] = ledger(cs, before)
    assert (entry["action"], entry["actor"], entry["payload"]["comment"]) == ("promotion.changes_answered", "dana",
                                                                              ANSWER)
    assert entry["payload"]["evidence"] == "unchanged"
    assert _kinds(cs.inbox(s["chloe"])) == [("decide", rid)] and cs.inbox(s["dana"]) == []

    # The ML lead's approval was given on the same evidence: it stands, and one more approval promotes.
    done = cs.approve(s["chloe"], rid, comment="Plan read; approved.")
    assert done["status"] == "approved" and stage(cs, s["aude"], "scorer@1")["stage"] == "production"

    thread = cs.review(s["aude"], rid)["thread"]
    assert [(t["kind"], t["author"]) for t in thread] == [
        ("request", "dana"), ("approve", "lee"), ("changes_requested", "chloe"), ("answer", "dana"),
        ("approve", "chloe")]
    assert cs.verify().ok


def test_reject_still_closes_a_request_sent_back(cs: Countersign, s: dict[str, Session]) -> None:
    rid = _to_production(cs, s)["request_id"]
    cs.request_changes(s["chloe"], rid, comment=ASK)
    assert cs.reject(s["chloe"], rid, comment="No plan after all: rejected.")["status"] == "rejected"
    with pytest.raises(BadInput, match="rejected: only a request sent back for changes can be answered"):
        cs.answer(s["dana"], rid, comment=ANSWER)
    assert cs.inbox(s["dana"]) == []


@pytest.mark.parametrize(("who", "error", "words"), [
    ("dana", PermissionDenied, "may not"),  # a data scientist decides nothing
    ("lee", SeparationOfDuties, "has already decided"),
    ("aude", PermissionDenied, "may not"),
    ("max", SeparationOfDuties, "needs a review by compliance_officer"),  # an ML lead: that role is filled
])
def test_only_someone_who_could_decide_may_request_changes(cs: Countersign, s: dict[str, Session], who: str,
                                                           error: type[Exception], words: str) -> None:
    rid = _to_production(cs, s)["request_id"]
    before = head(cs)
    with pytest.raises(error, match=words):
        cs.request_changes(s[who], rid, comment=ASK)
    assert [e["action"] for e in ledger(cs, before)] == ["access.denied"]  # only the refusal is written
    assert _status(cs, s, rid) == "pending"


def test_the_requester_and_the_registrant_may_not_request_changes(cs: Countersign, s: dict[str, Session]) -> None:
    own = cs.promote(s["max"], "scorer@2", to="staging", reason="Max asks.")  # max holds ml_lead too
    with pytest.raises(SeparationOfDuties, match="max requested this promotion and may not review it"):
        cs.request_changes(s["max"], own["request_id"], comment="Change it.")
    request = cs.promote(s["dana"], "maxs@1", to="staging", reason="Max's model.")
    with pytest.raises(SeparationOfDuties, match="max registered maxs@1 and may not review"):
        cs.request_changes(s["max"], request["request_id"], comment="Change it.")
    assert _status(cs, s, request["request_id"]) == "pending"


def test_blank_comments_and_wrong_answerers_write_nothing(cs: Countersign, s: dict[str, Session]) -> None:
    rid = _to_production(cs, s)["request_id"]
    before = head(cs)
    for blank in ("", "  \n "):
        with pytest.raises(BadInput, match="a comment is required"):
            cs.request_changes(s["chloe"], rid, comment=blank)
        with pytest.raises(BadInput, match="cannot be empty"):
            cs.comment(s["chloe"], rid, comment=blank)
    with pytest.raises(BadInput, match="only a request sent back for changes"):
        cs.answer(s["dana"], rid, comment=ANSWER)
    assert head(cs) == before
    cs.request_changes(s["chloe"], rid, comment=ASK)
    before = head(cs)
    with pytest.raises(BadInput, match="a comment is required"):
        cs.answer(s["dana"], rid, comment=" ")
    with pytest.raises(BadInput, match="only dana, who opened request"):
        cs.answer(s["max"], rid, comment="I answer for dana.")
    assert head(cs) == before and _status(cs, s, rid) == "changes_requested"


def test_stale_evidence_is_still_refused_after_a_round_trip(cs: Countersign, s: dict[str, Session]) -> None:
    rid = _to_production(cs, s)["request_id"]
    cs.request_changes(s["chloe"], rid, comment=ASK)
    cs.answer(s["dana"], rid, comment=ANSWER)
    # The evidence changes after the answer: the approval is refused and the request invalidated, as ever.
    again = cs.evaluate(s["dana"], "scorer@1", data="german-flipped@1", policy="house", label=LABEL)
    assert again["passed"] is False
    before = head(cs)
    with pytest.raises(GateRefused, match=again["id"]):
        cs.approve(s["chloe"], rid, comment="Approve.")
    assert [e["action"] for e in ledger(cs, before)] == ["promotion.invalidated"]
    assert _status(cs, s, rid) == "invalidated"
    assert stage(cs, s["aude"], "scorer@1")["stage"] == "staging"


def test_an_answer_the_gate_refuses_writes_nothing(cs: Countersign, s: dict[str, Session], tmp_path: Path) -> None:
    rid = _to_production(cs, s)["request_id"]
    cs.request_changes(s["chloe"], rid, comment=ASK)
    card = tmp_path / "card.yaml"
    card.write_text(GERMAN_CARD.read_text(encoding="utf-8").replace(
        "limitations: ", "limitations: Monitored monthly for drift (monitoring plan). "), encoding="utf-8")
    cs.edit_card(s["dana"], "scorer@1", card)  # edited, not evaluated since
    before = head(cs)
    with pytest.raises(AnswerRefused, match="cannot return to review yet") as info:
        cs.answer(s["dana"], rid, comment=ANSWER)
    assert info.value.exit_code == 1 and any("evaluate again" in r for r in info.value.reasons)
    assert head(cs) == before and _status(cs, s, rid) == "changes_requested"


def test_an_answer_on_new_evidence_supersedes_the_request(cs: Countersign, s: dict[str, Session],
                                                          tmp_path: Path) -> None:
    rid = _to_production(cs, s)["request_id"]
    cs.comment(s["lee"], rid, comment="I approved the metrics; the card is chloe's call.")
    cs.request_changes(s["chloe"], rid, comment=ASK)
    card = tmp_path / "card.yaml"
    card.write_text(GERMAN_CARD.read_text(encoding="utf-8").replace(
        "limitations: ", "limitations: Monitored monthly for drift (monitoring plan). "), encoding="utf-8")
    cs.edit_card(s["dana"], "scorer@1", card)
    evaluation = cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=LABEL)
    before = head(cs)
    answered = cs.answer(s["dana"], rid, comment=ANSWER)
    new = answered["request_id"]
    assert new != rid and answered["supersedes"] == rid and answered["evidence"] == "changed"
    assert answered["approvals_voided"] == ["lee"]
    entries = ledger(cs, before)
    assert [e["action"] for e in entries] == ["promotion.changes_answered", "promotion.requested"]
    assert entries[0]["payload"]["approvals_voided"] == ["lee"]
    assert any(evaluation["id"] in c for c in entries[0]["payload"]["changes"])
    assert entries[1]["payload"]["supersedes"] == rid and entries[1]["payload"]["evaluation_id"] == evaluation["id"]
    assert _status(cs, s, rid) == "superseded" and _status(cs, s, new) == "pending"

    # Approvals on the old evidence do not carry: both roles decide again, the ML lead included.
    assert {i["request_id"] for i in cs.inbox(s["lee"])} == {new}
    assert cs.approve(s["chloe"], new, comment="Card and new evaluation read.")["status"] == "pending"
    assert cs.approve(s["lee"], new, comment="Re-approved on the new evaluation.")["status"] == "approved"
    assert stage(cs, s["aude"], "scorer@1")["stage"] == "production"

    review = cs.review(s["aude"], new)
    assert review["supersedes"] == rid and cs.review(s["aude"], rid)["superseded_by"] == new
    assert [(t["kind"], t["request_id"]) for t in review["thread"]] == [
        ("request", rid), ("approve", rid), ("comment", rid), ("changes_requested", rid), ("answer", rid),
        ("request", new), ("approve", new), ("approve", new)]
    assert cs.verify().ok


def test_comments_are_ledgered_and_limited_to_the_people_of_the_request(cs: Countersign,
                                                                        s: dict[str, Session]) -> None:
    rid = _to_production(cs, s)["request_id"]
    before = head(cs)
    cs.comment(s["dana"], rid, comment="Happy to answer questions.")
    cs.comment(s["chloe"], rid, comment="Reading the fairness section now.")
    entries = ledger(cs, before)
    assert [(e["action"], e["actor"], e["role"]) for e in entries] == [
        ("promotion.commented", "dana", "data_scientist"), ("promotion.commented", "chloe", "compliance_officer")]
    assert entries[0]["payload"] == {"request_id": rid, "model": "scorer@1", "comment": "Happy to answer questions."}
    before = head(cs)
    with pytest.raises(PermissionDenied):
        cs.comment(s["aude"], rid, comment="An auditor changes nothing.")
    assert [e["action"] for e in ledger(cs, before)] == ["access.denied"]
    cs.approve(s["chloe"], rid, comment="Approved.")
    with pytest.raises(BadInput, match="its thread is closed"):
        cs.comment(s["dana"], rid, comment="Thanks!")


def test_review_shows_who_must_still_decide_and_the_evidence(cs: Countersign, s: dict[str, Session]) -> None:
    rid = _to_production(cs, s)["request_id"]
    review = cs.review(s["chloe"], rid)
    assert review["stage_path"] == ["staging", "production"] and review["stage_now"] == "staging"
    approvals = review["approvals"]
    assert [a["approver"] for a in approvals["standing"]] == ["lee"]
    assert approvals["open_roles"] == ["compliance_officer"]
    assert approvals["who_may_decide"] == {"compliance_officer": ["bo", "chloe"]}
    assert review["evidence"]["evaluation_id"] == cs.requests(s["aude"], pending=True)[0]["evaluation_id"]
    assert review["evidence"]["age_words"] in ("less than an hour ago",) or "ago" in review["evidence"]["age_words"]
    assert review["evidence"]["stale"] == [] and review["suspension"] is None
    checks = {c["check"]: c for c in review["comparison"]["checks"]}
    assert checks["auc"]["rule"] == "must be at least 0.7000" and checks["auc"]["candidate_verdict"] == "passes"


def test_a_compliance_officer_answers_and_comments_on_her_own_reinstatement(
        cs: Countersign, s: dict[str, Session]) -> None:
    # The kind: whoever may open a request may answer and comment on it, whatever permission opened it.
    from tests.core.releases.test_releases import release

    release(cs, s, "scorer@1")
    cs.suspend(s["chloe"], "scorer@1", reason="Incident under review.")
    cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=LABEL)
    request = cs.reinstate(s["chloe"], "scorer@1", reason="Incident closed.")
    cs.request_changes(s["lee"], request["request_id"], comment=ASK)
    assert cs.comment(s["chloe"], request["request_id"], comment="Working on it.")["role"] == "compliance_officer"
    answered = cs.answer(s["chloe"], request["request_id"], comment=ANSWER)
    assert (answered["status"], answered["request_id"]) == ("pending", request["request_id"])
    assert [e["action"] for e in ledger(cs, head(cs) - 2)] == ["promotion.commented", "promotion.changes_answered"]


def test_a_thread_on_an_unknown_request_is_not_found_not_a_permission_refusal(
        cs: Countersign, s: dict[str, Session]) -> None:
    from core.errors import NotFound

    before = head(cs)
    for act in (cs.comment, cs.answer):
        with pytest.raises(NotFound, match="no promotion request pr-nope"):
            act(s["dana"], "pr-nope", comment="x")
    assert head(cs) == before  # no access.denied entry: nothing was refused, there is nothing


def test_who_must_still_decide_says_why_nobody_once_a_request_is_closed(
        cs: Countersign, s: dict[str, Session]) -> None:
    rid = _to_production(cs, s)["request_id"]
    assert cs.review(s["aude"], rid)["approvals"]["still_needed_words"] == "a compliance officer (bo, chloe)"
    cs.reject(s["chloe"], rid, comment="Not yet.")
    words = cs.review(s["aude"], rid)["approvals"]["still_needed_words"]
    assert words == "nobody: the request was rejected by chloe (compliance officer)"
    request = cs.promote(s["dana"], "scorer@1", to="production", reason="Again.")
    assert cs.review(s["aude"], request["request_id"])["approvals"]["still_needed_words"].startswith("an ML lead (")


def test_free_text_is_bounded_before_anything_is_written(cs: Countersign, s: dict[str, Session]) -> None:
    from core.inputs.limits import MAX_NOTE_CHARS

    rid = _to_production(cs, s)["request_id"]
    before = head(cs)
    long = "x" * (MAX_NOTE_CHARS + 1)
    for act in (lambda: cs.comment(s["dana"], rid, comment=long),
                lambda: cs.request_changes(s["chloe"], rid, comment=long),
                lambda: cs.approve(s["chloe"], rid, comment=long),
                lambda: cs.promote(s["dana"], "scorer@2", to="staging", reason=long),
                lambda: cs.suspend(s["chloe"], "scorer@1", reason=long)):
        with pytest.raises(BadInput, match="10,001 characters long; the limit is 10,000"):
            act()
    assert head(cs) == before
    assert cs.comment(s["dana"], rid, comment="y" * MAX_NOTE_CHARS)["request_id"] == rid
