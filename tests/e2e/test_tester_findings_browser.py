"""The tester's findings that need a browser: the address bar follows each page's object and a reload keeps it
(reports, lineage); ``/inventory`` is a page; sign-in after an idle timeout mid-session lands on the full URL; the
waiver date typed is the date granted; the approval card's comparison with production fits 1400 px."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.api.countersign import Countersign
from tests.app.demo_db import PASSWORDS
from tests.e2e import browser as ui

pytestmark = pytest.mark.e2e


_expect = ui.expect


_goto = ui.goto


def _param(page: Any, name: str) -> str | None:  # noqa: ANN401
    values = parse_qs(urlsplit(page.url).query).get(name)
    return values[-1] if values else None


def _choose(page: Any, label: str, option: str) -> None:  # noqa: ANN401
    box = page.get_by_role("combobox", name=label)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    ui.settle(page)


def _waiver_form(page: Any, url: str) -> None:  # noqa: ANN401
    """chloe (compliance officer) on the Waivers tab of the Policies page, adult-income@1 chosen."""
    ui.open_signed_in(page, url, "chloe", PASSWORDS["chloe"], "/policies")
    page.get_by_role("tab", name="Waivers").click()
    ui.settle(page)
    _choose(page, "Model version", "adult-income@1")


def _type_date(page: Any, label: str, day: str) -> None:  # noqa: ANN401
    """Type a date into a date field segment by segment (year, month, day), as a person does, then leave it."""
    year, month, dom = day.split("-")
    for part, value in (("year", year), ("month", month), ("day", dom)):
        segment = page.get_by_role("spinbutton", name=f"{part}, {label}")
        segment.click()
        page.keyboard.type(value)
    page.keyboard.press("Tab")
    ui.settle(page)




def test_the_address_bar_follows_the_object_and_a_reload_keeps_it(page: Any,  # noqa: ANN401
                                                                   served_demo: tuple[str, Path]) -> None:
    expect = _expect()
    url, _db = served_demo
    ui.sign_in(page, url, "chloe", PASSWORDS["chloe"])
    # /inventory is a page of its own (and "/" opens it)
    _goto(page, f"{url}/inventory")
    expect(page.locator("h1").first).to_have_text("Model inventory", timeout=60_000)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    # reports: the URL's model is selected, and the select box writes it back
    _goto(page, f"{url}/reports?model=german-credit-scorer@2")
    expect(page.get_by_role("combobox", name="Model version")).to_have_value("german-credit-scorer@2")
    _choose(page, "Model version", "adult-income@1")
    assert _param(page, "model") == "adult-income@1"
    page.reload()
    ui.settle(page, delay_ms=0)
    expect(page.get_by_role("combobox", name="Model version")).to_have_value("adult-income@1")
    # lineage: the focus is written back, and F5 keeps it
    _goto(page, f"{url}/lineage?node=model:adult-income@2")
    _choose(page, "Focus on", "dataset:german-credit@1")
    assert _param(page, "node") == "dataset:german-credit@1"
    page.reload()
    ui.settle(page, delay_ms=0)
    expect(page.get_by_role("combobox", name="Focus on")).to_have_value("dataset:german-credit@1")


def test_sign_in_after_expiry_mid_session_returns_to_the_full_url(page: Any, short_lived: str) -> None:  # noqa: ANN401
    expect = _expect()
    url = short_lived

    def shows_entry() -> None:
        expect(page.get_by_text("Entry 27:")).to_be_visible(timeout=60_000)

    def shows_card() -> None:
        expect(page.get_by_role("combobox", name="Model version")).to_have_value("german-credit-scorer@2",
                                                                                  timeout=60_000)

    def verify() -> None:
        page.get_by_role("button", name="Verify ledger").click()

    def data_tab() -> None:
        page.get_by_role("tab", name="Data").click()

    ui.sign_in(page, url, "chloe", PASSWORDS["chloe"])
    for path, name, value, check, click in (("audit_log?seq=27", "seq", "27", shows_entry, verify),
                                            ("model_card?model=german-credit-scorer%402", "model",
                                             "german-credit-scorer@2", shows_card, data_tab)):
        _goto(page, f"{url}/{path}")
        check()
        time.sleep(7)  # idle past the timeout, then click something on the page
        click()
        expect(page.get_by_label("Username")).to_be_visible(timeout=60_000)
        ui.settle(page)
        expect(page.get_by_text("Your session expired")).to_be_visible()
        page.get_by_label("Username").fill("chloe")
        page.get_by_label("Password", exact=True).fill(PASSWORDS["chloe"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=60_000)
        ui.settle(page)
        check()
        assert urlsplit(page.url).path == "/" + path.split("?")[0], page.url
        assert _param(page, name) == value, page.url


def test_the_waiver_date_typed_is_the_date_granted(page: Any, served_demo: tuple[str, Path]) -> None:  # noqa: ANN401
    expect = _expect()
    url, db = served_demo
    _waiver_form(page, url)
    box = page.get_by_role("combobox", name="Check")
    box.click()
    page.get_by_role("option").first.click()
    ui.settle(page)
    expect(page.get_by_text("caps waivers at 90 days")).to_be_visible()
    wanted = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    _type_date(page, "Until (last day the waiver holds)", wanted)
    page.get_by_label("Justification").fill("Mitigated by a manual review of each decision.")
    page.get_by_label("Justification").press("Tab")
    ui.settle(page)
    expect(page.get_by_text(f"Granting now sets its last day to {wanted}")).to_be_visible()
    page.get_by_role("button", name="Grant waiver").click()
    ui.settle(page)
    expect(page.get_by_text(f"until {wanted}").first).to_be_visible(timeout=60_000)
    cs = Countersign(db)
    granted = cs.waivers(cs.login("chloe", PASSWORDS["chloe"]), "adult-income@1")
    assert wanted in {w["until"] for w in granted}
    # the form is empty again
    expect(page.get_by_label("Justification")).to_have_value("")


def test_the_comparison_with_production_fits_1400_px(page: Any, served_demo: tuple[str, Path]) -> None:  # noqa: ANN401
    expect = _expect()
    url, db = served_demo
    cs = Countersign(db)
    dana = cs.login("dana", PASSWORDS["dana"])
    cs.evaluate(dana, "german-credit-scorer@2", data="german-credit@1", policy="default", label="good_credit")
    opened = cs.reinstate(dana, "german-credit-scorer@2", reason="Complaint review closed.")
    ui.open_signed_in(page, url, "chloe", PASSWORDS["chloe"], f"/approvals?request={opened['request_id']}")
    table = page.locator("[data-testid=stTable]").first
    expect(table).to_be_visible(timeout=60_000)
    expect(table).to_contain_text("Production v1")
    sizes = table.evaluate("""t => { const boxes = [t, ...t.querySelectorAll('*')].filter(
            e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible');
        return {overflowing: boxes.map(e => [e.tagName, e.scrollWidth, e.clientWidth]),
                table: t.getBoundingClientRect().width,
                main: document.querySelector('[data-testid=stMain]').getBoundingClientRect().width}; }""")
    assert sizes["overflowing"] == [], sizes  # no horizontal scrolling
    assert sizes["table"] <= sizes["main"], sizes
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    cells = table.locator("td").all_inner_texts()
    assert any("must leave none of the 7 required sections missing" in c for c in cells)  # whole, wrapped


def test_a_waiver_date_past_the_cap_is_marked_and_never_granted_silently(page: Any,  # noqa: ANN401
                                                                           served_demo: tuple[str, Path]) -> None:
    expect = _expect()
    url, _db = served_demo
    _waiver_form(page, url)
    today = datetime.now(UTC).date()
    _type_date(page, "Until (last day the waiver holds)", "2099-12-31")
    caption = page.locator("[data-testid=stCaptionContainer]").filter(has_text="caps waivers")
    expect(caption).to_contain_text(f"the last possible day is {(today + timedelta(days=90)).isoformat()}")
    expect(caption).to_contain_text(f"Granting now sets its last day to {(today + timedelta(days=30)).isoformat()}")
    assert "2099" not in caption.inner_text()  # what would be granted is said, never the refused date
