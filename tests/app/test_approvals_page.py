"""AppTest of the Approvals page on the seeded demo database: one click approves (comment and decision in one form),
tables reflect each action at once, errors in the app's words, the request-changes round trip, the review context
(stage path, suspension, evidence age, comparison, who must still decide), and suspend/reinstate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from core.api.countersign import Countersign
from core.identity.users import Session
from tests.app.conftest import OpenApp

PAGE = "app_pages/approvals.py"
PENDING = "adult-income@2"


def _page(at: AppTest) -> AppTest:
    at.switch_page(PAGE)
    return at.run()


def _button(at: Any, label: str) -> Any:  # noqa: ANN401
    return next(b for b in at.button if b.label == label)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader]
    parts += [w.value for w in at.warning] + [e.value for e in at.error] + [s.value for s in at.success]
    parts += [i.value for i in at.info] + [t.value for t in at.text]
    return _shown("\n".join(str(p) for p in parts))


def _shown(markdown: str) -> str:
    """Markdown source as read on screen (the app escapes every punctuation character of user text)."""
    return markdown.replace("\\", "")


def _successes(at: AppTest) -> list[str]:
    return [_shown(s.value) for s in at.success]


def _stage(cs: Countersign, who: Session, ref: str) -> str:
    name, version = ref.split("@")
    return next(r["stage"] for r in cs.inventory(who) if (r["name"], r["version"]) == (name, version))


def _decide(at: AppTest, label: str, comment: str) -> AppTest:
    """Open the dialog with ``label`` and confirm it with ``comment``: ONE submit of the dialog's form."""
    _button(at, label).click()
    at = at.run()
    at.text_area(key="appr_comment").input(comment)
    at.button(key="appr_confirm").click()  # the comment travels with the click: no earlier run commits it
    return at.run()


def test_one_click_approves_and_the_tables_follow(open_app: OpenApp, demo_db: Path,
                                                  demo_sessions: dict[str, Session]) -> None:
    cs, chloe = Countersign(demo_db), demo_sessions["chloe"]
    at = _page(open_app(demo_db, "chloe"))
    assert at.subheader[0].value == "Awaiting my decision (1)"
    assert "My inbox (1)" in [s.value for s in at.subheader]
    before = len(cs.log(chloe, limit=100_000))
    at = _decide(at, "Approve", "Waiver and evidence reviewed; pilot scope confirmed.")
    assert not at.exception
    assert any("adult-income@2 is now in production" in s for s in _successes(at)), _successes(at)
    assert "appr_dialog" not in at.session_state
    assert _stage(cs, chloe, PENDING) == "production"
    entries = cs.log(chloe, limit=100_000)
    assert len(entries) == before + 2  # the approval and the stage change, nothing else
    assert entries[0]["action"] == "model.stage_changed" and entries[1]["action"] == "promotion.approved"
    # Fresh at once: the queue and the inbox are empty, the request has left "Open requests".
    headers = [s.value for s in at.subheader]
    assert "Awaiting my decision (0)" in headers and "My inbox (0)" in headers and "Open requests (0)" in headers
    assert not [b for b in at.button if b.label == "Approve"]


def test_a_blank_comment_is_refused_in_words_and_writes_nothing(open_app: OpenApp, demo_db: Path,
                                                                demo_sessions: dict[str, Session]) -> None:
    cs, chloe = Countersign(demo_db), demo_sessions["chloe"]
    at = _page(open_app(demo_db, "chloe"))
    size = len(cs.log(chloe, limit=100_000))
    at = _decide(at, "Approve", "   ")
    assert not at.exception
    assert any("Write a comment first" in e.value for e in at.error)
    assert len(cs.log(chloe, limit=100_000)) == size and _stage(cs, chloe, PENDING) == "staging"


def test_a_new_request_appears_at_once_and_errors_use_the_apps_words(open_app: OpenApp, demo_db: Path,
                                                                      demo_sessions: dict[str, Session]) -> None:
    at = _page(open_app(demo_db, "lee"))
    form = at.get("form")[-1]
    at.selectbox(key="appr_req_model").set_value("german-credit-scorer@2")
    at.radio(key="appr_req_target").set_value("production")
    at.text_input(key="appr_req_reason").input("  ")
    _button(form, "Request promotion").click()
    at = at.run()
    message = " ".join(e.value for e in at.error)
    assert "reason is required" in message and "--" not in message and "(--" not in message

    # A promotion the gate accepts (the suspended v2, evaluated again since its suspension) shows up at once.
    cs = Countersign(demo_db)
    cs.evaluate(demo_sessions["dana"], "german-credit-scorer@2", data="german-credit@1", policy="default",
                label="good_credit")
    at.text_input(key="appr_req_reason").input("Complaint review closed: no model fault.")
    _button(at.get("form")[-1], "Request promotion").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("opened" in s.value for s in at.success)
    table = at.dataframe[-1].value
    assert "german-credit-scorer@2" in set(table["Model"]) and "Open requests (2)" in [s.value for s in at.subheader]


def reinstatement_request(demo_db: Path, sessions: dict[str, Session]) -> dict[str, Any]:
    """The demo's suspended german-credit-scorer@2, evaluated again and asked back to production by dana."""
    cs = Countersign(demo_db)
    cs.evaluate(sessions["dana"], "german-credit-scorer@2", data="german-credit@1", policy="default",
                label="good_credit")
    return cs.reinstate(sessions["dana"], "german-credit-scorer@2", reason="Complaint review closed.")


