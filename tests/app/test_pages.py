"""AppTest over the seeded demo database: every page for every role, role-aware navigation, the approval dialog,
refusals shown as errors, and session expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from core.api.countersign import Countersign
from core.demo.seed import enrol
from core.identity.roles import ALL_ROLES
from core.identity.users import Session
from tests.app.conftest import OpenApp
from tests.app.demo_db import ROLE_OF

#: page file -> (title, roles that may open it; None: everyone signed in). The specification the router must meet.
ACCESS: dict[str, tuple[str, set[str] | None]] = {
    "inventory.py": ("Model inventory", None),
    "model_card.py": ("Model card", None),
    "lineage.py": ("Lineage", None),
    "approvals.py": ("Approvals", {"data_scientist", "ml_lead", "compliance_officer"}),
    "policies.py": ("Policies", None),
    "audit_log.py": ("Audit log", None),
    "reports.py": ("Reports", {"auditor", "compliance_officer"}),
    "users.py": ("Users", None),  # "Your account" for everyone but admins
}
USERS = sorted(ROLE_OF)  # ada (admin), aude (auditor), chloe (compliance_officer), dana (data_scientist), lee (ml_lead)
ALLOWED = [(page, user) for page, (_t, roles) in ACCESS.items() for user in USERS
           if roles is None or ROLE_OF[user] in roles]
REFUSED = [(page, user) for page, (_t, roles) in ACCESS.items() for user in USERS
           if roles is not None and ROLE_OF[user] not in roles]
PENDING_MODEL = ("adult-income", "2")
#: pages whose sections are lazily rendered tabs, and the tabs' session-state key
TABS = {"model_card.py": "card_tab", "policies.py": "pol_tab"}


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}")
    return at.run()


def _stage(cs: Countersign, who: Session, name: str, version: str) -> str:
    return next(r["stage"] for r in cs.inventory(who) if (r["name"], r["version"]) == (name, version))


def _button(at: AppTest, label: str) -> object:
    return next(b for b in at.button if b.label == label)


def _open_approve_dialog(at: AppTest) -> AppTest:
    at = _page(at, "approvals.py")
    _button(at, "Approve").click()
    at = at.run()
    assert at.session_state["appr_dialog"][1] == "approve"
    return at


def test_the_access_matrix_covers_every_page_and_user() -> None:
    app = Path(__file__).resolve().parents[2] / "app"
    pages = sorted(p.name for p in (app / "app_pages").glob("*.py"))
    assert pages == sorted([*ACCESS, "sign_in.py", "no_role.py"])
    assert len(ALLOWED) + len(REFUSED) == len(ACCESS) * len(USERS)
    # The router's table, as core's sessions answer it for each role, is exactly this specification.
    from app.access import NAVIGATION, allowed

    def opens(file: str, role: str) -> bool:
        return allowed(file, Session(role, (role,), signer=None))  # type: ignore[arg-type] - asks, signs nothing

    navigation = {file: (None if needed is None else {r for r in ALL_ROLES if opens(file, r)})
                  for file, _title, _icon, needed in NAVIGATION}
    assert navigation == {p: r for p, (_t, r) in ACCESS.items()}
    assert all(opens(file, r) for file, (_t, roles) in ACCESS.items() if roles is None for r in ALL_ROLES)


@pytest.mark.parametrize(("page", "user"), ALLOWED, ids=[f"{p[:-3]}-{u}" for p, u in ALLOWED])
def test_page_renders_for_every_role_that_may_see_it(open_app: OpenApp, shared_demo: Path, page: str,
                                                     user: str) -> None:
    at = _page(open_app(shared_demo, user), page)
    assert not at.exception, [e.value for e in at.exception]
    title = "Your account" if page == "users.py" and ROLE_OF[user] != "admin" else ACCESS[page][0]
    assert at.title[0].value == title
    assert at.sidebar.markdown[0].value.startswith(f"**{user}**")


# Routing (every page has a URL; signed out it shows the sign-in form; a page one's roles do not open says so and
# runs nothing): tests/app/test_session.py.


def _every_view(at: AppTest, page: str) -> Iterator[AppTest]:
    """The page once per tab of its lazily rendered tabs (each tab runs only while it is open). Yields the same
    AppTest after each run: inspect it before asking for the next view."""
    at = _page(at, page)
    key = TABS.get(page)
    if key is None:
        yield at
        return
    for label in [t.label for t in at.tabs]:
        at.session_state[key] = label
        yield at.run()


def test_auditor_sees_no_approve_control_anywhere(open_app: OpenApp, shared_demo: Path) -> None:
    at = open_app(shared_demo, "aude")
    for page, (_title, roles) in ACCESS.items():
        if roles is not None and "auditor" not in roles:
            continue
        for view in _every_view(at, page):
            assert not view.exception
            labels = [b.label for b in view.button] + [b.label for b in view.get("form_submit_button")]
            assert not [x for x in labels if "approve" in x.lower() or "reject" in x.lower()], (page, labels)
            assert "appr_dialog" not in view.session_state


@pytest.mark.parametrize("user", ["chloe", "aude", "dana"])
@pytest.mark.parametrize("page", sorted(TABS))
def test_every_tab_renders(open_app: OpenApp, shared_demo: Path, page: str, user: str) -> None:
    subheaders, charts, forms = [], [], []
    for view in _every_view(open_app(shared_demo, user), page):
        assert not view.exception, [e.value for e in view.exception]
        subheaders.append([h.value for h in view.subheader])
        charts.append(len(view.get("vega_lite_chart")))
        forms.append(len(view.get("form")))
    assert len(subheaders) >= 2
    if page == "model_card.py":
        assert "Model details" in subheaders[0] and "Quantitative analyses" in subheaders[1]
        assert "Training data" in subheaders[2] and "Stage history" in subheaders[3]
        assert charts[1] and not charts[0], "only the open metrics tab draws charts"
    else:
        assert bool(forms[1]) == (user == "chloe")  # only the compliance officer manages waivers


def test_model_card_and_lineage_render_for_every_choice(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app(shared_demo, "chloe"), "model_card.py")
    refs = at.selectbox(key="card_ref").options
    assert {"adult-income@1", "adult-income@2", "german-credit-scorer@1", "german-credit-scorer@2"} <= set(refs)
    for ref in refs:
        at.selectbox(key="card_ref").set_value(ref)
        at = at.run()
        assert not at.exception, (ref, [e.value for e in at.exception])
        assert at.metric[0].label == "Stage"
    at = _page(at, "lineage.py")
    for focus in at.selectbox(key="lineage_focus").options:
        at.selectbox(key="lineage_focus").set_value(focus)
        at = at.run()
        assert not at.exception, (focus, [e.value for e in at.exception])
        spec = at.get("graphviz_chart")[0].proto.spec
        assert "digraph" in spec and focus.split(":", 1)[1] in spec
        assert "\\\\n" not in spec  # line breaks in labels, not a printed backslash-n


def test_compliance_officer_approves_through_the_dialog(open_app: OpenApp, demo_db: Path,
                                                        demo_sessions: dict[str, Session]) -> None:
    cs, chloe = Countersign(demo_db), demo_sessions["chloe"]
    assert _stage(cs, chloe, *PENDING_MODEL) == "staging"
    at = _open_approve_dialog(open_app(demo_db, "chloe"))
    assert at.text_area(key="appr_comment").label == "Comment (required)"
    assert at.button(key="appr_confirm").label == "Confirm approve"
    # one click: the comment and the decision are submitted together (a form)
    at.text_area(key="appr_comment").input("Waiver and evidence reviewed; pilot scope confirmed.")
    at.button(key="appr_confirm").click()
    at = at.run()

    assert not at.exception
    assert any("is now in production" in s.value for s in at.success), [s.value for s in at.success]
    assert "appr_dialog" not in at.session_state
    assert not [b for b in at.button if b.label == "Approve"]  # the queue is empty now
    assert _stage(cs, chloe, *PENDING_MODEL) == "production"
    entry = cs.log(chloe, action="promotion.approved", limit=1)[0]
    assert (entry["actor"], entry["role"]) == ("chloe", "compliance_officer")
    assert entry["payload"]["model"] == "adult-income@2"
    assert entry["payload"]["comment"] == "Waiver and evidence reviewed; pilot scope confirmed."
    at = _page(at, "inventory.py")
    frame = at.dataframe[0].value
    row = frame[(frame["name"] == "adult-income") & (frame["version"] == "2")]
    assert list(row["stage"]) == ["production"]


@pytest.mark.parametrize("comment", ["", "   \n  "])
def test_confirm_is_impossible_without_a_comment(open_app: OpenApp, demo_db: Path,
                                                 demo_sessions: dict[str, Session], comment: str) -> None:
    cs, chloe = Countersign(demo_db), demo_sessions["chloe"]
    size = len(cs.log(chloe, limit=100_000))
    at = _open_approve_dialog(open_app(demo_db, "chloe"))
    assert at.text_area(key="appr_comment").proto.required  # the browser refuses to submit it empty
    if comment:
        at.text_area(key="appr_comment").input(comment)
    at.button(key="appr_confirm").click()  # and so does the server
    at = at.run()
    assert not at.exception
    assert not at.success and at.error
    assert len(cs.log(chloe, limit=100_000)) == size
    assert _stage(cs, chloe, *PENDING_MODEL) == "staging"
    assert cs.requests(chloe, pending=True)[0]["awaiting_me"]


def test_cancel_closes_the_dialog_and_writes_nothing(open_app: OpenApp, demo_db: Path,
                                                     demo_sessions: dict[str, Session]) -> None:
    cs, chloe = Countersign(demo_db), demo_sessions["chloe"]
    size = len(cs.log(chloe, limit=100_000))
    at = _open_approve_dialog(open_app(demo_db, "chloe"))
    at.text_area(key="appr_comment").input("changed my mind")
    at.button(key="appr_cancel").click()
    at = at.run()
    assert "appr_dialog" not in at.session_state
    assert not [t for t in at.text_area if t.key == "appr_comment"]
    assert len(cs.log(chloe, limit=100_000)) == size


def test_a_long_approval_queue_is_paginated(open_app: OpenApp, tmp_path: Path) -> None:
    from benchmarks.app_render import SMOKE, VIEWER, VIEWER_PW, build

    db, _ = build(tmp_path, "queue", {**SMOKE, "models": 16, "evaluations": 16, "pending": 7})
    at = _page(open_app(db, Countersign(db).login(VIEWER, VIEWER_PW)), "approvals.py")
    assert not at.exception
    assert at.subheader[0].value == "Awaiting my decision (7)"
    assert len(at.dataframe[0].value) == 7  # the whole queue at a glance
    assert len([b for b in at.button if b.label == "Approve"]) == 3
    at.number_input(key="appr_page").set_value(3)
    at = at.run()
    assert len([b for b in at.button if b.label == "Approve"]) == 1
    assert any("7–7 of 7" in c.value for c in at.caption)


def test_a_decision_refused_by_core_is_shown_as_an_error(open_app: OpenApp, demo_db: Path,
                                                         demo_sessions: dict[str, Session]) -> None:
    """Another compliance officer rejects the request while chloe's dialog is open: her confirm is refused."""
    cs = Countersign(demo_db)
    enrol(cs, demo_sessions["ada"], "carla", ["compliance_officer"], "carla-demo-pass")
    carla = cs.login("carla", "carla-demo-pass")
    at = _open_approve_dialog(open_app(demo_db, "chloe"))
    request_id = at.session_state["appr_dialog"][0]
    cs.reject(carla, request_id, comment="Mitigation plan missing.")
    at.text_area(key="appr_comment").input("Looks good to me.")
    at.button(key="appr_confirm").click()
    at = at.run()

    assert not at.exception
    assert any("already rejected" in e.value for e in at.error), [e.value for e in at.error]
    assert "appr_dialog" not in at.session_state
    assert not cs.log(carla, action="promotion.approved", actor="chloe", subject="model:adult-income@2")
    assert _stage(cs, carla, *PENDING_MODEL) == "staging"


