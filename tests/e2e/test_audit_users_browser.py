"""The audit log and the Users page in a real browser (issue 14): a ledger entry's permalink opens that entry whole
and survives reload; a bad date is an error, not "No entries match"; an administrator's actions show in the table at
once, and a deactivated user cannot sign in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.api.countersign import Countersign
from tests.app.demo_db import PASSWORDS
from tests.e2e import browser as ui

pytestmark = pytest.mark.e2e


_expect = ui.expect


_goto = ui.goto


def test_a_ledger_entry_permalink_opens_it_whole_and_survives_reload(page: Any,
                                                                    served_demo: tuple[str, Path]) -> None:
    expect = _expect()
    url, db = served_demo
    cs = Countersign(db)
    entry = cs.log_entry(cs.login("aude", PASSWORDS["aude"]), 3)
    ui.open_signed_in(page, url, "aude", PASSWORDS["aude"], "/audit_log?seq=3")
    expect(page.locator("h1").first).to_have_text("Audit log", timeout=60_000)
    expect(page.get_by_label("Entry number")).to_have_value("3")
    expect(page.get_by_text(f"Entry 3: {entry['action']}")).to_be_visible()
    expect(page.get_by_text("Permalink to entry 3")).to_be_visible()
    page.reload()
    ui.settle(page, delay_ms=0)
    expect(page.get_by_label("Entry number")).to_have_value("3", timeout=60_000)
    expect(page.get_by_text(f"Entry 3: {entry['action']}")).to_be_visible()
    assert page.url.endswith("/audit_log?seq=3")

    # another entry: the address bar follows
    box = page.get_by_label("Entry number")
    box.fill("1")
    box.press("Enter")
    ui.settle(page)
    expect(page.get_by_text("Entry 1: user.added")).to_be_visible(timeout=60_000)
    assert page.url.endswith("/audit_log?seq=1")

    # a bad date is refused in words
    since = page.get_by_label("Since (UTC)")
    since.fill("yesterday")
    since.press("Enter")
    ui.settle(page)
    expect(page.get_by_text("is not a date or time", exact=False).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("No entries match")).to_have_count(0)


def test_users_page_actions_show_at_once_and_deactivation_ends_sign_in(page: Any,
                                                                        served_demo: tuple[str, Path]) -> None:
    expect = _expect()
    url, db = served_demo
    ui.open_signed_in(page, url, "ada", PASSWORDS["ada"], "/users")
    expect(page.locator("h1").first).to_have_text("Users", timeout=60_000)

    form = page.locator("[data-testid=stForm]").filter(has_text="Deactivate an account")
    choose = form.get_by_role("combobox").first
    choose.click()
    choose.fill("lee")
    choose.press("Enter")
    form.get_by_label("Reason").fill("Left the company.")
    form.get_by_role("button", name="Deactivate").click()
    ui.settle(page)
    expect(page.get_by_text("Deactivated lee", exact=False)).to_be_visible(timeout=60_000)
    users = {u["name"]: u for u in Countersign(db).users(Countersign(db).login("ada", PASSWORDS["ada"]))}
    assert users["lee"]["active"] is False and users["lee"]["roles"] == []

    ui.sign_out(page)
    _goto(page, url)
    page.get_by_label("Username").fill("lee")
    page.get_by_label("Password", exact=True).fill(PASSWORDS["lee"])
    page.get_by_role("button", name="Sign in").click()
    ui.settle(page)
    expect(page.get_by_text("was deactivated on", exact=False)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
