"""AppTest of the tester's findings on the demo (each a kind of defect, checked on every page it concerns):

1. every page with an object selector reads its URL parameter, says when the object is unknown, and writes the
   current selection back to the URL;
2. sign-in after an idle timeout returns to the full URL asked for (page and parameters);
3. lineage keeps ``?node=`` in step and names an unknown node, escaped;
4. the waiver form's date is bounded by tomorrow and the policy's cap, says the cap, and empties after a grant;
6. no command-line flag in a web error; 7. the audit log says who signed; 8. the inventory says why a row needs
attention; 9. ``/inventory`` is the inventory's URL; 10. an unknown policy is named; 11. the sign-in notice says
why (expired, invalid, deactivated) and goes once the user tries again; 12. roles and the inbox in words;
13. a page past the end of the audit log says so; 14. the ROC chart's axis titles; 15. evaluate hints.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app import charts, hints, links
from core.api.countersign import Countersign
from core.identity.users import Session
from tests.app.conftest import APP, OpenApp
from tests.app.test_approvals_page import reinstatement_request
from tests.app.test_audit_log_page import _waivers
from tests.app.test_session import _sign_in


def _page(at: AppTest, page: str, **params: str) -> AppTest:
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(f"app_pages/{page}")
    return at.run()


def _qp(at: AppTest, name: str) -> str | None:
    value = at.query_params.get(name)
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning] + \
        [i.value for i in at.info] + [e.value for e in at.error] + [s.value for s in at.success]
    return "\n".join(parts)


def _shown(markdown: str) -> str:
    """Markdown source as read on screen (the app escapes every punctuation character of user text)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def _warnings(at: AppTest) -> list[str]:
    return [_shown(w.value) for w in at.warning]


def _signed_out(at: AppTest) -> bool:
    return [t.label for t in at.text_input] == ["Username", "Password"]


# ------------------------------------------------------------------------------------------- 1, 3, 10: URL objects
def test_reports_reads_and_writes_its_model_parameter(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "aude"), "reports.py", model="german-credit-scorer@2")
    assert not at.exception
    assert at.selectbox(key="rep_model").value == "german-credit-scorer@2"
    assert at.radio(key="rep_scope").value == "german-credit-scorer@2"  # what the export would cover
    at.selectbox(key="rep_model").set_value("adult-income@1")
    at = at.run()
    assert _qp(at, "model") == "adult-income@1"  # the address bar follows the select box
    assert at.selectbox(key="rep_model").value == "adult-income@1"


def test_reports_names_an_unknown_model(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "aude"), "reports.py", model="nope@1")
    assert not at.exception
    assert any("There is no model version nope@1" in w for w in _warnings(at)), _warnings(at)
    assert _qp(at, "model") == at.selectbox(key="rep_model").value


def test_an_export_made_for_one_model_is_not_offered_for_another(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "aude"), "reports.py", model="german-credit-scorer@2")
    at.session_state["rep_zip"] = ("x.zip", b"zip", 1, 1, "german-credit-scorer@2")
    at = at.run()
    assert any("german-credit-scorer@2" in _shown(s.value) for s in at.success)
    at.selectbox(key="rep_model").set_value("adult-income@1")
    at = at.run()
    assert not at.success and "rep_zip" not in at.session_state


def test_lineage_writes_the_focus_back_to_the_url(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "chloe"), "lineage.py", node="model:adult-income@2")
    assert at.selectbox(key="lineage_focus").value == "model:adult-income@2"
    at.selectbox(key="lineage_focus").set_value("dataset:german-credit@1")
    at = at.run()
    assert not at.exception
    assert _qp(at, "node") == "dataset:german-credit@1"
    at = at.run()  # a rerun (as a reload would) keeps the user's focus
    assert at.selectbox(key="lineage_focus").value == "dataset:german-credit@1"


@pytest.mark.parametrize("node", ["model:nope@1", "garbage", "dataset:\x1b[2J"])
def test_lineage_names_an_unknown_node_escaped(open_app: OpenApp, shared_demo: Path, node: str) -> None:
    at = _page(open_app(shared_demo, "chloe"), "lineage.py", node=node)
    assert not at.exception
    [warning] = [w for w in _warnings(at) if "There is no lineage node" in w]
    assert "\x1b" not in warning
    if node.startswith("dataset:\x1b"):
        assert "\\\\x1b" in warning or "\\x1b" in warning  # the control character shown, not acted on
    assert _qp(at, "node") == at.selectbox(key="lineage_focus").value