def test_approvers_see_the_suspension_and_the_context(open_app: OpenApp, demo_db: Path,
                                                      demo_sessions: dict[str, Session]) -> None:
    opened = reinstatement_request(demo_db, demo_sessions)
    at = _page(open_app(demo_db, "chloe"))
    at.query_params["request"] = opened["request_id"]
    at = at.run()
    assert not at.exception
    text = _texts(at)
    suspended = [_shown(w.value) for w in at.warning if "Suspended" in w.value]
    assert suspended and "chloe" in suspended[0] and "Complaint review" in suspended[0], [w.value for w in at.warning]
    assert "suspended → production" in text  # the stage path
    assert "ago" in text and "Evidence:" in text  # the evidence and its age
    assert "Still to decide:" in text and "ML lead" in text and "compliance officer" in text
    frame = at.table[0].value  # a static table whose cells wrap (it fits 1400 px without scrolling sideways)
    assert {"Candidate", "Production v1", "Change", "Rule"} <= set(frame.columns)
    assert not any(str(v) in ("None", "nan", "True", "False") for v in frame.to_numpy().ravel())
    assert "the same artifact as production" not in text  # v2 and v1 are different artifacts


def test_request_changes_round_trip_in_the_app(open_app: OpenApp, demo_db: Path,
                                               demo_sessions: dict[str, Session]) -> None:
    cs = Countersign(demo_db)
    at = _page(open_app(demo_db, "chloe"))
    at = _decide(at, "Request changes", "Add the mitigation plan to the card.")
    assert not at.exception
    assert any("Sent back for changes" in s.value for s in at.success), [s.value for s in at.success]
    assert "My inbox (0)" in [s.value for s in at.subheader]
    request_id = cs.requests(demo_sessions["aude"], pending=True)[0]["id"]
    assert cs.requests(demo_sessions["aude"], pending=True)[0]["status"] == "changes_requested"

    dana = _page(open_app(demo_db, "dana"))
    assert "Sent back to me for changes (1)" in [s.value for s in dana.subheader]
    assert "My inbox (1)" in [s.value for s in dana.subheader]
    dana.text_area(key=f"appr_answer_text_{request_id}").input("Mitigation plan added as a waiver condition.")
    _button(dana, "Answer and return to review").click()
    dana = dana.run()
    assert not dana.exception
    assert any("back in review" in s.value for s in dana.success), [s.value for s in dana.success]
    assert "My inbox (0)" in [s.value for s in dana.subheader]

    at = _page(open_app(demo_db, "chloe"))
    assert at.subheader[0].value == "Awaiting my decision (1)"
    at = _decide(at, "Approve", "Answer read; approved.")
    assert _stage(cs, demo_sessions["chloe"], PENDING) == "production"
    thread = [e["kind"] for e in cs.review(demo_sessions["aude"], request_id)["thread"]]
    assert thread == ["request", "approve", "changes_requested", "answer", "approve"]


def test_comments_go_to_the_thread(open_app: OpenApp, demo_db: Path, demo_sessions: dict[str, Session]) -> None:
    cs = Countersign(demo_db)
    request_id = cs.requests(demo_sessions["aude"], pending=True)[0]["id"]
    at = _page(open_app(demo_db, "chloe"))
    at.text_area(key=f"appr_note_text_{request_id}").input("Is the pilot limited to one region?")
    _button(at, "Comment").click()
    at = at.run()
    assert not at.exception
    entry = cs.log(demo_sessions["aude"], limit=1)[0]
    assert (entry["action"], entry["actor"]) == ("promotion.commented", "chloe")
    assert entry["payload"]["comment"] == "Is the pilot limited to one region?"
    assert "Is the pilot limited to one region?" in [t.value for t in at.text]


def test_compliance_officer_suspends_and_asks_for_reinstatement(open_app: OpenApp, demo_db: Path,
                                                                demo_sessions: dict[str, Session]) -> None:
    cs, chloe = Countersign(demo_db), demo_sessions["chloe"]
    at = _page(open_app(demo_db, "chloe"))
    at.selectbox(key="appr_suspend_ref").set_value("german-credit-scorer@1")
    at.text_input(key="appr_suspend_reason").input("Data incident under review.")
    _button(at, "Suspend").click()
    at = at.run()
    assert not at.exception and any("is suspended" in s.value for s in at.success)
    assert _stage(cs, chloe, "german-credit-scorer@1") == "suspended"
    # Without an evaluation since the suspension the gate refuses, and says what to do.
    at.selectbox(key="appr_reinstate_ref").set_value("german-credit-scorer@1")
    at.text_input(key="appr_reinstate_reason").input("Incident closed.")
    _button(at, "Request reinstatement").click()
    at = at.run()
    assert any("evaluate again" in e.value for e in at.error), [e.value for e in at.error]
    cs.evaluate(demo_sessions["dana"], "german-credit-scorer@1", data="german-credit@1", policy="default",
                label="good_credit")
    _button(at, "Request reinstatement").click()
    at = at.run()
    assert not at.error, [e.value for e in at.error]
    assert any("to reinstate german-credit-scorer@1 is open" in s for s in _successes(at)), _successes(at)
    request = next(r for r in cs.requests(chloe, pending=True) if r["model_name"] == "german-credit-scorer")
    assert request["requested_by"] == "chloe" and not request["awaiting_me"]  # she may not decide her own
