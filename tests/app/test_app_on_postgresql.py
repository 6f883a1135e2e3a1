"""The Streamlit app on a PostgreSQL site: the seeded demo copied into a real server (``store copy``), every page for
every role that may see it, and a governed action (an approval through the dialog) committed there."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.api.countersign import Countersign
from core.api.site_copy import copy_site
from core.identity.users import Session
from tests.app.conftest import OpenApp
from tests.app.test_approvals_page import PENDING, _decide, _page as _approvals, _successes
from tests.app.test_pages import ACCESS, ALLOWED, ROLE_OF, _page


@pytest.fixture
def pg_demo(demo_db: Path, pg_uri: str) -> str:
    copy_site(demo_db, pg_uri)  # from a private copy: the template is shared by the workers and only ever copied
    return pg_uri


def test_every_page_renders_for_every_role_on_postgresql(open_app: OpenApp, pg_demo: str) -> None:
    for page, user in ALLOWED:
        at = _page(open_app(pg_demo, user), page)  # type: ignore[arg-type]  # a URI where a path also goes
        assert not at.exception, (page, user, [e.value for e in at.exception])
        title = "Your account" if page == "users.py" and ROLE_OF[user] != "admin" else ACCESS[page][0]
        assert at.title[0].value == title, (page, user)


def test_an_approval_in_the_app_commits_on_postgresql(open_app: OpenApp, pg_demo: str,
                                                     demo_sessions: dict[str, Session]) -> None:
    cs, chloe = Countersign(pg_demo), demo_sessions["chloe"]
    before = cs.verify(jobs=1).size
    at = _approvals(open_app(pg_demo, "chloe"))  # type: ignore[arg-type]
    at = _decide(at, "Approve", "Waiver and evidence reviewed; pilot scope confirmed.")
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"{PENDING} is now in production" in s for s in _successes(at)), _successes(at)
    entries = cs.log(chloe, limit=5)
    assert [e["action"] for e in entries[:2]] == ["model.stage_changed", "promotion.approved"]
    report = cs.verify(jobs=1)
    assert report.ok and report.size == before + 2
