"""User text in a real browser (issue 12, kind f): headless Chromium on ``countersign app`` draws a promotion reason,
card text, a datasheet section and a policy description full of Markdown, HTML, links, remote images, Streamlit
colour/emoji/formula syntax and a bidi override exactly as typed. No <img> with a remote source, no link to the
attacker, no heading, bold, formula or emoji made from it, and no request ever leaves for the attacker's hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.demo_db import PASSWORDS, copy_demo
from tests.app.test_user_text import PAYLOAD, put_user_text
from tests.e2e import browser as ui

pytestmark = pytest.mark.e2e

#: the first line of PAYLOAD, as the page must show it
FIRST_LINE = PAYLOAD.split("\n", 1)[0]
ATTACKER_HOSTS = ("//x/", "//evil", "evil.example")


@pytest.fixture
def hostile_app(e2e_demo_template: Path, tmp_path: Path) -> Iterator[str]:
    db = copy_demo(e2e_demo_template, tmp_path / "demo.duckdb")
    put_user_text(db, tmp_path)
    with ui.app_server(db, env=ui.clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"))) as url:
        yield url


def _assert_nothing_live(page: Any, where: str) -> None:  # noqa: ANN401
    main = page.locator("[data-testid=stMain]")
    remote_images = main.locator("img").evaluate_all(
        "els => els.map(e => e.getAttribute('src') || '').filter(s => /^(https?:)?\\/\\//.test(s))")
    assert remote_images == [], (where, remote_images)
    links = main.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in links if any(host in h for host in ATTACKER_HOSTS)], (where, links)
    assert main.locator("strong", has_text="bold").count() == 0, where
    assert main.locator("h1, h2, h3, h4, h5, h6", has_text="heading").count() == 0, where
    assert main.locator(".katex").count() == 0, where  # no formula typeset from $x^2$
    assert main.locator("li", has_text="item").count() == 0, where
    assert "😄" not in main.inner_text(), where  # :smile: stays text


def test_user_text_is_drawn_literally(page: Any, hostile_app: str) -> None:  # noqa: ANN401
    from playwright.sync_api import expect

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    ui.sign_in(page, hostile_app, "lee", PASSWORDS["lee"])

    # The promotion reason, in the request line of the pending request (body text, not a low-contrast caption).
    ui.open_page(page, "Approvals")
    caption = page.locator("[data-testid=stMarkdownContainer]").filter(has_text="**bold**")
    expect(caption.first).to_be_visible(timeout=30_000)
    shown = caption.first.inner_text().replace("\u2060", "")  # less the invisible joiners that break autolinks
    assert FIRST_LINE in shown and "\\u202eevil\\u202c" in shown  # the bidi override shown, not obeyed
    _assert_nothing_live(page, "approvals")

    # Card text and the datasheet on the model card: tests/app/test_user_text.py (test_card_text_on_the_model_card,
    # the datasheet) checks every element the page draws; the model card's browser test checks its charts.
    texts = page.locator("[data-testid=stText], [data-testid=stMarkdownContainer]")

    # The policy description.
    ui.open_page(page, "Policies")
    box = page.locator("[data-testid=stSelectbox]").filter(has_text="Policy version").first
    if "hostile@1" not in box.inner_text():  # the newest policy is preselected; choose it if it is not
        box.click()
        page.get_by_role("option", name="hostile@1").click()
        ui.settle(page)
    expect(texts.filter(has_text="**bold**").first).to_be_visible(timeout=30_000)
    _assert_nothing_live(page, "policies")

    to_attacker = [u for u in requests if any(host in u for host in ATTACKER_HOSTS)]
    assert to_attacker == [], to_attacker
