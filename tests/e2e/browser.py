"""The real app server and headless Chromium, shared by the browser tests, the screenshots and the render benchmark.

Chromium is Debian's ``chromium`` package (``scripts/bootstrap`` installs it; Playwright's own browser download is
never used). A page has finished rendering when Streamlit reports the websocket connected, the script not running
and no skeleton placeholder left: the attributes Streamlit's own end-to-end suite waits on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("COUNTERSIGN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}
CONNECTED = "[data-testid=stApp][data-test-connection-state=CONNECTED]"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
NO_SKELETON = "() => !document.querySelector('[data-testid=stSkeleton]')"


def unavailable() -> str | None:
    """Why browser tests cannot run here, or ``None`` when Chromium and Playwright are both present."""
    if not CHROMIUM.exists():
        return (f"Chromium not found at {CHROMIUM}: scripts/bootstrap installs Debian's 'chromium' package "
                "(apt-get install -y chromium); set COUNTERSIGN_CHROMIUM to use another binary")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the 'playwright' Python package is not installed (pip install playwright; no browser download)"
    return None


def countersign_cmd() -> list[str]:
    """The ``countersign`` console script beside this interpreter (or ``python -m cli``)."""
    exe = Path(sys.executable).with_name("countersign")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTERSIGN_")}
    env.update(extra)
    return env


@contextmanager
def app_server(db: Path, *, log: Path | None = None, timeout: float = 90.0,
               env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``countersign app --db DB --port FREE`` until the block ends; yield its base URL."""
    port = free_port()
    log = log or db.with_name(db.name + f".app-{port}.log")
    out = log.open("wb")
    proc = subprocess.Popen([*countersign_cmd(), "app", "--db", str(db), "--port", str(port)], stdout=out,
                            stderr=subprocess.STDOUT, env=env or clean_env(), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app server did not become healthy in {timeout:g} s: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (start_new_session)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        out.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright driving Debian's binary)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def settle(page: Any, timeout_ms: float = 60_000, delay_ms: float = 150) -> None:  # noqa: ANN401
    """Wait until the current script run has finished and nothing is left to fill in."""
    if delay_ms:
        page.wait_for_timeout(delay_ms)  # let a run triggered just now start before we wait for its end
    page.wait_for_selector(CONNECTED, timeout=timeout_ms)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_function(NO_SKELETON, timeout=timeout_ms)


def sign_in(page: Any, base_url: str, name: str, password: str) -> None:  # noqa: ANN401
    from playwright.sync_api import expect

    page.goto(base_url)
    settle(page, delay_ms=0)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=60_000)
    settle(page)


def sign_out(page: Any) -> None:  # noqa: ANN401
    from playwright.sync_api import expect

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Username")).to_be_visible(timeout=60_000)
    settle(page)


def nav_titles(page: Any) -> list[str]:  # noqa: ANN401
    return [t.strip() for t in page.locator("[data-testid=stSidebarNavLink] [data-testid=stMarkdownContainer]")
            .all_inner_texts()]


def open_page(page: Any, title: str, heading: str | None = None) -> None:  # noqa: ANN401
    """Click a page in the sidebar navigation and wait for its render."""
    from playwright.sync_api import expect

    page.locator("[data-testid=stSidebarNavLink]").filter(has_text=title).first.click()
    expect(page.locator("h1").first).to_have_text(heading or title, timeout=60_000)
    settle(page)


def table(page: Any, index: int = 0) -> list[dict[str, str]]:  # noqa: ANN401
    """The visible rows of the ``index``-th ``st.dataframe`` (read from the grid's accessible table)."""
    grid = page.locator("[data-testid=stDataFrame] table[role=grid]").nth(index)
    grid.wait_for(state="attached", timeout=30_000)
    return grid.evaluate("""t => {
        const head = [...t.querySelectorAll('thead th')].map(h => h.innerText.trim());
        return [...t.querySelectorAll('tbody tr')].map(r => Object.fromEntries(
            [...r.querySelectorAll('td')].map((c, i) => [head[i], c.innerText.trim()])));
    }""")



def expect() -> Any:  # noqa: ANN401 - Playwright's expect, imported only where a browser test runs
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def goto(page: Any, url: str) -> None:  # noqa: ANN401
    """Open ``url`` and wait until the app has settled."""
    page.goto(url)
    settle(page, delay_ms=0)


def open_signed_in(page: Any, base_url: str, user: str, password: str, path: str) -> None:  # noqa: ANN401
    """Sign ``user`` in at ``base_url``, then open ``path`` (e.g. ``/users``) and wait until it has settled."""
    sign_in(page, base_url, user, password)
    goto(page, f"{base_url}{path}")
