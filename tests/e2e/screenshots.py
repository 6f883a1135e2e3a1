"""Screenshots of every page of the app on the demo database, for the README.

    python -m tests.e2e.screenshots [--out docs/screenshots] [--demo-db PATH]

Seeds a demo database in a temporary folder (or copies an already seeded one given with ``--demo-db``), starts
``countersign app`` on it and takes 1400x900 PNGs with headless Chromium: the sign-in page, every page as chloe (the
compliance officer, who sees the most) with the model card's metrics tab and the approval dialog, and the Users page
as ada (admin).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.e2e import browser as ui

ROOT = Path(__file__).resolve().parents[2]
#: file name, navigation title, heading
CHLOE_PAGES = [
    ("inventory.png", "Inventory", "Model inventory"),
    ("model-card.png", "Model card", None),
    ("lineage.png", "Lineage", None),
    ("approvals.png", "Approvals", None),
    ("policies.png", "Policies", None),
    ("audit-log.png", "Audit log", None),
    ("reports.png", "Reports", None),
]


def _shoot(page: object, path: Path) -> None:
    ui.settle(page)
    page.wait_for_timeout(800)  # charts (Vega, Graphviz) draw after the script run has finished
    page.mouse.move(0, 0)
    page.screenshot(path=str(path))
    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def take(db: Path, out: Path) -> list[Path]:
    from playwright.sync_api import expect

    from tests.app.demo_db import PASSWORDS

    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with ui.app_server(db) as url, ui.chromium() as browser:
        page = browser.new_context(viewport=ui.VIEWPORT).new_page()
        page.goto(url)
        ui.settle(page, delay_ms=0)
        page.get_by_label("Username").fill("chloe")
        shots.append(out / "sign-in.png")
        _shoot(page, shots[-1])

        ui.sign_in(page, url, "chloe", PASSWORDS["chloe"])
        for name, title, heading in CHLOE_PAGES:
            ui.open_page(page, title, heading)
            if name == "model-card.png":
                page.get_by_label("Model version").first.click()
                page.get_by_role("option", name="adult-income@2").click()
                ui.settle(page)
            shots.append(out / name)
            _shoot(page, shots[-1])
            if name == "model-card.png":
                page.get_by_role("tab", name="Metrics and fairness").click()
                expect(page.get_by_role("heading", name="Quantitative analyses")).to_be_visible(timeout=60_000)
                page.locator("[data-testid=stVegaLiteChart]").first.scroll_into_view_if_needed()
                shots.append(out / "model-card-metrics.png")
                _shoot(page, shots[-1])
            if name == "approvals.png":
                page.get_by_role("button", name="Approve", exact=True).click()
                dialog = page.get_by_role("dialog")
                expect(dialog).to_be_visible(timeout=30_000)
                dialog.get_by_label("Comment (required)").fill("Waiver and fairness evidence reviewed.")
                dialog.get_by_label("Comment (required)").press("Tab")
                expect(dialog.get_by_role("button", name="Confirm approve")).to_be_enabled(timeout=30_000)
                shots.append(out / "approval-dialog.png")
                _shoot(page, shots[-1])
                dialog.get_by_role("button", name="Cancel").click()
                expect(dialog).to_be_hidden(timeout=30_000)

        ui.sign_out(page)
        ui.sign_in(page, url, "ada", PASSWORDS["ada"])
        ui.open_page(page, "Users")
        shots.append(out / "users.png")
        _shoot(page, shots[-1])
    return shots


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    p.add_argument("--demo-db", type=Path, default=None,
                   help="an already seeded demo database to copy (default: seed one now, ~1 min)")
    args = p.parse_args(argv)
    reason = ui.unavailable()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 2
    from core.demo.seed import seed_demo
    from tests.app.demo_db import copy_demo

    with tempfile.TemporaryDirectory(prefix="countersign-shots-") as tmp:
        if args.demo_db:
            db = copy_demo(args.demo_db, Path(tmp) / "demo.duckdb")
        else:
            db = Path(tmp) / "demo.duckdb"
            seed_demo(db)
        take(db, args.out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
