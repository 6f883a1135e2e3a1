"""User text in the app is shown literally: no Markdown, no HTML, no links, no remote images (issue 12, kind f).

A promotion reason, model-card text (free text, a list and a mapping, keys included), a datasheet section, a policy
description and a waiver justification all carry Markdown, HTML, a remote image, a link, Streamlit's colour, emoji
and formula syntax, a heading and a bidi override. On every page and tab where they appear, each one is either in
an element that parses nothing (``st.text``, a dataframe cell, with control characters made visible) or in
Markdown source where every punctuation character is escaped, so it renders as the text itself. The browser test
(tests/e2e/test_user_text_browser.py) checks what Chromium actually draws.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from app.text import WORD_JOINER, literal, plain
from core.api.countersign import Countersign
from core.display.text import visible
from tests.app.conftest import OpenApp
from tests.app.demo_db import PASSWORDS, copy_demo

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = ("**bold** <img src=http://x/y.png> [link](http://evil) ![pic](http://x/z.png) :red[red] :smile: "
           ":material/home: $x^2$ www.evil.example &amp; `code` | a | b |\n# heading\n- item \u202eevil\u202c")
#: what must never reach Markdown unescaped (a backslash in front means the character is shown as itself)
MARKUP = ["**bold**", "<img", "[link](", "![pic]", "http://", "www.evil", ":red[", ":smile:", ":material/home:",
          "$x^2$", "&amp;", "`code`", "# heading", "- item", "\u202e"]
CARD_KEY = "why **this** <img src=http://x/k.png>"


def _unescape(source: str) -> str:
    """What CommonMark shows for text whose punctuation is all backslash-escaped (the word joiners left in)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", source)


def _shown(source: str) -> str:
    """What a reader sees of ``literal()`` output: the text, without the invisible word joiners."""
    return _unescape(source).replace(WORD_JOINER, "")


