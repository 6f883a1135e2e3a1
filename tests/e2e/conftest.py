"""Browser tests: the real ``countersign app`` server driven by headless Chromium (Debian's binary via Playwright).

They skip, with the reason, only where Chromium or Playwright is absent (``scripts/bootstrap`` installs both).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.demo_db import copy_demo, demo_template
from tests.e2e import browser as ui


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the real app server with headless Chromium (needs chromium)")


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    reason = ui.unavailable()
    if reason:
        pytest.skip(reason)
    with ui.chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium_browser: Any) -> Iterator[Any]:  # noqa: ANN401
    context = chromium_browser.new_context(viewport=ui.VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def e2e_demo_template(chromium_browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN401
    # Depends on the browser so that, without Chromium, the tests skip before paying for the seed.
    return demo_template(tmp_path_factory)


@pytest.fixture
def served_demo(e2e_demo_template: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A private copy of the demo database with ``countersign app`` running on it: (base URL, database path)."""
    db = copy_demo(e2e_demo_template, tmp_path / "demo.duckdb")
    with ui.app_server(db, env=ui.clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"))) as url:
        yield url, db


@pytest.fixture
def short_lived(e2e_demo_template: Path, tmp_path: Path) -> Iterator[str]:
    """The demo app with a 6-second idle timeout (``COUNTERSIGN_SESSION_TTL``): its base URL."""
    db = copy_demo(e2e_demo_template, tmp_path / "demo.duckdb")
    env = ui.clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"), COUNTERSIGN_SESSION_TTL="6")
    with ui.app_server(db, env=env) as url:
        yield url
