"""AppTest: the Streamlit shell signs in through core and shows the ledger with its verification verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.api.countersign import Countersign
from tests.conftest import ADMIN, ADMIN_PW, USERS

APP = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture
def app(populated: Countersign, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("COUNTERSIGN_DB", str(populated.path))
    from app import session

    session.service.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    return at.run()


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["Username"].input(name)
    inputs["Password"].input(password)
    at.button[0].click()
    return at.run()


def test_sign_in_form_is_shown_first(app: AppTest) -> None:
    assert [t.label for t in app.text_input] == ["Username", "Password"]
    assert app.button[0].label == "Sign in"
    assert not app.exception


def test_wrong_password_is_refused(app: AppTest) -> None:
    at = _sign_in(app, "dana", "not-the-password")
    assert any("authentication failed" in e.value.lower() for e in at.error)
    assert [t.label for t in at.text_input] == ["Username", "Password"]


def test_signed_in_user_sees_the_ledger_and_can_verify_it(app: AppTest) -> None:
    at = _sign_in(app, "aude", USERS["aude"][1])
    assert not at.exception
    assert at.title[0].value == "Model inventory"  # the landing page
    at.switch_page("app_pages/audit_log.py")
    at = at.run()
    assert at.title[0].value == "Audit log"
    frame = at.dataframe[0].value
    assert {"user.added", "ledger.initialized"} <= set(frame["action"])
    verify = next(b for b in at.button if b.label == "Verify ledger")
    verify.click()
    at = at.run()
    assert any("Ledger intact" in s.value for s in at.success)


def test_sign_out(app: AppTest) -> None:
    at = _sign_in(app, ADMIN, ADMIN_PW)
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at = at.run()
    assert [t.label for t in at.text_input] == ["Username", "Password"]
