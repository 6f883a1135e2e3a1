"""One place for role rules (issue 15, point 5): the app asks core's session (``Session.can(permission)``, backed by
:data:`core.identity.roles.PERMISSIONS`) and never names a role itself.

* For every role, the pages the navigation lists, the pages the router opens, and the actions the Approvals page
  shows are exactly what ``Session.can`` answers for that role.
* Where the app used to disagree with core, it now follows core: an ML lead may suspend a production version (core's
  ``suspend`` checks ``Permission.SUSPEND``: compliance officers and ML leads), and whoever may request promotions
  or suspend may ask for a suspended version back (core's ``reinstate``).
* No file under ``app/`` names a role: no role name as a string, no ``Role`` member, no membership test or
  intersection over a set of roles.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from app.access import NAVIGATION
from core.api.countersign import Countersign
from core.display.words import role_words
from core.identity.roles import ALL_ROLES, PERMISSIONS, Permission
from core.identity.users import Session
from tests.app.conftest import OpenApp
from tests.app.demo_db import USER_OF

APP = Path(__file__).resolve().parents[2] / "app"
APPROVALS = "app_pages/approvals.py"
PENDING = ("adult-income", "2", "production")  # the demo's open request, by dana, awaiting chloe


def _record_navigation(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Patch ``st.navigation`` to record the pages the router registers on each run (AppTest shows no sidebar
    navigation); the real ``st.navigation`` still routes."""
    runs: list[list[Any]] = []
    real: Callable[..., Any] = streamlit.navigation

    def recording(pages: list[Any], *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        runs.append(list(pages))
        return real(pages, *args, **kwargs)

    monkeypatch.setattr(streamlit, "navigation", recording)
    return runs


def _may(session: Session, needed: tuple[Permission, ...] | None) -> bool:
    return needed is None or any(session.can(p) for p in needed)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_navigation_lists_and_opens_what_the_session_can(role: str, open_app: OpenApp, shared_demo: Path,
                                                             demo_sessions: dict[str, Session],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    user = USER_OF[role]
    me = demo_sessions[user]
    assert me.roles == (role,)
    runs = _record_navigation(monkeypatch)
    at = open_app(shared_demo, user)
    assert not at.exception, [e.value for e in at.exception]
    registered = {p.url_path: p for p in runs[-1]}
    for file, title, _icon, needed in NAVIGATION:
        page = registered[file.removesuffix(".py")]
        assert (page.visibility == "visible") == _may(me, needed), (role, file)
        if file == "users.py":
            assert page.title == ("Users" if me.can(Permission.USER_MANAGE) else "Your account")
        # A URL for a page the session may not open says whose page it is (the roles core's table gives), and
        # runs nothing of it; one it may open runs.
        at.switch_page(f"app_pages/{file}")
        at.run()
        assert not at.exception, (file, [e.value for e in at.exception])
        refusals = [w.value for w in at.warning if "page is open to" in w.value]
        if _may(me, needed):
            assert not refusals, (role, file, refusals)
        else:
            holders = sorted({str(r) for p in needed or () for r in PERMISSIONS[p]})
            assert refusals and at.title[0].value == title, (role, file)
            assert f"open to {' or '.join(map(role_words, holders))} only" in refusals[0].replace("\\", "")


def _labels(at: AppTest) -> set[str]:
    return {b.label for b in at.button}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_approvals_actions_shown_are_what_the_session_can(role: str, open_app: OpenApp, shared_demo: Path,
                                                              demo_sessions: dict[str, Session]) -> None:
    user = USER_OF[role]
    me = demo_sessions[user]
    at = open_app(shared_demo, user)
    at.switch_page(APPROVALS)
    at = at.run()
    assert not at.exception, [e.value for e in at.exception]
    opened = not any("page is open to" in w.value for w in at.warning)
    labels, headers = _labels(at), {s.value.split(" (")[0] for s in at.subheader}
    decide, request, suspend = me.can(Permission.APPROVE), me.can(Permission.PROMOTE_REQUEST), \
        me.can(Permission.SUSPEND)
    assert opened == (decide or request or suspend)
    assert ("Awaiting my decision" in headers) == decide
    assert ("Request promotion" in labels) == request
    assert ("Suspend" in labels) == suspend
    assert ("Request reinstatement" in labels) == (request or suspend)  # core's reinstate: either permission
    # The decision buttons show only where core would take the decision (and only on requests awaiting me).
    assert {"Approve", "Request changes", "Reject"} & labels <= ({"Approve", "Request changes", "Reject"}
                                                                 if decide else set())
    if not opened:
        return
    # One request opened by its permalink: the thread is open to its requester (who may request promotions) and to
    # reviewers (who may decide), as core's comment checks it.
    cs = Countersign(shared_demo)
    request = next(r for r in cs.requests(me, pending=True)
                   if (r["model_name"], r["model_version"], r["target_stage"]) == PENDING)
    at.query_params["request"] = request["id"]
    at = at.run()
    assert not at.exception, [e.value for e in at.exception]
    mine = request["requested_by"] == user  # not a reinstatement: SUSPEND does not open its thread
    writes = me.can(Permission.PROMOTE_REQUEST) if mine else decide
    assert ("Comment" in _labels(at)) == writes, (role, _labels(at))
    assert ("Approve" in _labels(at)) == (decide and request["awaiting_me"])


def test_an_ml_lead_suspends_as_core_permits(open_app: OpenApp, demo_db: Path,
                                             demo_sessions: dict[str, Session]) -> None:
    """The app used to show the Suspend form to compliance officers only; core's ``suspend`` checks
    ``Permission.SUSPEND``, which ML leads hold too. The app now offers it to them, and core accepts."""
    lee = demo_sessions["lee"]
    assert lee.can(Permission.SUSPEND) and "ml_lead" in PERMISSIONS[Permission.SUSPEND]
    at = open_app(demo_db, "lee")
    at.switch_page(APPROVALS)
    at = at.run()
    assert "Suspend or reinstate" in [s.value for s in at.subheader]
    at.selectbox(key="appr_suspend_ref").set_value("german-credit-scorer@1")
    at.text_input(key="appr_suspend_reason").input("Drift alarm under review.")
    next(b for b in at.button if b.label == "Suspend").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("is suspended" in s.value for s in at.success)
    cs = Countersign(demo_db)
    stage = next(r["stage"] for r in cs.inventory(lee) if (r["name"], r["version"]) == ("german-credit-scorer", "1"))
    assert stage == "suspended"
    entry = cs.log(lee, limit=5)
    assert any(e["action"] == "model.suspended" and e["actor"] == "lee" and e["role"] == "ml_lead" for e in entry)


def test_a_data_scientist_asks_for_a_suspended_version_back(open_app: OpenApp, demo_db: Path,
                                                           demo_sessions: dict[str, Session]) -> None:
    """Core's ``reinstate`` lets whoever may request promotions ask; the app used to offer it to compliance
    officers only. A data scientist now sees the reinstatement form (and no Suspend), and core accepts."""
    dana = demo_sessions["dana"]
    cs = Countersign(demo_db)
    cs.evaluate(dana, "german-credit-scorer@2", data="german-credit@1", policy="default", label="good_credit")
    at = open_app(demo_db, "dana")
    at.switch_page(APPROVALS)
    at = at.run()
    assert "Reinstate a suspended version" in [s.value for s in at.subheader]
    assert "Suspend" not in _labels(at)
    at.selectbox(key="appr_reinstate_ref").set_value("german-credit-scorer@2")
    at.text_input(key="appr_reinstate_reason").input("Complaint review closed: no model fault.")
    next(b for b in at.button if b.label == "Request reinstatement").click()
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("to reinstate german-credit-scorer@2 is open" in s.value.replace("\\", "") for s in at.success)
    request = next(r for r in cs.requests(dana, pending=True) if r["model_name"] == "german-credit-scorer")
    assert (request["requested_by"], request["from_stage"]) == ("dana", "suspended")


# ------------------------------------------------------------------------------------- no role rules in the app
def _app_files() -> list[Path]:
    files = sorted(APP.rglob("*.py"))
    assert len(files) > 10, files
    return files


def _mentions_roles(node: ast.AST) -> bool:
    """Whether an expression reads a set of roles: ``roles``, ``….roles``, ``roles()``, ``x["roles"]``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in ("roles", "held"):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "roles":
            return True
        if isinstance(sub, ast.Constant) and sub.value == "roles":
            return True
    return False


def role_rules(source: str) -> list[str]:
    """What in ``source`` decides by role name instead of asking a permission, one description per finding."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and node.value in ALL_ROLES:
            found.append(f"line {line}: the role name {node.value!r}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Role":
            found.append(f"line {line}: Role.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and any(a.name in ("Role", "acting_role") for a in node.names):
            found.append(f"line {line}: imports {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) and \
                any(_mentions_roles(c) for c in node.comparators):
            found.append(f"line {line}: a membership test on roles")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.Sub | ast.BitOr) and \
                (_mentions_roles(node.left) or _mentions_roles(node.right)):
            found.append(f"line {line}: set arithmetic on roles")
    return found


def test_the_static_check_finds_the_old_role_rules() -> None:
    old = '''
can_decide = bool(roles & {"ml_lead", "compliance_officer"})
can_suspend = "compliance_officer" in roles
is_admin = "admin" in session.roles()
if file == "users.py" and roles and Role.ADMIN not in user.roles:
    pass
'''
    found = role_rules(old)
    assert sum("role name" in f for f in found) == 4
    assert sum("membership test" in f for f in found) == 3
    assert any("set arithmetic" in f for f in found) and any("Role.ADMIN" in f for f in found)
    assert not role_rules('can_decide = user.can(Permission.APPROVE)\nwords = ", ".join(map(role_words, roles))\n')


def test_no_file_under_app_names_a_role() -> None:
    findings = {str(f.relative_to(APP)): role_rules(f.read_text()) for f in _app_files()}
    assert not {f: found for f, found in findings.items() if found}, findings