def put_user_text(db: Path, folder: Path) -> None:
    """Put PAYLOAD into every kind of user text of the demo database ``db`` (files written in ``folder``)."""
    cs = Countersign(db)
    s = {name: cs.login(name, password) for name, password in PASSWORDS.items()}
    with cs.store.held():
        cs.evaluate(s["dana"], "german-credit-scorer@2", data="german-credit@1", policy="default",
                    label="good_credit")  # reinstatement needs evidence made since the suspension
        cs.reinstate(s["dana"], "german-credit-scorer@2", reason=PAYLOAD)  # pending: lee and chloe decide
        card = dict(cs.model(s["dana"], "german-credit-scorer@1")["card"])
        card.update(intended_use=PAYLOAD, limitations=[PAYLOAD, "plain"], factors={CARD_KEY: PAYLOAD})
        (folder / "card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
        cs.edit_card(s["dana"], "german-credit-scorer@1", folder / "card.yaml")
        sheet = dict(cs.dataset(s["dana"], "german-credit@1")["datasheet"])
        sheet["uses"] = PAYLOAD
        (folder / "sheet.yaml").write_text(yaml.safe_dump(sheet), encoding="utf-8")
        cs.edit_datasheet(s["dana"], "german-credit@1", folder / "sheet.yaml")
        policy = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text(encoding="utf-8"))
        policy.update(policy="hostile", description=PAYLOAD)
        (folder / "hostile.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
        cs.add_policy(s["chloe"], folder / "hostile.yaml")
        until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
        cs.waive(s["chloe"], "adult-income@1", check="selection-parity-sex", until=until, justification=PAYLOAD)


@pytest.fixture(scope="module")
def hostile_db(demo_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database with PAYLOAD in every kind of user text (the pages below only read it)."""
    folder = tmp_path_factory.mktemp("user-text")
    db = copy_demo(demo_db_template, folder / "demo.duckdb")
    put_user_text(db, folder)
    return db


def _markdown_sources(at: AppTest) -> Iterator[tuple[str, str]]:
    """Every string of the run that Streamlit renders as Markdown: bodies, headings, alerts, labels, options."""
    for kind in ("markdown", "caption", "info", "warning", "success", "error", "title", "header", "subheader"):
        for element in getattr(at, kind):
            yield kind, element.value
    for metric in at.metric:
        yield "metric label", metric.label
        yield "metric value", metric.value
    for expander in at.expander:
        yield "expander", expander.label
    for tab in at.tabs:
        yield "tab", tab.label
    for radio in at.radio:
        yield "radio label", radio.label
        for option in radio.options:
            yield "radio option", option
    for kind in ("selectbox", "text_input", "text_area", "button", "multiselect", "toggle", "number_input"):
        for widget in getattr(at, kind):
            yield f"{kind} label", widget.label


def _assert_no_live_markup(at: AppTest, where: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for kind, source in _markdown_sources(at):
        for token in MARKUP:
            assert not re.search(r"(?<!\\)" + re.escape(token), str(source)), (where, kind, token, source)


def _view(open_app: OpenApp, db: Path, user: str, page: str, **state: str) -> AppTest:
    at = open_app(db, user)
    at.switch_page(f"app_pages/{page}")
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_a_reason_on_the_approvals_page(open_app: OpenApp, hostile_db: Path) -> None:
    at = _view(open_app, hostile_db, "lee", "approvals.py")
    _assert_no_live_markup(at, "approvals")
    # the request line is body text (not a low-contrast caption): WCAG AA contrast for ids and requesters
    lines = [m.value for m in at.markdown if m.value.startswith("Request ")]
    assert any(_shown(c).endswith(": " + visible(PAYLOAD)) for c in lines), lines
    assert any(literal(PAYLOAD) in c for c in lines)


def test_card_text_on_the_model_card(open_app: OpenApp, hostile_db: Path) -> None:
    at = _view(open_app, hostile_db, "aude", "model_card.py", card_ref="german-credit-scorer@1")
    _assert_no_live_markup(at, "card tab")
    texts = [t.value for t in at.text]
    shown = visible(PAYLOAD, keep="\n")
    assert texts.count(shown) == 2 and f"• {shown}" in texts  # intended use, factors' answer, the list item
    assert f"**{literal(CARD_KEY)}**" in [m.value for m in at.markdown]  # the mapping's key: bold, literal

    at.session_state["card_tab"] = "Data"
    at = at.run()
    _assert_no_live_markup(at, "data tab")
    assert shown in [t.value for t in at.text]  # the datasheet section
    assert [e.label for e in at.expander] == [f"Datasheet of {literal('german-credit@1')}"]


def test_history_reason_and_justifications_in_tables(open_app: OpenApp, hostile_db: Path) -> None:
    at = _view(open_app, hostile_db, "chloe", "policies.py", pol_choice="hostile@1")
    _assert_no_live_markup(at, "policies")
    assert visible(PAYLOAD, keep="\n") in [t.value for t in at.text]  # the policy's description

    at.session_state["pol_tab"] = "Waivers"
    at = at.run()
    _assert_no_live_markup(at, "waivers tab")
    justifications = list(at.dataframe[0].value["justification"])
    assert visible(PAYLOAD) in justifications  # one line, the bidi override shown as \u202e
    assert not any("\u202e" in j for j in justifications)


def test_every_page_and_tab_renders_no_live_markup(open_app: OpenApp, hostile_db: Path) -> None:
    from tests.app.test_pages import ACCESS, TABS

    views = [(page, "chloe") for page, (_title, roles) in ACCESS.items() if roles is None
             or "compliance_officer" in roles] + [("approvals.py", "lee"), ("users.py", "ada")]
    for page, user in views:
        at = _view(open_app, hostile_db, user, page)
        _assert_no_live_markup(at, f"{page} as {user}")
        key = TABS.get(page)
        for label in [t.label for t in at.tabs] if key else []:
            at.session_state[key] = label
            at = at.run()
            _assert_no_live_markup(at, f"{page}:{label} as {user}")


@pytest.mark.parametrize("text", [PAYLOAD, "plain words", "", "a\\b", "\x1b[31m\r\n\t\u2028", "_x_ ~y~ >q 1. n",
                                  "<script>alert(1)</script>", "[![a](http://x)](http://y)", ":material/home:",
                                  "see WWW.evil.example, https://evil.example/x or mail a.b+c@evil.example",
                                  "scorer@1.2 (HTTP://x.y)"])
def test_literal_renders_as_exactly_the_text(text: str) -> None:
    source = literal(text)
    assert "\n" not in source and _shown(source) == visible(text)
    # GitHub's autolink literals are matched on the text after escapes: none may match what is left
    seen = _unescape(source)
    assert not re.search(r"(?i)(?:https?://|www\.)", seen) and not re.search(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+", seen)
    # the source is only ordinary characters and backslash-escaped punctuation
    assert re.fullmatch(r"(?:[^!-/:-@\[-`{-~]|\\[!-/:-@\[-`{-~])*", source)


def test_plain_tables_make_controls_visible() -> None:
    frame = plain([{"who\u202e": "a\nb\x1b", "n": 3}])
    assert list(frame.columns) == ["who\\u202e", "n"] and frame.iloc[0].tolist() == ["a\\nb\\x1b", 3]