def test_policies_names_an_unknown_policy_and_keeps_a_version(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "chloe"), "policies.py", policy="nope")
    assert not at.exception
    assert any("There is no policy nope" in w for w in _warnings(at)), _warnings(at)
    at = _page(open_app(shared_demo, "chloe"), "policies.py", policy="credit-scoring")
    assert at.selectbox(key="pol_choice").value.startswith("credit-scoring@")
    assert not any("There is no policy" in w for w in _warnings(at))
    assert _qp(at, "policy") == "credit-scoring"


def test_model_card_names_an_unknown_evaluation(open_app: OpenApp, shared_demo: Path) -> None:
    at = open_app(shared_demo, "chloe")
    at.query_params["model"] = "adult-income@1"
    at.query_params["evaluation"] = "ev-nope"
    at = _page(at, "model_card.py")
    assert not at.exception
    assert any("There is no evaluation ev" in w and "adult-income@1" in w for w in _warnings(at)), _warnings(at)


# ------------------------------------------------------------------------------------------- 2: sign-in after expiry
@pytest.mark.parametrize(("page", "params", "key", "expected"), [
    ("audit_log.py", {"seq": "27"}, "audit_seq_input", "27"),
    ("model_card.py", {"model": "german-credit-scorer@2"}, "card_ref", "german-credit-scorer@2"),
    ("reports.py", {"model": "german-credit-scorer@2"}, "rep_model", "german-credit-scorer@2"),
    ("lineage.py", {"node": "dataset:german-credit@1"}, "lineage_focus", "dataset:german-credit@1"),
])
def test_sign_in_after_an_idle_timeout_returns_to_the_full_url(open_app: OpenApp, shared_demo: Path, page: str,
                                                               params: dict[str, str], key: str,
                                                               expected: str) -> None:
    user = "chloe" if page != "reports.py" else "aude"
    at = _page(open_app(shared_demo, user), page, **params)
    assert at.session_state[key] == expected
    at.session_state["auth_last_seen"] = time.time() - 10 * 3600  # idle for longer than the timeout
    at = at.run()  # the next click finds the session expired
    assert _signed_out(at)
    assert any("expired" in i.value for i in at.info)
    at = _sign_in(at, user)
    assert not at.exception
    assert not _signed_out(at)
    assert at.session_state[key] == expected
    name, value = next(iter(params.items()))
    assert _qp(at, name) == value


# ------------------------------------------------------------------------------------------- 4: waiver date
def test_the_waiver_date_is_bounded_by_the_policy_cap_and_the_form_empties(open_app: OpenApp,
                                                                             demo_db: Path) -> None:
    at = _waivers(open_app, demo_db)
    inventory = Countersign(demo_db).inventory(at.session_state["auth_session"])
    governed = next(r for r in inventory if r.get("policy") == "default")
    at.selectbox(key="pol_w_model").set_value(f"{governed['name']}@{governed['version']}")
    at = at.run()
    today = datetime.now(UTC).date()
    field = at.date_input(key="pol_w_until")
    assert field.proto.min == (today + timedelta(days=1)).isoformat()
    assert field.proto.max == (today + timedelta(days=90)).isoformat()  # the default policy's max_waiver_days
    assert any("caps waivers at 90 days" in _shown(c.value) for c in at.caption), [c.value for c in at.caption]

    chosen = today + timedelta(days=45)
    field.set_value(chosen)
    at.selectbox(key="pol_w_check").set_value(at.selectbox(key="pol_w_check").options[0])
    at.text_area(key="pol_w_just").input("Mitigated by a manual review of each decision.")
    at = at.run()
    assert any(f"sets its last day to {chosen.isoformat()}" in _shown(c.value).replace("*", "")
               for c in at.caption)  # what is shown is what is sent
    at.button(key="pol_w_grant").click()
    at = at.run()
    assert not at.error, [e.value for e in at.error]
    assert any(f"until {chosen.isoformat()}" in _shown(s.value) for s in at.success), [s.value for s in at.success]
    # the form is empty again: no model, no check, no justification, the default date
    assert at.selectbox(key="pol_w_model").value is None
    assert at.selectbox(key="pol_w_check").value is None
    assert at.text_area(key="pol_w_just").value == ""
    assert at.date_input(key="pol_w_until").value == today + timedelta(days=30)