def test_a_refused_promotion_request_is_shown_as_an_error(open_app: OpenApp, demo_db: Path,
                                                          demo_sessions: dict[str, Session]) -> None:
    at = _page(open_app(demo_db, "dana"), "approvals.py")
    at.selectbox(key="appr_req_model").set_value("adult-income@1")
    at.radio(key="appr_req_target").set_value("staging")
    at.text_input(key="appr_req_reason").input("Try again without a waiver.")
    _button(at, "Request promotion").click()  # (a data scientist also has the reinstatement form, above it)
    at = at.run()
    assert not at.exception
    assert at.error, "the gate's refusal must be shown"
    newest = Countersign(demo_db).log(demo_sessions["dana"], limit=1)[0]
    assert (newest["action"], newest["actor"]) == ("promotion.refused", "dana")


def test_a_revoked_role_loses_its_page_on_the_next_render(open_app: OpenApp, demo_db: Path,
                                                          demo_sessions: dict[str, Session]) -> None:
    at = _page(open_app(demo_db, "chloe"), "approvals.py")
    Countersign(demo_db).revoke(demo_sessions["ada"], "chloe", "compliance_officer")
    at = at.run()
    assert not at.exception
    assert at.title[0].value == "No access"  # chloe held only that role


def test_session_expiry_returns_to_the_sign_in_form(open_app: OpenApp, shared_demo: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from app import session

    at = open_app(shared_demo)
    inputs = {t.label: t for t in at.text_input}
    inputs["Username"].input("chloe")
    inputs["Password"].input("chloe-demo-pass")
    _button(at, "Sign in").click()
    at = at.run()
    assert at.title[0].value == "Model inventory"

    monkeypatch.setattr(session, "SESSION_TTL_S", 60.0)
    monkeypatch.setattr(session, "time", SimpleNamespace(time=lambda: time.time() + 61.0))  # 61 s of inactivity
    at = at.run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert any("session expired" in i.value for i in at.info)
    assert "auth_session" not in at.session_state


def test_auditor_generates_a_verifiable_regulator_export(open_app: OpenApp, demo_db: Path,
                                                         demo_sessions: dict[str, Session], tmp_path: Path) -> None:
    import io
    import zipfile

    from core.evidence.bundle_verify import verify_bundle

    at = _page(open_app(demo_db, "aude"), "reports.py")
    at.selectbox(key="rep_model").select("german-credit-scorer@1")
    at = at.run()
    _button(at, "Generate regulator export").click()
    at = at.run()
    assert not at.exception, [str(e.value) for e in at.exception]
    assert any("Export ready" in s.value for s in at.success)
    name, data, entries, statements, target = at.session_state["rep_zip"]
    assert name == "german-credit-scorer-1-regulator-export.zip" and entries > 0 and statements > 0
    assert target == "german-credit-scorer@1"
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert {n.split("/")[0] for n in archive.namelist()} == {"german-credit-scorer-1-regulator-export"}
    archive.extractall(tmp_path / "export")
    assert verify_bundle(tmp_path / "export" / "german-credit-scorer-1-regulator-export")["ok"]
    cs = Countersign(demo_db)
    assert cs.log(demo_sessions["aude"], action="report.generated", limit=1)[0]["actor"] == "aude"
