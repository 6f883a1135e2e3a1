"""Fixtures for the AppTest suite: the seeded demo database (once per run), copies of it, and a signed-in app."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.api.countersign import Countersign
from core.identity.users import Session
from tests.app.demo_db import PASSWORDS, copy_demo, demo_template

APP = str(Path(__file__).resolve().parents[2] / "app" / "main.py")

OpenApp = Callable[..., AppTest]


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_template(tmp_path_factory)


@pytest.fixture(scope="session")
def demo_sessions(demo_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Session]:
    """A signed-in core session per demo user (valid on every copy: copies share the users' keys). Signed in on a
    copy: the template is shared by the pytest-xdist workers and only ever copied."""
    cs = Countersign(copy_demo(demo_db_template, tmp_path_factory.mktemp("sessions-demo") / "demo.duckdb"))
    return {name: cs.login(name, password) for name, password in PASSWORDS.items()}


@pytest.fixture(scope="session")
def shared_demo(demo_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for tests that only read (rendering pages writes nothing)."""
    return copy_demo(demo_db_template, tmp_path_factory.mktemp("shared-demo") / "demo.duckdb")


@pytest.fixture
def demo_db(demo_db_template: Path, tmp_path: Path) -> Path:
    """A private copy for a test that changes the database."""
    return copy_demo(demo_db_template, tmp_path / "demo.duckdb")


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch, demo_sessions: dict[str, Session]) -> OpenApp:
    """``open_app(db, user=None)``: the app on ``db``, run once, signed in as ``user`` (skipping the scrypt login
    the sign-in form costs; the form itself is tested in test_app.py)."""

    def open_(db: Path, user: str | Session | None = None) -> AppTest:
        monkeypatch.setenv("COUNTERSIGN_DB", str(db))
        from app import session

        session.service.clear()
        at = AppTest.from_file(APP, default_timeout=90)
        if user is not None:
            at.session_state["auth_session"] = demo_sessions[user] if isinstance(user, str) else user
            at.session_state["auth_last_seen"] = time.time()
        return at.run()

    return open_
