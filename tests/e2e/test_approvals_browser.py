"""Approvals in a real browser, acting as each role: one click on "Confirm approve" approves; a request-changes round
trip (the compliance officer sends the request back, the data scientist answers from her inbox, the compliance
officer approves); the navigation's inbox count follows; a request's permalink survives reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.api.countersign import Countersign
from tests.app.demo_db import PASSWORDS
from tests.e2e import browser as ui

pytestmark = pytest.mark.e2e


_expect = ui.expect


def _decide(page: Any, button: str, confirm: str, comment: str) -> None:  # noqa: ANN401
    """Open the decision dialog, type the comment and click the confirm button ONCE (no Tab, no second click)."""
    expect = _expect()
    page.get_by_role("button", name=button, exact=True).first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=30_000)
    dialog.get_by_label("Comment (required)").fill(comment)
    dialog.get_by_role("button", name=confirm).click()
    expect(dialog).to_be_hidden(timeout=60_000)
    ui.settle(page)


def test_one_click_on_confirm_approves(page: Any, served_demo: tuple[str, Path]) -> None:  # noqa: ANN401
    expect = _expect()
    url, db = served_demo
    ui.sign_in(page, url, "chloe", PASSWORDS["chloe"])
    assert "Approvals (1)" in ui.nav_titles(page)
    ui.open_page(page, "Approvals (1)", "Approvals")
    expect(page.get_by_text("adult-income@2 → production").first).to_be_visible()
    _decide(page, "Approve", "Confirm approve", "Evidence, waiver and pilot scope reviewed.")
    expect(page.get_by_text("adult-income@2 is now in production")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Awaiting my decision (0)")).to_be_visible()
    expect(page.get_by_text("Open requests (0)")).to_be_visible()
    titles = ui.nav_titles(page)
    assert "Approvals" in titles and not any(t.startswith("Approvals (") for t in titles), titles
    cs = Countersign(db)
    entry = cs.log(cs.login("aude", PASSWORDS["aude"]), action="promotion.approved", limit=1)[0]
    assert entry["actor"] == "chloe" and entry["payload"]["comment"] == "Evidence, waiver and pilot scope reviewed."


def test_request_changes_round_trip_moves_the_inbox(page: Any, served_demo: tuple[str, Path]) -> None:  # noqa: ANN401
    expect = _expect()
    url, db = served_demo
    # The compliance officer sends the request back.
    ui.sign_in(page, url, "chloe", PASSWORDS["chloe"])
    ui.open_page(page, "Approvals (1)", "Approvals")
    expect(page.get_by_text("Still to decide:").first).to_be_visible()
    _decide(page, "Request changes", "Confirm request changes", "Add the mitigation plan to the card.")
    expect(page.get_by_text("Sent back for changes")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("My inbox (0)")).to_be_visible()
    titles = ui.nav_titles(page)
    assert not any(t.startswith("Approvals (") for t in titles), titles
    ui.sign_out(page)

    # The data scientist finds it in her inbox and answers.
    ui.sign_in(page, url, "dana", PASSWORDS["dana"])
    ui.open_page(page, "Approvals")
    expect(page.get_by_text("My inbox (1)")).to_be_visible()
    expect(page.get_by_text("Sent back to me for changes (1)")).to_be_visible()
    expect(page.get_by_text("Add the mitigation plan to the card.").first).to_be_visible()
    page.get_by_label("Your answer (required)").fill("Mitigation plan added to the waiver conditions.")
    page.get_by_role("button", name="Answer and return to review").click()
    expect(page.get_by_text("is back in review")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("My inbox (0)")).to_be_visible()
    ui.sign_out(page)

    # Back with the compliance officer: counted again, approved in one click.
    ui.sign_in(page, url, "chloe", PASSWORDS["chloe"])
    assert "Approvals (1)" in ui.nav_titles(page)
    ui.open_page(page, "Approvals (1)", "Approvals")
    _decide(page, "Approve", "Confirm approve", "Answer read; approved.")
    expect(page.get_by_text("adult-income@2 is now in production")).to_be_visible(timeout=60_000)
    cs = Countersign(db)
    aude = cs.login("aude", PASSWORDS["aude"])
    actions = [e["action"] for e in cs.log(aude, limit=5)]
    assert actions[:2] == ["model.stage_changed", "promotion.approved"]
    assert {"promotion.changes_requested", "promotion.changes_answered"} <= {
        e["action"] for e in cs.log(aude, limit=10)}


def test_a_request_permalink_survives_reload(page: Any, served_demo: tuple[str, Path]) -> None:  # noqa: ANN401
    expect = _expect()
    url, db = served_demo
    cs = Countersign(db)
    request_id = cs.requests(cs.login("aude", PASSWORDS["aude"]), pending=True)[0]["id"]
    ui.sign_in(page, url, "lee", PASSWORDS["lee"])
    page.goto(f"{url}/approvals?request={request_id}")
    ui.settle(page, delay_ms=0)
    expect(page.get_by_text(f"Request {request_id} by dana")).to_be_visible(timeout=60_000)
    page.reload()
    ui.settle(page, delay_ms=0)
    expect(page.get_by_text(f"Request {request_id} by dana")).to_be_visible(timeout=60_000)
    assert page.url.endswith(f"/approvals?request={request_id}")
