"""Two real app servers (``countersign app --db postgresql://…``) on one PostgreSQL database, driven by Debian's
Chromium at the same moment: each approval and its stage change commit together, the chain stays gapless.

(Here, beside the other browser tests, so that it shares their one Playwright instance per test process.)"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest

from tests.core.storage.test_postgres_concurrency import (
    SECRET,
    assert_gapless_chain,
    check_state_agrees_with_ledger,
    check_verifies,
    ledger_rows,
    new_site,
    pending_requests,
    pw,
)
from tests.e2e import browser as ui


@pytest.fixture(autouse=True)
def _service_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The site is made here and served by the app processes: both read the same secret from the environment."""
    monkeypatch.setenv("COUNTERSIGN_SERVICE_SECRET", SECRET)


@pytest.mark.e2e
@pytest.mark.slow
def test_two_real_app_servers_on_one_database_each_approve_a_request(pg_uri: str, tmp_path: Path,
                                                                      chromium_browser: Any) -> None:  # noqa: ANN401
    users = {"dana": (["data_scientist"], pw("dana")), "chloe": (["compliance_officer"], pw("chloe")),
             "lee": (["ml_lead"], pw("lee")), "lena": (["ml_lead"], pw("lena"))}
    cs, who = new_site(pg_uri, users)
    requests = pending_requests(cs, who, tmp_path / "setup", ["m0", "m1"])
    before = len(ledger_rows(pg_uri))
    env = ui.clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"), COUNTERSIGN_SERVICE_SECRET=SECRET)
    expect = ui.expect()
    with contextlib.ExitStack() as stack:
        # two `countersign app --db URI` servers, started side by side
        browser = chromium_browser
        servers = [ui.app_server(pg_uri, log=tmp_path / f"app-{n}.log", env=env)  # type: ignore[arg-type]
                   for n in range(2)]
        with ThreadPoolExecutor(len(servers)) as pool:
            starting = [pool.submit(server.__enter__) for server in servers]
            wait(starting)
        for server, started in zip(servers, starting, strict=True):
            if started.exception() is None:
                stack.push(server.__exit__)
        urls = [started.result() for started in starting]
        pages = []
        for url, (request_id, _model) in zip(urls, requests, strict=True):
            context = browser.new_context(viewport=ui.VIEWPORT)
            stack.callback(context.close)
            pages.append(context.new_page())
            pages[-1].goto(f"{url}/approvals?request={request_id}", wait_until="commit")  # both servers render at once
        # lee signs in on one server, lena on the other (each lands on the request's permalink) …
        for page, lead in zip(pages, ("lee", "lena"), strict=True):
            ui.settle(page, delay_ms=0)
            page.get_by_label("Username").fill(lead)
            page.get_by_label("Password", exact=True).fill(pw(lead))
            page.get_by_role("button", name="Sign in").click()
        for page in pages:
            expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=60_000)
        # … and each opens one request's approval dialog …
        for page, (request_id, model) in zip(pages, requests, strict=True):
            ui.settle(page)
            expect(page.get_by_text(f"Request {request_id} by dana")).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="Approve", exact=True).first.click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_be_visible(timeout=30_000)
            dialog.get_by_label("Comment (required)").fill(f"Reviewed {model}.")
        # … and both confirm at the same moment: the two servers write to the database at once
        for page in pages:
            page.get_by_role("dialog").get_by_role("button", name="Confirm approve").click()
        for page, (_request_id, model) in zip(pages, requests, strict=True):
            expect(page.get_by_role("dialog")).to_be_hidden(timeout=60_000)
            ui.settle(page)
            expect(page.get_by_text(f"{model} is now in staging").first).to_be_visible(timeout=60_000)
    rows = ledger_rows(pg_uri)
    assert_gapless_chain(rows)
    new = [(r[3], r[4], r[5]) for r in rows[before:]]
    pairs = {new[n][0]: new[n:n + 2] for n in (0, 2)}  # each approval and its stage change: one transaction
    assert pairs == {lead: [(lead, "promotion.approved", f"model:{model}"), (lead, "model.stage_changed",
                                                                              f"model:{model}")]
                     for lead, (_request_id, model) in zip(("lee", "lena"), requests, strict=True)}, new
    check_verifies(pg_uri, len(rows))
    check_state_agrees_with_ledger(pg_uri, rows)
