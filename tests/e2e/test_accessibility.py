"""WCAG 2.1 AA in a real browser (issue 14, defect 12 and "Accessible and offline"): every page, signed out and as
each demo role, passes axe-core's WCAG 2.1 A and AA rules (contrast, text alternatives, ARIA, labels, names of
links and buttons…), with its tabs shown and its expanders open; every chart is announced by its description and
the lineage graph has a text alternative; pass and fail never come as a bare checkbox; and no request leaves the
app's own host.

axe-core is the pinned copy ``scripts/bootstrap`` fetched from the npm registry (integrity checked); nothing is
downloaded here. One browser context per role, each page visited once (tabs by the first role that sees the page),
and the first role also opens single objects by their permalinks (requests, a ledger entry, a suspended version).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.api.countersign import Countersign
from tests.app.demo_db import PASSWORDS, copy_demo
from tests.e2e import axe, browser as ui

pytestmark = pytest.mark.e2e

#: The richest role first: the first role to see a page also goes through its tabs.
ROLES = ["chloe", "ada", "lee", "dana", "aude"]
#: A page the first role may not open (the app says whose page it is; the same message for every role).
FORBIDDEN_PAGE = "users"

#: Charts: Vega's role and accessible name (the chart's description, not "Vega visualization").
CHARTS = """() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(c => ({
    role: c.getAttribute('role'), label: c.getAttribute('aria-label') || ''}))"""
#: Vega draws asynchronously: every chart has its SVG frame.
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')]
    .every(c => c.querySelector('svg g.role-frame'))"""
#: Open every closed expander (their content is in the page but hidden until then).
OPEN_EXPANDERS = """() => { let n = 0; for (const d of document.querySelectorAll('[data-testid=stExpander] details')) {
    if (!d.open) { d.querySelector('summary').click(); n++; } } return n; }"""
#: Columns of each data grid whose every visible cell reads true or false (drawn as a greyed checkbox).
CHECKBOX_COLUMNS = """() => [...document.querySelectorAll('[data-testid=stDataFrame] table[role=grid]')].flatMap(t => {
    const head = [...t.querySelectorAll('thead th')].map(h => h.innerText.trim());
    const rows = [...t.querySelectorAll('tbody tr')]
        .map(r => [...r.querySelectorAll('td')].map(c => c.innerText.trim()));
    return head.filter((h, i) => rows.length && rows.every(r => r[i] === 'true' || r[i] === 'false'));
})"""


