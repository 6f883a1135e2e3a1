"""AppTest of the audit log page (issue 14): filters as a person types them, bad dates refused with a message (not
"No entries match"), hints that do not look like values, one entry opened whole with its permalink, times to the
second in UTC; and of the policies page's waivers: a granted waiver appears at once in the table and in the revoke
list, the end date defaults to a valid future date, and a revocation needs a reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.api.countersign import Countersign
from tests.app.conftest import OpenApp

PAGE = "app_pages/audit_log.py"


def _audit(open_app: OpenApp, db: Path, user: str = "aude", **state: object) -> AppTest:
    at = open_app(db, user)
    at.switch_page(PAGE)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _actions(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["action"]) if at.dataframe else []


@pytest.mark.parametrize(("key", "value"), [("audit_since", "yesterday"), ("audit_since", "2026-13-45"),
                                            ("audit_until", "yesterday"), ("audit_until", "2026-13-45")])
def test_a_bad_date_is_refused_with_a_message_not_no_match(open_app: OpenApp, shared_demo: Path, key: str,
                                                           value: str) -> None:
    at = _audit(open_app, shared_demo, **{key: value})
    assert not at.exception
    [message] = _errors(at)
    assert "is not a date or time" in message and "ISO 8601" in message
    assert "--" not in message  # no command-line wording in the app
    assert not [i.value for i in at.info if "No entries match" in i.value]


def test_action_finds_a_family_and_actor_ignores_case(open_app: OpenApp, shared_demo: Path) -> None:
    at = _audit(open_app, shared_demo, audit_action="promotion")
    actions = _actions(at)
    assert actions and all(a.startswith("promotion.") for a in actions)
    assert {"promotion.requested", "promotion.approved"} <= set(actions)
    at = _audit(open_app, shared_demo, audit_actor="DANA")
    actors = set(at.dataframe[0].value["actor"])
    assert actors == {"dana"}
    at = _audit(open_app, shared_demo, audit_action="promot")
    assert not _actions(at) and any("No entries match" in i.value for i in at.info)


def test_filters_show_hints_not_values_and_times_to_the_second(open_app: OpenApp, shared_demo: Path) -> None:
    at = _audit(open_app, shared_demo)
    boxes = {t.key: t for t in at.text_input}
    for key in ("audit_actor", "audit_action", "audit_subject", "audit_since", "audit_until"):
        assert boxes[key].value == ""
        hint = boxes[key].proto.placeholder
        assert hint.startswith(("any ", "YYYY")), hint  # a hint, never something that looks typed in
    frame = at.dataframe[0].value
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", t) for t in frame["time (UTC)"])
    assert not frame.isna().any().any()
    for cell in frame["details"]:
        assert "None" not in cell and "['" not in cell and "True" not in cell


def test_one_entry_opens_whole_from_the_url_and_from_the_table(open_app: OpenApp, shared_demo: Path) -> None:
    at = open_app(shared_demo, "aude")
    at.query_params["seq"] = "1"
    at.switch_page(PAGE)
    at = at.run()
    assert not at.exception
    assert at.text_input(key="audit_seq_input").value == "1"
    fields = dict(zip(at.dataframe[1].value["Field"], at.dataframe[1].value["Value"], strict=True))
    entry = Countersign(shared_demo).log_entry(at.session_state["auth_session"], 1)
    assert fields["Signature (Ed25519, base64)"] == entry["signature"]
    assert fields["Leaf hash (RFC 6962)"] == entry["leaf_hash"] and fields["Signing key id"] == entry["key_id"]
    assert fields["Permalink"] == "./audit_log?seq=1"
    assert any('"name": "ada"' in c.value for c in at.code)  # the whole payload, as signed
    assert at.query_params["seq"] in ("1", ["1"])

    at.text_input(key="audit_seq_input").input("2")
    at = at.run()
    assert at.query_params["seq"] in ("2", ["2"])  # the address bar follows the entry shown
    at.text_input(key="audit_seq_input").input("not-a-number")
    at = at.run()
    assert any("is not a ledger entry number" in e for e in _errors(at))
    at.text_input(key="audit_seq_input").input("99999999")
    at = at.run()
    assert any("No ledger entry 99999999" in e for e in _errors(at))


# ------------------------------------------------------------------------------------------- waivers
def _waivers(open_app: OpenApp, db: Path) -> AppTest:
    at = open_app(db, "chloe")
    at.switch_page("app_pages/policies.py")
    at = at.run()
    at.session_state["pol_tab"] = "Waivers"
    return at.run()


def test_a_granted_waiver_appears_at_once_and_the_form_explains_the_date(open_app: OpenApp, demo_db: Path) -> None:
    at = _waivers(open_app, demo_db)
    assert not at.exception
    default = at.date_input(key="pol_w_until").value
    today = datetime.now(UTC).date()
    assert default == today + timedelta(days=30)  # valid as it stands: after today
    assert any("must end after today" in m.value for m in at.markdown)
    before = len(at.dataframe[0].value)

    inventory = Countersign(demo_db).inventory(at.session_state["auth_session"])
    governed = next(r for r in inventory if r.get("policy"))
    at.selectbox(key="pol_w_model").set_value(f"{governed['name']}@{governed['version']}")
    at = at.run()
    check = at.selectbox(key="pol_w_check").options[0]
    at.selectbox(key="pol_w_check").set_value(check)
    at.text_area(key="pol_w_just").input("Mitigated by manual review of every decision until retraining.")
    at.button(key="pol_w_grant").click()
    at = at.run()
    assert not at.exception and not _errors(at), _errors(at)
    assert any("granted" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert len(table) == before + 1
    new_id = table["waiver"].iloc[0]
    assert table["status"].iloc[0] == "active" and table["check"].iloc[0] == check
    revocable = at.selectbox(key="pol_r_id").options  # shown as "id: check on model until date"
    assert any(o.startswith(f"{new_id}: {check} on ") for o in revocable)  # in the revoke list without a reload

    at.selectbox(key="pol_r_id").set_value(new_id)
    submit = next(b for b in at.get("form_submit_button") if b.label == "Revoke")
    submit.click()
    at = at.run()
    assert any("A reason is required" in e for e in _errors(at))  # nothing revoked without a reason
    assert at.dataframe[0].value["status"].iloc[0] == "active"
    at.text_input(key="pol_r_reason").input("Retrained model replaces it.")
    next(b for b in at.get("form_submit_button") if b.label == "Revoke").click()
    at = at.run()
    assert at.dataframe[0].value["status"].iloc[0].startswith("revoked ")
    left = at.selectbox(key="pol_r_id").options if at.get("form") else []
    assert not any(o.startswith(new_id) for o in left)