# ------------------------------------------------------------------------------------------- 5 is a browser test
def test_the_comparison_with_production_is_a_wrapping_table(open_app: OpenApp, demo_db: Path,
                                                            demo_sessions: dict[str, Session]) -> None:
    opened = reinstatement_request(demo_db, demo_sessions)
    at = _page(open_app(demo_db, "chloe"), "approvals.py", request=opened["request_id"])
    assert not at.exception
    frame = at.table[0].value
    assert list(frame.columns) == ["Check", "Rule", "Candidate", "Production v1", "Change"]


# ------------------------------------------------------------------------------------------- 6: web wording
def test_adding_a_user_without_a_role_says_so_without_cli_flags(open_app: OpenApp, demo_db: Path) -> None:
    at = _page(open_app(demo_db, "ada"), "users.py")
    at.text_input(key="users_name").input("newbie")
    next(b for b in at.get("form_submit_button") if b.label == "Add user").click()
    at = at.run()
    [message] = [e.value for e in at.error]
    assert "at least one role" in message and "--" not in message and "Roles" in message


def test_web_words_removes_every_flag() -> None:
    from app.text import web_words

    assert web_words("a user needs at least one role (--role)") == \
        "A user needs at least one role: choose one or more under Roles"
    assert "--" not in web_words("model m has no governing policy (model register --policy, or policy assign)")
    assert web_words("which column is the label? pass --label (columns: a, b)").startswith(
        "Which column is the label? name the label column (columns: a, b)")
    assert web_words("use --trust-pickle") == "Use the trust pickle option"


# ------------------------------------------------------------------------------------------- 7: who signed
def test_the_audit_log_says_who_signed_each_entry(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "aude"), "audit_log.py")
    at.number_input(key="audit_page").set_value(2)
    at = at.run()
    frame = at.dataframe[0].value
    enrolled = frame[frame["action"] == "user.enrolled"]
    assert not enrolled.empty and set(enrolled["role"]) == {"—"}  # a user's own act, not the service's
    seq = str(int(enrolled["entry"].iloc[0]))
    at.text_input(key="audit_seq_input").input(seq)
    at = at.run()
    fields = {r["Field"]: r["Value"] for r in at.dataframe[-1].value.to_dict("records")}
    actor = fields["Actor"]
    assert fields["Signed by"] == f"{actor}'s own key"
    assert "service" not in fields["Acting role"]
    at.text_input(key="audit_seq_input").input("0")  # the service's own entry
    at = at.run()
    fields = {r["Field"]: r["Value"] for r in at.dataframe[-1].value.to_dict("records")}
    assert fields["Signed by"].startswith("the service key")


# ------------------------------------------------------------------------------------------- 8, 9: inventory
def test_the_inventory_says_why_a_row_needs_attention(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "chloe"), "inventory.py")
    frame = at.dataframe[0].value
    rows = {f"{r['name']}@{r['version']}": r for r in frame.to_dict("records")}
    assert rows["german-credit-scorer@2"]["attention"].startswith("suspended")
    assert "failing, no waiver" in rows["adult-income@1"]["attention"]
    at.toggle(key="inv_flagged").set_value(True)
    at = at.run()
    flagged = at.dataframe[0].value
    assert (flagged["attention"] != "—").all() | (flagged["pending_requests"] > 0).all()
    assert "german-credit-scorer@2" in {f"{r['name']}@{r['version']}" for r in flagged.to_dict("records")}


def test_inventory_has_its_own_url_and_the_landing_page_opens_it(open_app: OpenApp, shared_demo: Path) -> None:
    assert links.url("inventory") == "./inventory"
    at = open_app(shared_demo, "chloe")  # "/"
    assert not at.exception
    assert at.title[0].value == "Model inventory"