@pytest.fixture(scope="module")
def served(e2e_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One app server on a private copy of the demo for the whole module (nothing here writes)."""
    reason = axe.missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("a11y")
    db = copy_demo(e2e_demo_template, folder / "demo.duckdb")
    with ui.app_server(db, env=ui.clean_env(XDG_DATA_HOME=str(folder / "xdg"))) as url:
        yield url, db


def _outside_requests(context: Any, url: str) -> list[str]:  # noqa: ANN401
    own = urlsplit(url).netloc
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).netloc not in (own, "") and
               not r.url.startswith(("data:", "blob:")) else None)
    return outside


def _open(page: Any, url: str, path: str) -> None:  # noqa: ANN401
    """Go to a page by its sidebar link when it has one (no reload: the app's own navigation), else by URL."""
    link = page.locator(f"[data-testid=stSidebarNavLink][href$='/{path}']")  # none for a URL with a query
    if not path or not link.count():
        page.goto(f"{url}/{path}")
        ui.settle(page, delay_ms=0)
        return
    link.first.click()
    page.wait_for_url(re.compile(rf"/{path}(\?|$)"))
    ui.settle(page)


class Audit:
    """What the pages fail, gathered across pages and roles, reported all at once."""

    def __init__(self) -> None:
        self.violations: list[axe.Violation] = []
        self.problems: list[str] = []
        self.not_run: set[str] = set()
        self.pages = 0

    def check(self, page: Any, where: str) -> None:  # noqa: ANN401
        """Open the expanders, wait for the charts, run axe and the app's own checks on what is shown."""
        if page.evaluate(OPEN_EXPANDERS):
            ui.settle(page, delay_ms=300)
        page.wait_for_function(CHARTS_DRAWN, timeout=30_000)
        violations, not_run = axe.check(page, where)
        self.violations += violations
        self.not_run |= set(not_run)
        self.pages += 1
        for chart in page.evaluate(CHARTS):
            if chart["role"] != "graphics-document" or not chart["label"] or "Vega" in chart["label"]:
                self.problems.append(f"[{where}] a chart without its description as accessible name: {chart}")
        graphs = page.locator("[data-testid=stGraphVizChart]").count()
        described = page.locator("[data-testid=stMarkdownContainer] p").filter(
            has_text=re.compile(r"^Graph description: ")).count()
        if graphs > described:
            self.problems.append(f"[{where}] {graphs} graph(s) drawn, {described} described in text")
        for column in page.evaluate(CHECKBOX_COLUMNS):
            self.problems.append(f"[{where}] column {column!r} shows true/false as a checkbox: say it in words")

    def tabs(self, page: Any, where: str) -> None:  # noqa: ANN401
        """Check the page as shown, then each of its other tabs (the first tab set's)."""
        self.check(page, where)
        tabs = page.get_by_role("tab")
        for i in range(1, tabs.count()):
            name = tabs.nth(i).inner_text().strip()
            tabs.nth(i).click()
            ui.settle(page)
            self.check(page, f"{where} › {name}")

    def report(self) -> str:
        lines = [str(v) for v in self.violations] + self.problems
        if self.not_run:
            lines.append(f"axe rules that did not run (renamed in this axe version?): {sorted(self.not_run)}")
        return f"{len(lines)} accessibility problem(s) on {self.pages} page views:\n" + "\n".join(lines)


def _object_pages(db: Path) -> list[str]:
    """Permalinks of single objects (a pending request, a decided one, a ledger entry, a suspended version)."""
    cs = Countersign(db)
    requests = cs.requests(cs.login("chloe", PASSWORDS["chloe"]))
    pending = next(r["id"] for r in requests if r["status"] == "pending")
    decided = next(r["id"] for r in requests if r["status"] != "pending")
    return [f"approvals?request={pending}", f"approvals?request={decided}", "audit_log?seq=2",
            "model_card?model=german-credit-scorer@2"]


def test_every_page_as_every_role_passes_wcag_21_aa(chromium_browser: Any,  # noqa: ANN401
                                                    served: tuple[str, Path]) -> None:
    url, db = served
    audit = Audit()
    recorded: list[list[str]] = []  # each context's own list, filled by its listener as requests are made

    context = chromium_browser.new_context(viewport=ui.VIEWPORT)
    recorded.append(_outside_requests(context, url))
    page = context.new_page()
    page.goto(f"{url}/model_card?model=adult-income@1")  # signed out: the sign-in form in place of the page
    ui.settle(page, delay_ms=0)
    audit.check(page, "signed out › sign-in")
    context.close()

    toured: set[str] = set()
    for name in ROLES:
        context = chromium_browser.new_context(viewport=ui.VIEWPORT)
        recorded.append(_outside_requests(context, url))
        page = context.new_page()
        ui.sign_in(page, url, name, PASSWORDS[name])
        paths = [urlsplit(h).path.strip("/") for h in  # "" for the landing page (Inventory)
                 page.locator("[data-testid=stSidebarNavLink]").evaluate_all("ls => ls.map(l => l.href)")]
        assert paths, f"{name} sees no page"
        for path in [*paths, FORBIDDEN_PAGE, *_object_pages(db)] if name == ROLES[0] else paths:
            _open(page, url, path)
            where = f"{name} › {path or 'inventory'}"
            if path in toured:
                audit.check(page, where)
            else:
                toured.add(path)
                audit.tabs(page, where)
        context.close()

    assert audit.pages >= 30, audit.pages  # the sign-in form, every role's pages, the first role's tabs
    assert not audit.violations and not audit.problems and not audit.not_run, audit.report()
    outside = [request for requests in recorded for request in requests]
    assert not outside, f"requests to other hosts than the app's: {sorted(set(outside))}"


def test_the_lineage_graph_has_a_text_alternative(chromium_browser: Any,  # noqa: ANN401
                                                  served: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    url, db = served
    ref = "model:german-credit-scorer@1"
    cs = Countersign(db)
    graph = cs.lineage(cs.login("aude", PASSWORDS["aude"]), ref, "both")
    context = chromium_browser.new_context(viewport=ui.VIEWPORT)
    try:
        page = context.new_page()
        ui.sign_in(page, url, "aude", PASSWORDS["aude"])
        page.goto(f"{url}/lineage?node={ref}")
        ui.settle(page, delay_ms=0)
        expect(page.locator("[data-testid=stGraphVizChart]")).to_have_count(1)
        description = page.locator("[data-testid=stMarkdownContainer] p").filter(
            has_text=re.compile(r"^Graph description: ")).inner_text()
        kinds = sorted({n["kind"] for n in graph["nodes"]})
        assert description.startswith(f"Graph description: Lineage of {ref}, upstream and downstream: "
                                      f"{len(graph['nodes'])} nodes ("), description
        assert all(kind in description for kind in kinds) and f"and {len(graph['edges'])} links." in description
        page.get_by_text(re.compile(r"^The graph in words")).click()
        items = page.locator("[data-testid=stExpander] li").all_inner_texts()
        assert items == [f"{e['from']} → {e['to']} ({e['kind'].replace('_', ' ')})" for e in graph["edges"]], items
        assert "dataset:german-credit@1 → model:german-credit-scorer@1 (trained on)" in items
    finally:
        context.close()
