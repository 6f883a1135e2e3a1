"""End to end in a real browser: ``countersign app`` on a copy of the seeded demo database, driven by headless
Chromium the way a compliance officer and an auditor would use it, with the CLI working on the same file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.app.demo_db import PASSWORDS
from tests.e2e import browser as ui

pytestmark = pytest.mark.e2e

COMMENT = "Waiver, fairness evidence and pilot scope reviewed in the browser."


_expect = ui.expect


def test_compliance_officer_approves_and_auditor_cannot(page: Any, served_demo: tuple[str, Path]) -> None:
    expect = _expect()
    url, _db = served_demo
    ui.sign_in(page, url, "chloe", PASSWORDS["chloe"])
    assert "Approvals (1)" in ui.nav_titles(page)  # the inbox count: one request awaits chloe

    # The pending request, with its gate evidence, waiting for the compliance officer.
    ui.open_page(page, "Approvals")
    expect(page.get_by_text("adult-income@2 → production")).to_be_visible()
    page.get_by_role("button", name="Approve", exact=True).click()

    # Confirmation dialog: the comment and the decision go together, with one click.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=30_000)
    confirm = dialog.get_by_role("button", name="Confirm approve")
    comment = dialog.get_by_label("Comment (required)")
    comment.fill(COMMENT)
    confirm.click()
    expect(page.get_by_text("adult-income@2 is now in production")).to_be_visible(timeout=60_000)
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    # Inventory: the version is in production.
    ui.open_page(page, "Inventory", "Model inventory")
    rows = {(r["Model"], r["Version"]): r for r in ui.table(page)}
    assert rows[("adult-income", "2")]["Stage"] == "production"
    assert rows[("adult-income", "2")]["Pending requests"] == "0"

    # Audit log: newest first, the approval and the stage change it caused, both signed by chloe.
    ui.open_page(page, "Audit log")
    top = ui.table(page)[:2]
    assert [r["action"] for r in top] == ["model.stage_changed", "promotion.approved"], top
    assert {r["actor"] for r in top} == {"chloe"}
    assert top[1]["subject"] == "model:adult-income@2" and COMMENT[:30] in top[1]["details"], top[1]
    assert int(top[0]["entry"]) == int(top[1]["entry"]) + 1
    page.get_by_role("button", name="Verify ledger").click()
    expect(page.get_by_text("Ledger intact")).to_be_visible(timeout=120_000)

    # The auditor: no Approvals page, and no approve control on any page she has.
    ui.sign_out(page)
    ui.sign_in(page, url, "aude", PASSWORDS["aude"])
    titles = ui.nav_titles(page)
    assert "Approvals" not in titles and "Users" not in titles
    assert {"Inventory", "Audit log", "Reports"} <= set(titles)
    for title in titles:
        ui.open_page(page, title, "Model inventory" if title == "Inventory" else None)
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
        expect(page.get_by_role("button", name="Approve")).to_have_count(0)
        expect(page.get_by_role("button", name="Reject")).to_have_count(0)

    # The auditor's evidence export, assembled when downloaded: it holds the approval just made.
    ui.open_page(page, "Reports")
    page.get_by_label("Model version").first.click()
    page.get_by_role("option", name="adult-income@2").click()
    ui.settle(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download evidence (JSON)").click()
    bundle = json.loads(Path(download.value.path()).read_text())
    assert bundle["model"]["name"] == "adult-income" and bundle["evaluations"]
    assert bundle["history"]["production"] == "2"
    assert any(t["to_stage"] == "production" and {a["name"] for a in t["approvers"]} == {"lee", "chloe"}
               for t in bundle["history"]["timeline"])


def _cli(db: Path, user: str, *args: str, tmp: Path) -> subprocess.Popen[str]:
    env = ui.clean_env(COUNTERSIGN_PASSWORD=PASSWORDS[user], XDG_DATA_HOME=str(tmp / "xdg"))
    return subprocess.Popen([*ui.countersign_cmd(), "--db", str(db), *args, "--as", user, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_cli_works_on_the_database_while_the_app_serves_it(page: Any, served_demo: tuple[str, Path],
                                                            tmp_path: Path) -> None:
    expect = _expect()
    url, db = served_demo
    ui.sign_in(page, url, "aude", PASSWORDS["aude"])
    ui.open_page(page, "Audit log")
    newest_before = int(ui.table(page)[0]["entry"])

    # A read and a write through the CLI while the browser keeps the server rendering pages.
    reader = _cli(db, "aude", "log", "--limit", "5", tmp=tmp_path)
    writer = _cli(db, "dana", "evaluate", "german-credit-scorer@1", "--data", "german-credit@1", "--policy",
                  "default", "--label", "good_credit", tmp=tmp_path)
    for title, heading in [("Inventory", "Model inventory"), ("Model card", None), ("Audit log", None)] * 2:
        ui.open_page(page, title, heading)
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
        expect(page.locator("[data-testid=stAlertContentError]")).to_have_count(0)
    out, err = reader.communicate(timeout=180)
    assert reader.returncode == 0, err
    assert "lock" not in err.lower()
    assert [e["seq"] for e in json.loads(out)][0] >= newest_before
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    assert "lock" not in err.lower()
    evaluation = json.loads(out)

    # The app shows the CLI's result on its next render.
    ui.open_page(page, "Inventory", "Model inventory")
    ui.open_page(page, "Audit log")
    newest = ui.table(page)[0]
    assert newest["actor"] == "dana" and newest["action"].startswith("evaluation.")
    assert newest["subject"] == f"evaluation:{evaluation['id']}"
    assert int(newest["entry"]) > newest_before