# ------------------------------------------------------------------------------------------- 11: sign-in notices
@pytest.fixture
def cookie(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    from app import session

    jar: dict[str, str | None] = {"value": None}
    monkeypatch.setattr(session, "_cookie", lambda: jar["value"])
    return jar


def _fresh(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    from app import session

    monkeypatch.setenv("COUNTERSIGN_DB", str(db))
    session.service.clear()
    return AppTest.from_file(APP, default_timeout=90).run()


def test_a_garbage_cookie_is_called_invalid_not_expired(cookie: dict[str, Any], shared_demo: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cookie["value"] = "garbage"
    at = _fresh(shared_demo, monkeypatch)
    notices = [i.value for i in at.info]
    assert any("not valid" in n for n in notices) and not any("expired" in n for n in notices), notices


def test_a_deactivated_user_is_told_so_and_the_notice_goes_on_the_next_try(open_app: OpenApp, demo_db: Path,
                                                                          cookie: dict[str, Any]) -> None:
    from app import session

    at = _sign_in(open_app(demo_db), "lee")
    assert not _signed_out(at)
    session.end_sessions_of("lee")  # what the Users page does when an administrator deactivates lee
    at = at.run()
    assert _signed_out(at)
    notices = [i.value for i in at.info]
    assert any("deactivated" in n for n in notices) and not any("expired" in n for n in notices), notices
    inputs = {t.label: t for t in at.text_input}
    inputs["Username"].input("lee")
    inputs["Password"].input("wrong password")
    next(b for b in at.button if b.label == "Sign in").click()
    at = at.run()
    assert at.error and not [i.value for i in at.info]  # the stale notice is gone; only the new error shows


# ------------------------------------------------------------------------------------------- 12: wording
def test_roles_and_the_inbox_in_words(open_app: OpenApp, demo_db: Path, demo_sessions: dict[str, Session]) -> None:
    at = open_app(demo_db, "lee")
    assert "ML lead" in at.sidebar.markdown[0].value
    at = _page(open_app(demo_db, "lee"), "reports.py")  # forbidden for an ML lead
    assert "ML lead" in at.warning[0].value and "ml lead" not in at.warning[0].value
    cs = Countersign(demo_db)
    pending = next(r for r in cs.requests(demo_sessions["chloe"], pending=True) if r["awaiting_me"])
    cs.request_changes(demo_sessions["chloe"], pending["id"], comment="Add the monitoring plan.")
    at = open_app(demo_db, "dana")
    captions = [c.value for c in at.sidebar.caption]
    assert any("1 request for changes awaits your answer" in c for c in captions), captions
    assert not any("decision" in c for c in captions)


# ------------------------------------------------------------------------------------------- 13: paging
def test_a_page_past_the_end_of_the_audit_log_says_so(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "aude"), "audit_log.py")
    at.number_input(key="audit_page").set_value(999999)
    at = at.run()
    total = len(Countersign(shared_demo).log(at.session_state["auth_session"], limit=100_000))
    pages = -(-total // 50)
    notes = [i.value for i in at.info]
    assert any(f"Page 999,999 is past the end: the ledger has {total:,} entries, {pages} pages" in n
               for n in notes), notes
    assert not any("No entries match" in n for n in notes)
    next(b for b in at.button if b.label.startswith("Go to the last page")).click()
    at = at.run()
    assert at.dataframe and at.number_input(key="audit_page").value > 1


# ------------------------------------------------------------------------------------------- 14: ROC chart
def test_the_roc_axes_have_plain_titles() -> None:
    chart = charts.roc_chart([{"false-positive rate": 0.1, "true-positive rate": 0.6, "threshold": 0.5}], "t", "d")
    layers = chart.to_dict()["layer"]
    assert {layer["encoding"]["x"]["title"] for layer in layers} == {"False-positive rate"}
    assert {layer["encoding"]["y"]["title"] for layer in layers} == {"True-positive rate"}


# ------------------------------------------------------------------------------------------- 15: command hints
def test_evaluate_hints_name_the_label_and_only_the_user_who_may_run_them(open_app: OpenApp, shared_demo: Path,
                                                                          demo_sessions: dict[str, Session]) -> None:
    at = _page(open_app(shared_demo, "chloe"), "policies.py")
    [code] = [c.value for c in at.code if "countersign evaluate" in c.value]
    assert "--label COLUMN" in code and "--as chloe" not in code and "--as USER" in code
    assert any("data scientist or an ML lead runs it" in m.value for m in at.markdown)
    lee = demo_sessions["lee"]
    assert hints.evaluate_command(lee).endswith("--as lee")
    cs = Countersign(shared_demo)
    last = hints.last_evaluation(cs, lee, "german-credit-scorer@2")
    command = hints.evaluate_command(lee, model="german-credit-scorer@2", evaluation=last)
    assert "--label good_credit" in command and "--data german-credit@1" in command


def test_a_refusal_with_reasons_is_a_list_and_a_leading_user_name_keeps_its_case() -> None:
    from app.text import error_text, web_words
    from core.releases.promotions import GateRefused

    shown = error_text(GateRefused(["evaluation ev-1 is stale — evaluate again", "block check 'dp-sex' failed"]))
    assert "\\n" not in shown and shown.count("\n- ") == 2  # a Markdown list, not a visible "\n"
    assert shown.startswith("Promotion refused")
    assert web_words("ada may not grant a role to themselves").startswith("ada may not")  # not "Ada"
    assert web_words("a reason is required: say why") == "A reason is required: say why"
