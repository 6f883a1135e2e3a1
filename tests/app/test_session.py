"""AppTest: every page has a URL whatever the sign-in state; the session resumes from its cookie token; sign-out
and expiry end it on the server; object parameters in the URL select their object; the inbox is counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import links
from core.api.countersign import Countersign
from core.demo.seed import DEMO_USERS
from core.display.words import role_words
from core.identity.users import Session
from tests.app.conftest import APP, OpenApp
from tests.app.demo_db import PASSWORDS, ROLE_OF

#: page file -> (heading, roles that may open it; None: everyone signed in)
from tests.app.test_pages import ACCESS  # noqa: E402 - the page access table, one copy

TITLES = {"inventory.py": "Inventory"}
REFUSED = [(page, user) for page, (_t, roles) in ACCESS.items() for user in sorted(ROLE_OF)
           if roles is not None and ROLE_OF[user] not in roles]


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}")
    return at.run()


def _sign_in(at: AppTest, name: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["Username"].input(name)
    inputs["Password"].input(PASSWORDS[name])
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def _signed_out(at: AppTest) -> bool:
    return [t.label for t in at.text_input] == ["Username", "Password"] and at.title[0].value == "Countersign"


@pytest.fixture
def cookie(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """The session cookie the "browser" sends (AppTest has no browser: ``app.session._cookie`` is replaced)."""
    from app import session

    jar: dict[str, str | None] = {"value": None}
    monkeypatch.setattr(session, "_cookie", lambda: jar["value"])
    return jar


@pytest.mark.parametrize("page", list(ACCESS))
def test_every_page_is_routed_signed_out_and_shows_the_sign_in_form(open_app: OpenApp, shared_demo: Path,
                                                                     page: str) -> None:
    at = _page(open_app(shared_demo), page)
    assert not at.exception
    assert _signed_out(at)
    title = TITLES.get(page, ACCESS[page][0])
    if page != "inventory.py":
        assert any(f"Sign in to open **{title}**" in m.value for m in at.markdown)
    assert not at.dataframe and not at.sidebar.button  # nothing of the page itself


def test_sign_in_lands_on_the_url_asked_for_with_its_object(open_app: OpenApp, shared_demo: Path) -> None:
    at = open_app(shared_demo)
    at.query_params["model"] = "adult-income@1"
    at = _page(at, "model_card.py")
    assert _signed_out(at)
    at = _sign_in(at, "aude")
    assert not at.exception
    assert at.title[0].value == "Model card"
    assert at.selectbox(key="card_ref").value == "adult-income@1"
    assert at.query_params["model"] == ["adult-income@1"] or at.query_params["model"] == "adult-income@1"


def test_a_url_parameter_selects_once_and_the_users_choice_stays(open_app: OpenApp, shared_demo: Path) -> None:
    at = open_app(shared_demo, "chloe")
    at.query_params["model"] = "german-credit-scorer@2"
    at = _page(at, "model_card.py")
    assert at.selectbox(key="card_ref").value == "german-credit-scorer@2"
    at.selectbox(key="card_ref").set_value("adult-income@1")
    at = at.run()
    assert at.selectbox(key="card_ref").value == "adult-income@1"  # the stale URL does not undo the choice


def test_an_unknown_object_in_the_url_falls_back_without_error(open_app: OpenApp, shared_demo: Path) -> None:
    at = open_app(shared_demo, "chloe")
    at.query_params["model"] = "no-such-model@9"
    at = _page(at, "model_card.py")
    assert not at.exception
    assert at.selectbox(key="card_ref").value in at.selectbox(key="card_ref").options


@pytest.mark.parametrize(("page", "user"), REFUSED, ids=[f"{p[:-3]}-{u}" for p, u in REFUSED])
def test_a_page_my_roles_do_not_open_says_so_and_does_not_run(open_app: OpenApp, shared_demo: Path, page: str,
                                                              user: str) -> None:
    at = _page(open_app(shared_demo, user), page)
    assert not at.exception
    warning = at.warning[0].value
    assert "only" in warning and role_words(ROLE_OF[user]) in warning  # "ML lead", never "ml lead"
    assert not at.dataframe and not at.main.button and not at.text_input  # the page's own content never ran
    assert at.sidebar.markdown[0].value.startswith(f"**{user}**")


def test_a_revoked_role_leaves_every_url_saying_no_access(open_app: OpenApp, demo_db: Path,
                                                          demo_sessions: dict[str, Session]) -> None:
    at = _page(open_app(demo_db, "chloe"), "approvals.py")
    Countersign(demo_db).revoke(demo_sessions["ada"], "chloe", "compliance_officer")
    at = at.run()
    assert at.title[0].value == "No access"
    for page in ACCESS:
        at = _page(at, page)
        assert not at.exception
        assert at.title[0].value == "No access"


def test_sign_in_issues_a_server_side_token_and_a_cookie_script_without_the_password(
        open_app: OpenApp, shared_demo: Path, cookie: dict[str, str | None]) -> None:
    from app import session

    at = _sign_in(open_app(shared_demo), "chloe")
    token = at.session_state["auth_token"]
    assert session.web_sessions().resume(token).name == "chloe"
    scripts = [h.proto.body for h in at.get("html")]
    assert len(scripts) == 1 and token in scripts[0] and "SameSite=Strict" in scripts[0]
    assert PASSWORDS["chloe"] not in scripts[0]

    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at = at.run()
    assert _signed_out(at)
    assert session.web_sessions().resume(token) is None  # revoked on the server
    scripts = [h.proto.body for h in at.get("html")]
    assert len(scripts) == 1 and "countersign_session=;" in scripts[0] and "1970" in scripts[0]


def test_a_new_session_resumes_from_the_cookie(cookie: dict[str, str | None], shared_demo: Path,
                                               demo_sessions: dict[str, Session],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from app import session

    monkeypatch.setenv("COUNTERSIGN_DB", str(shared_demo))
    session.service.clear()
    cookie["value"] = session.web_sessions().issue(demo_sessions["lee"])
    at = AppTest.from_file(APP, default_timeout=90).run()  # a reload: a fresh Streamlit session
    assert not at.exception
    assert at.title[0].value == "Model inventory"
    assert at.sidebar.markdown[0].value.startswith("**lee**")


@pytest.mark.parametrize("value", ["v1.forged.123.abc", "garbage"])
def test_an_unknown_or_forged_cookie_is_refused(cookie: dict[str, str | None], shared_demo: Path,
                                                demo_sessions: dict[str, Session], monkeypatch: pytest.MonkeyPatch,
                                                value: str) -> None:
    from app import session

    monkeypatch.setenv("COUNTERSIGN_DB", str(shared_demo))
    session.service.clear()
    cookie["value"] = value
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert _signed_out(at)
    notices = [i.value for i in at.info]
    assert any("not valid" in n for n in notices) and not any("expired" in n for n in notices), notices
    assert "countersign_session=;" in at.get("html")[0].proto.body  # and the browser is told to delete it


def test_a_revoked_token_ends_the_open_session_too(open_app: OpenApp, shared_demo: Path,
                                                   cookie: dict[str, str | None]) -> None:
    from app import session

    at = _sign_in(open_app(shared_demo), "chloe")
    assert session.end_sessions_of("chloe") >= 1  # e.g. an administrator deactivated the account
    at = at.run()
    assert _signed_out(at)


def test_the_navigation_counts_what_awaits_me(open_app: OpenApp, demo_db: Path,
                                              demo_sessions: dict[str, Session]) -> None:
    at = open_app(demo_db, "chloe")
    assert any("1 request awaits your decision" in c.value for c in at.sidebar.caption)
    for name in ("lee", "dana", "aude"):
        assert not any("await" in c.value for c in open_app(demo_db, name).sidebar.caption)
    cs = Countersign(demo_db)
    pending = next(r for r in cs.requests(demo_sessions["chloe"], pending=True) if r["awaiting_me"])
    cs.reject(demo_sessions["chloe"], pending["id"], comment="Not this quarter.")
    at = at.run()
    assert not any("await" in c.value for c in at.sidebar.caption)


def test_link_scheme() -> None:
    assert links.model_url("adult-income", 2) == "./model_card?model=adult-income@2"
    assert links.page_url("request", "pr-1") == "./approvals?request=pr-1"
    assert links.ledger_url(42) == "./audit_log?seq=42"
    assert links.lineage_url("dataset:uci/adult@1") == "./lineage?node=dataset:uci%2Fadult@1"
    assert links.evaluation_url("ev-1", "m@1") == "./model_card?model=m@1&evaluation=ev-1"
    assert links.url("model_card", {"model": "a b&c"}) == "./model_card?model=a+b%26c"
    with pytest.raises(ValueError):
        links.page_url("nothing", 1)
    with pytest.raises(ValueError):
        links.url("nowhere")
    # every page file the router registers has its permalink path
    app = Path(__file__).resolve().parents[2] / "app"
    assert {links.url_path_of(f) for f in ACCESS} == set(links.PAGE_FILES)
    assert all((app / f).is_file() for f in links.PAGE_FILES.values())
    assert {u.name for u in DEMO_USERS} == set(ROLE_OF)
