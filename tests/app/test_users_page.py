"""AppTest of the Users page (issue 14): after every action the table shows the change at once (a revoked role
disappears, a granted one appears, a new user is listed with their code shown once, a deactivated account says so
and leaves the pick lists); values in words (roles, yes/no, UTC seconds, no None or Python lists); and a user changes
their own password."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.api.countersign import Countersign
from core.errors import NotAuthenticated
from tests.app.conftest import OpenApp
from tests.app.demo_db import PASSWORDS


def _users(open_app: OpenApp, db: Path, user: str = "ada") -> AppTest:
    at = open_app(db, user)
    at.switch_page("app_pages/users.py")
    return at.run()


def _table(at: AppTest) -> dict[str, dict[str, str]]:
    frame = at.dataframe[0].value
    return {row["Name"]: row for row in frame.to_dict("records")}


def _submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.get("form_submit_button") if b.label == label).click()
    return at.run()


def test_the_table_reads_as_words(open_app: OpenApp, shared_demo: Path) -> None:
    at = _users(open_app, shared_demo)
    assert not at.exception
    rows = _table(at)
    assert rows["lee"]["Roles"] == "ML lead" and rows["chloe"]["Roles"] == "compliance officer"
    assert rows["lee"]["Status"] == "active"
    for row in rows.values():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", row["Created (UTC)"])
        assert "None" not in str(row) and "['" not in str(row) and "_" not in row["Roles"]


def test_a_revoked_role_disappears_and_a_granted_one_appears_at_once(open_app: OpenApp, demo_db: Path) -> None:
    at = _users(open_app, demo_db)
    at.selectbox(key="users_target").set_value("aude")
    at.selectbox(key="users_role").set_value("data_scientist")
    at = _submit(at, "Grant")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _table(at)["aude"]["Roles"] == "auditor, data scientist"
    assert any("now holds" in s.value for s in at.success)

    at.selectbox(key="users_target").set_value("aude")
    at.selectbox(key="users_role").set_value("data_scientist")
    at = _submit(at, "Revoke")
    assert _table(at)["aude"]["Roles"] == "auditor"
    # and the refusal of a self-revocation is an error in words, with nothing changed
    at.selectbox(key="users_target").set_value("ada")
    at.selectbox(key="users_role").set_value("admin")
    at = _submit(at, "Revoke")
    assert any("may not revoke their own roles" in e.value for e in at.error)
    assert _table(at)["ada"]["Roles"] == "administrator"


def test_a_new_user_is_listed_at_once_with_the_code_shown_once(open_app: OpenApp, demo_db: Path) -> None:
    at = _users(open_app, demo_db)
    at.text_input(key="users_name").input("nora")
    at.multiselect(key="users_roles").set_value(["auditor"])
    at = _submit(at, "Add user")
    assert not at.error, [e.value for e in at.error]
    assert _table(at)["nora"]["Status"] == "waiting to enrol"
    assert at.code and len(at.code[0].value) >= 26  # the one-time code
    assert "nora" in at.selectbox(key="users_target").options
    at = at.run()
    assert not at.code  # shown once


def test_deactivation_updates_the_table_and_ends_sign_in(open_app: OpenApp, demo_db: Path) -> None:
    at = _users(open_app, demo_db)
    at = _submit(at, "Deactivate")
    assert any("Choose the user" in e.value for e in at.error)
    at.selectbox(key="users_deactivate_target").set_value("lee")
    at = _submit(at, "Deactivate")
    assert any("reason is required" in e.value for e in at.error)
    assert _table(at)["lee"]["Status"] == "active"
    at.text_input(key="users_deactivate_reason").input("Left the company.")
    at = _submit(at, "Deactivate")
    assert not at.error, [e.value for e in at.error]
    row = _table(at)["lee"]
    assert row["Status"].startswith("deactivated ") and "by ada: Left the company." in row["Status"]
    assert row["Roles"] == "none"
    assert "lee" not in at.selectbox(key="users_target").options
    assert "lee" not in (at.selectbox(key="users_deactivate_target").options or [])
    with pytest.raises(NotAuthenticated, match="deactivated"):
        Countersign(demo_db).login("lee", PASSWORDS["lee"])


def test_a_user_changes_their_own_password(open_app: OpenApp, demo_db: Path) -> None:
    at = _users(open_app, demo_db)
    at.text_input(key="users_pw_current").input("wrong")
    at.text_input(key="users_pw_new").input("a-new-long-password")
    at.text_input(key="users_pw_repeat").input("a-new-long-password")
    at = _submit(at, "Change password")
    assert any("current password is not right" in e.value for e in at.error)
    at.text_input(key="users_pw_current").input(PASSWORDS["ada"])
    at.text_input(key="users_pw_new").input("a-new-long-password")
    at.text_input(key="users_pw_repeat").input("a-new-long-password")
    at = _submit(at, "Change password")
    assert not at.error, [e.value for e in at.error]
    assert any("password was changed" in s.value for s in at.success)
    cs = Countersign(demo_db)
    assert cs.login("ada", "a-new-long-password").name == "ada"
    with pytest.raises(NotAuthenticated):
        cs.login("ada", PASSWORDS["ada"])
    [entry] = cs.log(cs.login("aude", PASSWORDS["aude"]), action="user.password_changed", limit=1)
    assert entry["actor"] == "ada" and "password" not in str(entry["payload"]).replace("password_changed", "")


def test_anyone_signed_in_changes_their_own_password_and_sees_no_user_management(open_app: OpenApp,
                                                                                 demo_db: Path) -> None:
    at = open_app(demo_db, "dana")
    at.switch_page("app_pages/users.py")
    at = at.run()
    assert not at.exception and at.title[0].value == "Your account"
    assert not [b for b in at.button if "Deactivate" in b.label or "Grant" in b.label]
    at.text_input(key="users_pw_current").input(PASSWORDS["dana"])
    at.text_input(key="users_pw_new").input("dana-new-long-password")
    at.text_input(key="users_pw_repeat").input("dana-new-long-password")
    at = _submit(at, "Change password")
    assert any("password was changed" in s.value for s in at.success), [e.value for e in at.error]
    assert Countersign(demo_db).login("dana", "dana-new-long-password").name == "dana"
