"""The permission matrix: every role against every action of the service.

For each (role, action) pair: if the role is listed in :data:`core.identity.roles.PERMISSIONS` for the action's
permission,
the call succeeds (the template database has every precondition: a pending request authored by someone else, a
production model to suspend, a waiver to revoke...); otherwise it raises :class:`PermissionDenied` (exit code 3)
naming the needed role(s), and the only new ledger row is one ``access.denied`` event.

One user per role (conftest's users); the models are registered and their promotions requested by ``dana``, so the
approving users (``lee``, ``chloe``) never meet a separation-of-duties rule.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.api.countersign import Countersign
from core.errors import PermissionDenied
from core.identity.roles import ALL_ROLES, PERMISSIONS, Permission
from core.identity.users import Session
from tests.conftest import ADMIN, USERS
from tests.core.releases.test_releases import (
    GERMAN_CARD,
    GERMAN_SHEET,
    HOUSE_V1,
    LABEL,
    STRICT,
    approve_all,
    ledger,
    new_database,
    prepare_german,
    train_german,
)

ROOT = Path(__file__).resolve().parents[3]
OPENLINEAGE = ROOT / "tests" / "fixtures" / "openlineage" / "run_events.jsonl"
#: The one user holding each role.
ACTOR = {"admin": ADMIN, "data_scientist": "dana", "ml_lead": "lee", "compliance_officer": "chloe",
         "auditor": "aude"}


@dataclass
class Template:
    path: Path
    folder: Path
    s: dict[str, Session]
    artifacts: dict[str, Path]
    data: Path
    request_id: str
    waiver_id: str


@pytest.fixture(autouse=True)
def _no_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COUNTERSIGN_WEBHOOK_URL", raising=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """Every precondition, built once: policies, evaluated models, a production model, a pending request by dana,
    a waiver, and the files the write actions need."""
    folder = tmp_path_factory.mktemp("permissions")
    data = prepare_german(folder / "data")
    artifacts = train_german(data, folder / "models", keys=("logreg",))
    (folder / "house-v1.yaml").write_text(HOUSE_V1.format(auc=0.70), encoding="utf-8")
    (folder / "house-v2.yaml").write_text(HOUSE_V1.format(auc=0.72).replace("version: 1", "version: 2"),
                                          encoding="utf-8")
    (folder / "strict.yaml").write_text(STRICT, encoding="utf-8")
    sheet = GERMAN_SHEET.read_text(encoding="utf-8")
    (folder / "datasheet.yaml").write_text(sheet.replace("Static historical data set, not maintained.",
                                                         "Reviewed yearly by the data platform team."))
    card = GERMAN_CARD.read_text(encoding="utf-8")
    (folder / "card.yaml").write_text(card.replace("Small, old sample with undocumented collection.",
                                                   "Small, old sample; not for lending decisions."))
    (folder / "extra.csv").write_text("x,label\n1,0\n2,1\n3,0\n", encoding="utf-8")

    path = folder / "template.duckdb"
    cs, s = new_database(path, USERS)
    with cs.store.held():
        request_id, waiver_id = _populate(cs, s, folder, data, artifacts)
    return Template(path, folder, s, artifacts, data, request_id, waiver_id)


def _populate(cs: Countersign, s: dict[str, Session], folder: Path, data: Path, artifacts: dict[str, Path]
              ) -> tuple[str, str]:
    dana, lee, chloe = s["dana"], s["lee"], s["chloe"]
    cs.register_dataset(dana, data, name="german-credit", version="1", datasheet=GERMAN_SHEET)
    cs.add_policy(chloe, folder / "house-v1.yaml")
    cs.add_policy(chloe, folder / "strict.yaml")
    for ref, policy in (("live@1", "house"), ("scorer@1", "house"), ("scorer@2", "house"), ("risky@1", "strict")):
        name, version = ref.split("@")
        cs.register_model(dana, artifacts["logreg"], name=name, version=version, trained_on=["german-credit@1"],
                          card=GERMAN_CARD, policy=policy)
        if policy == "house":
            assert cs.evaluate(dana, ref, data="german-credit@1", policy=policy, label=LABEL)["passed"]
    approve_all(cs, cs.promote(dana, "live@1", to="staging", reason="Candidate."), lee)
    approve_all(cs, cs.promote(dana, "live@1", to="production", reason="Ship."), lee, chloe)
    approve_all(cs, cs.promote(dana, "scorer@1", to="staging", reason="Candidate."), lee)
    request = cs.promote(dana, "scorer@1", to="production", reason="Ship.")
    until = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    waiver = cs.waive(chloe, "risky@1", check="auc-excellent", until=until, justification="Pilot only.")
    return request["request_id"], waiver["id"]


@pytest.fixture
def fresh(template: Template) -> Countersign:
    """A copy of the template (database, service secret, artifact store).

    Every case reuses one path: the service key, unsealed with scrypt on first use, is cached per process and path,
    so a new path per case would pay ~0.1-0.4 s for each refusal's ``access.denied`` signature.
    """
    target = template.folder / "case.duckdb"
    for leftover in (target.with_name(target.name + ".wal"), target.with_name(target.name + ".artifacts")):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink(missing_ok=True)
    for suffix in ("", ".service-secret"):
        shutil.copyfile(template.path.with_name(template.path.name + suffix), target.with_name(target.name + suffix))
    shutil.copytree(template.path.with_name(template.path.name + ".artifacts"),
                    target.with_name(target.name + ".artifacts"))
    return Countersign(target)


Call = Callable[[Countersign, Session, Template], Any]


@dataclass(frozen=True)
class Action:
    name: str
    permission: Permission
    call: Call
    #: ledger actions the first new entries must have on success (empty: a read, nothing is written)
    writes: tuple[str, ...] = ()


ACTIONS = [
    Action("user add", Permission.USER_MANAGE,
           lambda cs, u, t: cs.add_user(u, "newbie", ["auditor"]), ("user.added",)),
    Action("user grant", Permission.USER_MANAGE,
           lambda cs, u, t: cs.grant(u, "aude", "data_scientist"), ("user.role_granted",)),
    Action("user revoke", Permission.USER_MANAGE,
           lambda cs, u, t: cs.revoke(u, "aude", "auditor"), ("user.role_revoked",)),
    Action("dataset register", Permission.DATA_REGISTER,
           lambda cs, u, t: cs.register_dataset(u, t.folder / "extra.csv", name="extra", version="1"),
           ("dataset.registered",)),
    Action("datasheet edit", Permission.DATASHEET_EDIT,
           lambda cs, u, t: cs.edit_datasheet(u, "german-credit@1", t.folder / "datasheet.yaml"),
           ("dataset.datasheet_edited",)),
    Action("model register", Permission.MODEL_REGISTER,
           lambda cs, u, t: cs.register_model(u, t.artifacts["logreg"], name="fresh", version="1",
                                              trained_on=["german-credit@1"]), ("model.registered",)),
    Action("card edit", Permission.CARD_EDIT,
           lambda cs, u, t: cs.edit_card(u, "scorer@2", t.folder / "card.yaml"), ("model.model_card_edited",)),
    Action("lineage import", Permission.LINEAGE_IMPORT,
           lambda cs, u, t: cs.import_openlineage(u, OPENLINEAGE), ("lineage.imported",)),
    Action("policy add", Permission.POLICY_MANAGE,
           lambda cs, u, t: cs.add_policy(u, t.folder / "house-v2.yaml"), ("policy.added",)),
    Action("policy assign", Permission.POLICY_ASSIGN,
           lambda cs, u, t: cs.assign_policy(u, "unassigned", "house"), ("policy.assigned",)),
    Action("evaluate", Permission.EVALUATE,
           lambda cs, u, t: cs.evaluate(u, "scorer@2", data="german-credit@1", policy="house", label=LABEL),
           ("evaluation.recorded",)),
    Action("promote", Permission.PROMOTE_REQUEST,
           lambda cs, u, t: cs.promote(u, "scorer@2", to="staging", reason="Candidate."), ("promotion.requested",)),
    Action("approve", Permission.APPROVE,
           lambda cs, u, t: cs.approve(u, t.request_id, comment="Reviewed."), ("promotion.approved",)),
    Action("reject", Permission.APPROVE,
           lambda cs, u, t: cs.reject(u, t.request_id, comment="Not convinced."), ("promotion.rejected",)),
    Action("waive", Permission.WAIVE,
           lambda cs, u, t: cs.waive(u, "risky@1", check="auc-excellent",
                                     until=(datetime.now(UTC) + timedelta(days=10)).date().isoformat(),
                                     justification="Short pilot."), ("waiver.granted",)),
    Action("revoke waiver", Permission.WAIVE,
           lambda cs, u, t: cs.revoke_waiver(u, t.waiver_id, reason="Pilot over."), ("waiver.revoked",)),
    Action("suspend", Permission.SUSPEND,
           lambda cs, u, t: cs.suspend(u, "live@1", reason="Incident."), ("model.stage_changed", "model.suspended")),
    Action("monitor", Permission.MONITOR,
           lambda cs, u, t: cs.monitor(u, "live@1", data="german-credit@1", label=LABEL), ("monitoring.recorded",)),
    Action("mlflow sync", Permission.MLFLOW_SYNC, lambda cs, u, t: cs.sync_mlflow(u)),
    Action("mlflow check", Permission.MLFLOW_CHECK, lambda cs, u, t: cs.check_mlflow(u)),
    Action("log", Permission.READ, lambda cs, u, t: cs.log(u, limit=5)),
    Action("users", Permission.READ, lambda cs, u, t: cs.users(u)),
    Action("datasets", Permission.READ, lambda cs, u, t: cs.datasets(u)),
    Action("models", Permission.READ, lambda cs, u, t: cs.models(u)),
    Action("policies", Permission.READ, lambda cs, u, t: cs.policies(u)),
    Action("requests", Permission.READ, lambda cs, u, t: cs.requests(u, pending=True)),
    Action("history", Permission.READ, lambda cs, u, t: cs.history(u, "live")),
    Action("waivers", Permission.READ, lambda cs, u, t: cs.waivers(u, "risky@1")),
    Action("evaluations", Permission.READ, lambda cs, u, t: cs.evaluations(u, "scorer")),
    Action("lineage", Permission.READ, lambda cs, u, t: cs.lineage(u, "model:live@1")),
    Action("inventory", Permission.READ, lambda cs, u, t: cs.inventory(u)),
    Action("checkpoint", Permission.CHECKPOINT, lambda cs, u, t: cs.checkpoint(u)),
]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("action", ACTIONS, ids=[a.name.replace(" ", "-") for a in ACTIONS])
def test_permission_matrix(action: Action, role: str, template: Template, fresh: Countersign) -> None:
    user = template.s[ACTOR[role]]
    needed = PERMISSIONS[action.permission]
    # One connection for the whole case (each operation still runs in its own transaction): opening the file
    # costs more than most of these actions.
    with fresh.store.held():
        before = ledger(fresh)
        if role in needed:
            result = action.call(fresh, user, template)
            assert result is not None
            new = ledger(fresh, before[-1]["seq"])
            assert [e["action"] for e in new[:len(action.writes)]] == list(action.writes)
            assert all(e["actor"] == user.name and e["role"] == role for e in new), new
            if not action.writes:
                assert new == []
            return
        with pytest.raises(PermissionDenied) as info:
            action.call(fresh, user, template)
        after = ledger(fresh)
        service_key = fresh.keys()["service"]["key_id"]
    assert info.value.exit_code == 3
    assert info.value.needed_roles == needed
    assert f"the role {' or '.join(needed)} is needed" in info.value.message
    assert f"{user.name} holds {role}" in info.value.message
    assert len(after) == len(before) + 1 and after[:-1] == before
    assert (before[-1]["action"], after[-1]["action"]) == ("waiver.granted", "access.denied")
    denied = after[-1]
    assert (denied["actor"], denied["role"], denied["key_id"]) == (user.name, None, service_key)
    assert denied["payload"] == {"permission": str(action.permission), "needed_roles": list(needed),
                                 "held_roles": [role]}


#: Permissions whose actions are still being built elsewhere (core/evidence/report.py); add them to ACTIONS when they
#: settle.
IN_FLIGHT = {"report.export"}


def test_the_matrix_covers_every_permission() -> None:
    covered = {a.permission.value for a in ACTIONS}
    assert {p.value for p in Permission} - covered <= IN_FLIGHT
    assert covered <= {p.value for p in Permission}
