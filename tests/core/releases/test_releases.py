"""Releases through the public API: the policy gate, approvals with separation of duties, waivers, suspension,
reinstatement and rollback, monitoring, the production history rebuilt from the ledger, and signed webhooks.

Real scikit-learn models trained once per module on the real German credit data (``data/german-credit``); one
template database per module, copied per test.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.api.countersign import Countersign
from core.demo import data as demo_data
from core.demo.seed import enrol
from core.errors import BadInput, CheckFailed, NotAuthenticated, PermissionDenied, SeparationOfDuties
from core.identity.users import Session
from core.ledger.chain import decode_row
from core.releases import clock, webhooks
from core.releases.promotions import GateRefused, ReleaseService
from tests.conftest import ADMIN, ADMIN_PW, USERS

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_POLICY = ROOT / "policies" / "default.yaml"
GERMAN_CARD = demo_data.DATA_DIR / "cards" / "german-credit.yaml"
GERMAN_SHEET = demo_data.DATA_DIR / "datasheets" / "german-credit.yaml"
LABEL = demo_data.GERMAN_LABEL
FEATURES = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL

#: Users beyond conftest's one-per-role: people holding two roles, and a second ML lead.
EXTRA_USERS = {
    "max": (["data_scientist", "ml_lead"], "max-password"),
    "lena": (["ml_lead"], "lena-password"),
    "bo": (["ml_lead", "compliance_officer"], "bo-password"),
}

HOUSE_V1 = """\
policy: house
version: 1
description: Test gate on German credit - performance only, so evaluations are fast.
max_evaluation_age_days: 30
max_waiver_days: 30
checks:
  - id: auc
    metric: roc_auc
    gte: {auc}
  - id: balanced-accuracy
    metric: balanced_accuracy
    gte: 0.60
    severity: warn
approvals:
  staging: {{roles: [ml_lead]}}
  production: {{roles: [ml_lead, compliance_officer]}}
"""

STRICT = """\
policy: strict
version: 1
description: A bar the German models cannot clear, to exercise waivers.
max_waiver_days: 30
checks:
  - id: auc
    metric: roc_auc
    gte: 0.70
  - id: auc-excellent
    metric: roc_auc
    gte: 0.95
"""


# ----------------------------------------------------------------------------------------------- data and models
def prepare_german(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "german_credit.csv"
    demo_data.prepare_german(demo_data.DATA_DIR / "german-credit" / "german.data",
                             demo_data.DATA_DIR / "german-credit" / "values_maps.json", target)
    return target


def flip_labels(source: Path, target: Path) -> Path:
    """A copy of ``source`` whose labels are inverted: the model now performs badly on it."""
    with source.open(encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        reader, writer = csv.DictReader(src), None
        for row in reader:
            if writer is None:
                writer = csv.DictWriter(dst, fieldnames=list(row), lineterminator="\n")
                writer.writeheader()
            row[LABEL] = "0" if row[LABEL] == "1" else "1"
            writer.writerow(row)
    return target


def train_german(data: Path, folder: Path, keys: tuple[str, ...] = ("logreg", "l1")) -> dict[str, Path]:
    """The demo's German credit scorers (logistic regression, and a sparser L1 variant), saved with skops."""
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(data)
    out = {}
    for key, estimator in (("logreg", LogisticRegression(max_iter=2000)),
                           ("l1", LogisticRegression(max_iter=2000, C=0.5, solver="liblinear", l1_ratio=1.0))):
        if key not in keys:
            continue
        model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL, estimator)
        model.fit(frame[FEATURES], frame[LABEL])
        out[key] = folder / f"german-{key}.skops"
        sio.dump(model, out[key])
    return out


# ----------------------------------------------------------------------------------------------- databases
def copy_db(template: Path, target: Path) -> Countersign:
    """Copy a template database with its service secret and artifact store."""
    for suffix in ("", ".service-secret"):
        shutil.copyfile(template.with_name(template.name + suffix), target.with_name(target.name + suffix))
    store = template.with_name(template.name + ".artifacts")
    if store.exists():
        shutil.copytree(store, target.with_name(target.name + ".artifacts"))
    return Countersign(target)


def new_database(path: Path, users: dict[str, tuple[list[str], str]]) -> tuple[Countersign, dict[str, Session]]:
    """A database with the admin and ``users``; sessions (keys are the same in every copy) for all of them."""
    cs = Countersign.init(path, admin=ADMIN, password=ADMIN_PW, origin="releases.test/log",
                          checkpoint_interval=1000)
    sessions = {ADMIN: cs.login(ADMIN, ADMIN_PW)}
    for name, (roles, password) in users.items():
        sessions[name] = enrol(cs, sessions[ADMIN], name, roles, password)
    return cs, sessions


def ledger(cs: Countersign, after: int = -1) -> list[dict[str, Any]]:
    """Ledger entries with ``seq > after``, oldest first."""
    with cs.store.reader() as tx:
        rows = tx.ledger_search(limit=1_000_000, newest_first=False)
    return [decode_row(r) for r in rows if r.seq > after]


def head(cs: Countersign) -> int:
    with cs.store.reader() as tx:
        return tx.ledger_max_seq()


def query(cs: Countersign, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with cs.store.reader() as tx:
        cursor = tx.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def stage(cs: Countersign, s: Session, ref: str) -> dict[str, Any] | None:
    name, _, version = ref.partition("@")
    return next((r for r in cs.stages(s) if r["model_name"] == name and r["model_version"] == version), None)


@dataclass
class World:
    template: Path
    s: dict[str, Session]
    artifacts: dict[str, Path]
    folder: Path


@pytest.fixture(autouse=True)
def _no_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("COUNTERSIGN_WEBHOOK_URL", "COUNTERSIGN_WEBHOOK_SECRET", "COUNTERSIGN_WEBHOOK_WAIT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Users, the German credit data (and a label-flipped copy), policies, and three evaluated models."""
    folder = tmp_path_factory.mktemp("releases")
    data = prepare_german(folder / "data")
    flipped = flip_labels(data, folder / "data" / "german_flipped.csv")
    artifacts = train_german(data, folder / "models")
    (folder / "house-v1.yaml").write_text(HOUSE_V1.format(auc=0.70), encoding="utf-8")
    (folder / "house-v2.yaml").write_text(HOUSE_V1.format(auc=0.72).replace("version: 1", "version: 2"),
                                          encoding="utf-8")
    (folder / "strict.yaml").write_text(STRICT, encoding="utf-8")

    template = folder / "template.duckdb"
    cs, s = new_database(template, {**USERS, **EXTRA_USERS})
    with cs.store.held():
        _populate(cs, s, folder, data, flipped, artifacts)
    return World(template, s, artifacts, folder)


def _populate(cs: Countersign, s: dict[str, Session], folder: Path, data: Path, flipped: Path,
              artifacts: dict[str, Path]) -> None:
    dana, chloe = s["dana"], s["chloe"]
    cs.register_dataset(dana, data, name="german-credit", version="1", datasheet=GERMAN_SHEET)
    cs.register_dataset(dana, flipped, name="german-flipped", version="1", derived_from=["german-credit@1"])
    cs.add_policy(chloe, DEFAULT_POLICY)
    cs.add_policy(chloe, folder / "house-v1.yaml")
    cs.add_policy(chloe, folder / "strict.yaml")
    for ref, artifact, policy in (("scorer@1", "logreg", "house"), ("scorer@2", "l1", "house"),
                                  ("risky@1", "logreg", "strict")):
        name, version = ref.split("@")
        cs.register_model(dana, artifacts[artifact], name=name, version=version, trained_on=["german-credit@1"],
                          card=GERMAN_CARD, policy=policy)
        result = cs.evaluate(dana, ref, data="german-credit@1", policy=policy, label=LABEL)
        assert result["passed"] is (policy == "house"), result["failed_block_checks"]
    # A model registered by max, who also holds ml_lead.
    cs.register_model(s["max"], artifacts["l1"], name="maxs", version="1", trained_on=["german-credit@1"],
                      card=GERMAN_CARD, policy="house")
    assert cs.evaluate(dana, "maxs@1", data="german-credit@1", policy="house", label=LABEL)["passed"]


@pytest.fixture
def cs(world: World, tmp_path: Path) -> Iterator[Countersign]:
    """A copy of the template, kept open for the whole test (``held``: every operation still runs in its own
    transaction, but the ~35 ms CPU of opening the DuckDB file is paid once, not per operation)."""
    service = copy_db(world.template, tmp_path / "ledger.duckdb")
    with service.store.held():
        yield service


@pytest.fixture
def opened_per_operation(world: World, tmp_path: Path) -> Countersign:
    """A copy of the template used the way the CLI uses it: the file is opened for each operation."""
    return copy_db(world.template, tmp_path / "ledger.duckdb")


@pytest.fixture
def s(world: World) -> dict[str, Session]:
    return world.s


def approve_all(cs: Countersign, request: dict[str, Any], *approvers: Session) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for who in approvers:
        result = cs.approve(who, request["request_id"], comment=f"Reviewed by {who.name}: evidence is adequate.")
    return result


def release(cs: Countersign, s: dict[str, Session], ref: str, requester: str = "dana") -> dict[str, Any]:
    """staging (ML lead) then production (ML lead and compliance officer)."""
    approve_all(cs, cs.promote(s[requester], ref, to="staging", reason="Candidate."), s["lee"])
    return approve_all(cs, cs.promote(s[requester], ref, to="production", reason="Ship it."), s["lee"], s["chloe"])


def refused(cs: Countersign, s: Session, ref: str, to: str = "staging") -> list[str]:
    """Promote expecting a gate refusal; check the refusal entry; return the reasons."""
    before = head(cs)
    with pytest.raises(GateRefused) as info:
        cs.promote(s, ref, to=to, reason="Try.")
    assert info.value.exit_code == 1
    new = ledger(cs, before)
    assert [e["action"] for e in new] == ["promotion.refused"]
    assert new[0]["actor"] == s.name and new[0]["payload"]["reasons"] == info.value.reasons
    for reason in info.value.reasons:
        assert reason in info.value.message
    return info.value.reasons


# ----------------------------------------------------------------------------------------------- end to end
def test_end_to_end_release_history_and_verification(world: World, opened_per_operation: Countersign,
                                                      s: dict[str, Session]) -> None:
    cs = opened_per_operation
    dana, lee, chloe, max_ = s["dana"], s["lee"], s["chloe"], s["max"]
    name = "german-credit-scorer"
    # v1 is registered without its model card: the shipped default policy's documentation check fails.
    cs.register_model(dana, world.artifacts["logreg"], name=name, version="1", trained_on=["german-credit@1"],
                      policy="default", risk_tier="high")
    first = cs.evaluate(dana, f"{name}@1", data="german-credit@1", policy="default", label=LABEL)
    assert first["verdict"] == "fail" and first["failed_block_checks"] == ["documentation"]

    before = head(cs)
    with pytest.raises(CheckFailed) as info:
        cs.promote(dana, f"{name}@1", to="production", reason="Straight to production.")
    assert isinstance(info.value, GateRefused) and info.value.exit_code == 1
    reasons = info.value.reasons
    assert len(reasons) == 2
    assert "stage 'registered'" in reasons[0] and "staging" in reasons[0]
    assert "block check 'documentation' failed" in reasons[1] and "no active waiver" in reasons[1]
    new = ledger(cs, before)
    assert [(e["action"], e["actor"], e["role"]) for e in new] == [("promotion.refused", "dana", "data_scientist")]
    assert new[0]["payload"] == {"model": f"{name}@1", "to_stage": "production", "reasons": reasons}
    assert cs.requests(dana) == []

    # v2 has its card and passes; staging, then production with two approvals.
    cs.register_model(dana, world.artifacts["l1"], name=name, version="2", trained_on=["german-credit@1"],
                      card=GERMAN_CARD, policy="default", risk_tier="high")
    second = cs.evaluate(dana, f"{name}@2", data="german-credit@1", policy="default", label=LABEL)
    assert second["verdict"] == "pass"
    staged = approve_all(cs, cs.promote(dana, f"{name}@2", to="staging", reason="Candidate scorer."), lee)
    assert staged["status"] == "approved"
    request = cs.promote(max_, f"{name}@2", to="production", reason="Passed staging review.")
    assert request["required_roles"] == ["ml_lead", "compliance_officer"]
    assert request["evaluation_id"] == second["id"] and request["policy"] == {"name": "default", "version": 1}
    partial = cs.approve(lee, request["request_id"], comment="Metrics and card reviewed.")
    assert (partial["status"], partial["role"], partial["remaining_roles"]) == (
        "pending", "ml_lead", ["compliance_officer"])

    # The requester holds ml_lead too, but may not decide his own request.
    before = head(cs)
    with pytest.raises(PermissionDenied) as denied:
        cs.approve(max_, request["request_id"], comment="Looks fine to me.")
    assert isinstance(denied.value, SeparationOfDuties) and denied.value.exit_code == 3
    new = ledger(cs, before)
    assert [(e["action"], e["actor"], e["role"]) for e in new] == [("access.denied", "max", None)]
    assert "separation of duties" in new[0]["payload"]["rule"]
    assert new[0]["payload"]["permission"] == "promotion.decide"
    assert new[0]["subject"] == f"request:{request['request_id']}"
    pending = next(r for r in cs.requests(dana) if r["id"] == request["request_id"])
    assert pending["status"] == "pending" and [d["approver"] for d in pending["decisions"]] == ["lee"]

    done = cs.approve(chloe, request["request_id"], comment="Compliance review complete.")
    assert (done["status"], done["role"]) == ("approved", "compliance_officer")
    assert stage(cs, dana, f"{name}@2")["stage"] == "production"

    # v3 replaces v2: v2 is retired in the same transaction as v3 enters production.
    cs.register_model(dana, world.artifacts["logreg"], name=name, version="3", trained_on=["german-credit@1"],
                      card=GERMAN_CARD, policy="default", risk_tier="high")
    assert cs.evaluate(dana, f"{name}@3", data="german-credit@1", policy="default", label=LABEL)["passed"]
    approve_all(cs, cs.promote(dana, f"{name}@3", to="staging", reason="Denser model."), lee)
    replace = cs.promote(dana, f"{name}@3", to="production", reason="Replaces v2.")
    cs.approve(lee, replace["request_id"], comment="OK.")
    before = head(cs)
    final = cs.approve(chloe, replace["request_id"], comment="OK for production.")
    new = ledger(cs, before)
    assert [(e["seq"], e["action"], e["payload"].get("version"), e["payload"].get("to_stage")) for e in new] == [
        (final["seq"], "promotion.approved", None, "production"),
        (final["seq"] + 1, "model.stage_changed", "2", "retired"),
        (final["seq"] + 2, "model.stage_changed", "3", "production"),
    ]
    assert new[1]["payload"]["from_stage"] == "production" and new[1]["payload"]["request_id"] == replace["request_id"]
    assert {e["actor"] for e in new} == {"chloe"}
    assert stage(cs, dana, f"{name}@2")["stage"] == "retired"

    suspended = cs.suspend(chloe, f"{name}@3", reason="Complaint review: unexplained declines.")
    assert suspended["stage"] == "suspended"
    changes = [e for e in ledger(cs) if e["action"] == "model.stage_changed" and e["payload"]["name"] == name]
    moments = {(e["payload"]["version"], e["payload"]["to_stage"]): e["ts"] for e in changes}

    def at(moment: str) -> dict[str, Any]:
        return cs.history(s["aude"], name, at=moment)

    before_production = at(moments[("2", "staging")])
    assert before_production["production"] is None
    assert {v: x["stage"] for v, x in before_production["versions"].items()} == {"2": "staging"}

    while_v2 = at(moments[("2", "production")])
    assert while_v2["production"] == "2"
    v2 = while_v2["versions"]["2"]
    assert v2["requested_by"] == "max" and v2["evaluation_id"] == second["id"]
    assert [(a["name"], a["role"]) for a in v2["approvers"]] == [("lee", "ml_lead"), ("chloe", "compliance_officer")]
    assert v2["policy"] == {"name": "default", "version": 1}

    after_replacement = at(moments[("3", "production")])
    assert after_replacement["production"] == "3"
    assert {v: x["stage"] for v, x in after_replacement["versions"].items()} == {"2": "retired", "3": "production"}

    after_suspension = at(moments[("3", "suspended")])
    assert after_suspension["production"] is None
    assert {v: x["stage"] for v, x in after_suspension["versions"].items()} == {"2": "retired", "3": "suspended"}
    now = cs.history(s["aude"], name)
    assert now["versions"] == after_suspension["versions"] and now["at"] is None
    assert [(t["version"], t["from_stage"], t["to_stage"]) for t in now["timeline"]] == [
        ("2", "registered", "staging"), ("2", "staging", "production"), ("3", "registered", "staging"),
        ("2", "production", "retired"), ("3", "staging", "production"), ("3", "production", "suspended")]
    assert cs.history(s["aude"], name, at="2000-01-01")["versions"] == {}

    report = cs.verify()
    assert report.ok, report.problems


def test_replacement_is_one_transaction(cs: Countersign, s: dict[str, Session], monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    """If entering production fails after the previous version was retired, nothing of the approval remains."""
    release(cs, s, "scorer@1")
    approve_all(cs, cs.promote(s["dana"], "scorer@2", to="staging", reason="Next."), s["lee"])
    request = cs.promote(s["dana"], "scorer@2", to="production", reason="Replace.")
    cs.approve(s["lee"], request["request_id"], comment="OK.")
    original = ReleaseService._set_stage

    def failing(self: ReleaseService, tx: Any, session: Session, role: str | None, name: str, version: str,
                target: str, *args: Any, **kwargs: Any) -> int:
        if target == "production":
            raise RuntimeError("disk full")
        return original(self, tx, session, role, name, version, target, *args, **kwargs)

    monkeypatch.setattr(ReleaseService, "_set_stage", failing)
    before = head(cs)
    with pytest.raises(RuntimeError):
        cs.approve(s["chloe"], request["request_id"], comment="OK for production.")
    monkeypatch.setattr(ReleaseService, "_set_stage", original)
    assert head(cs) == before
    assert stage(cs, s["dana"], "scorer@1")["stage"] == "production"
    assert stage(cs, s["dana"], "scorer@2")["stage"] == "staging"
    assert cs.approve(s["chloe"], request["request_id"], comment="OK for production.")["status"] == "approved"
    assert stage(cs, s["dana"], "scorer@1")["stage"] == "retired"


# ----------------------------------------------------------------------------------------------- gate rules
def test_no_governing_policy_is_refused(world: World, cs: Countersign, s: dict[str, Session]) -> None:
    cs.register_model(s["dana"], world.artifacts["logreg"], name="orphan", version="1",
                      trained_on=["german-credit@1"], card=GERMAN_CARD)
    cs.evaluate(s["dana"], "orphan@1", data="german-credit@1", policy="house", label=LABEL)
    reasons = refused(cs, s["dana"], "orphan@1")
    assert len(reasons) == 1 and "has no governing policy" in reasons[0]
    cs.assign_policy(s["chloe"], "orphan", "house")
    assert cs.promote(s["dana"], "orphan@1", to="staging", reason="Now governed.")["status"] == "pending"


def test_evaluation_must_be_of_this_artifact(world: World, cs: Countersign, s: dict[str, Session]) -> None:
    cs.register_model(s["dana"], world.artifacts["logreg"], name="scorer", version="3",
                      trained_on=["german-credit@1"], card=GERMAN_CARD)
    reasons = refused(cs, s["dana"], "scorer@3")
    assert reasons == ["scorer@3 has no evaluation; run 'countersign evaluate'"]
    # An evaluation whose recorded artifact digest differs from the registered artifact does not count.
    with cs.store.transaction() as tx:
        tx.con.execute("UPDATE evaluations SET artifact_digest = ? WHERE model_name = 'scorer' AND "
                       "model_version = '1'", ["0" * 64])
    reasons = refused(cs, s["dana"], "scorer@1")
    assert len(reasons) == 1 and f"ran on artifact {'0' * 64}" in reasons[0]


def test_new_policy_version_requires_new_evaluation_and_flags_released_versions(
        world: World, cs: Countersign, s: dict[str, Session]) -> None:
    dana, chloe = s["dana"], s["chloe"]
    release(cs, s, "scorer@1")
    approve_all(cs, cs.promote(dana, "scorer@2", to="staging", reason="Next."), s["lee"])
    cs.register_model(dana, world.artifacts["logreg"], name="scorer", version="3", trained_on=["german-credit@1"],
                      card=GERMAN_CARD)  # registered only: not flagged

    before = head(cs)
    added = cs.add_policy(chloe, world.folder / "house-v2.yaml")
    assert added["created"] and added["version"] == 2
    assert sorted(added["flagged_for_revalidation"]) == ["scorer@1", "scorer@2"]
    new = ledger(cs, before)
    assert [e["action"] for e in new] == ["policy.added", "model.revalidation_required",
                                          "model.revalidation_required"]
    assert {e["payload"]["model"] for e in new[1:]} == {"scorer@1", "scorer@2"}
    assert all("house@2" in e["payload"]["reason"] for e in new[1:])
    flags = {f"{r['model_name']}@{r['model_version']}": r["revalidation_required"] for r in cs.stages(dana)}
    assert flags == {"scorer@1": True, "scorer@2": True}

    reasons = refused(cs, dana, "scorer@2", to="production")
    assert len(reasons) == 1
    assert "under house@1; the active policy is house@2" in reasons[0] and "evaluate again" in reasons[0]
    again = cs.evaluate(dana, "scorer@2", data="german-credit@1", policy="house", label=LABEL)
    assert again["policy"]["version"] == 2
    request = cs.promote(dana, "scorer@2", to="production", reason="Re-evaluated under house@2.")
    assert request["policy"] == {"name": "house", "version": 2}


def test_stale_evaluation_is_refused(cs: Countersign, s: dict[str, Session], monkeypatch: pytest.MonkeyPatch) -> None:
    real = datetime.now(UTC)
    monkeypatch.setattr(clock, "now", lambda: real + timedelta(days=31))
    reasons = refused(cs, s["dana"], "scorer@1")
    assert len(reasons) == 1 and "is 31 days old; the policy allows 30" in reasons[0]
    monkeypatch.setattr(clock, "now", lambda: real + timedelta(days=29))
    assert cs.promote(s["dana"], "scorer@1", to="staging", reason="Fresh enough.")["status"] == "pending"


def test_active_waiver_lets_a_failing_block_check_through(cs: Countersign, s: dict[str, Session]) -> None:
    reasons = refused(cs, s["dana"], "risky@1")
    assert len(reasons) == 1 and "block check 'auc-excellent' failed" in reasons[0]
    # in words, to 4 decimals: "(ROC AUC 0.8123; it must be at least 0.9500)"
    assert re.search(r"\(ROC AUC \d\.\d{4}; it must be at least 0\.9500\)", reasons[0]), reasons[0]
    assert not re.search(r"roc_auc|\bgte\b|\d\.\d{5}", reasons[0]), reasons[0]
    until = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    waiver = cs.waive(s["chloe"], "risky@1", check="auc-excellent", until=until,
                      justification="Pilot on aggregate statistics only.")
    assert ledger(cs, head(cs) - 1)[0]["action"] == "waiver.granted"
    request = cs.promote(s["dana"], "risky@1", to="staging", reason="Pilot under waiver.")
    assert request["waivers"] == [{"id": waiver["id"], "check": "auc-excellent", "until": until}]
    [listed] = cs.waivers(s["aude"], "risky@1")
    assert listed["active"] and listed["id"] == waiver["id"]


def test_expired_waiver_does_not_count(cs: Countersign, s: dict[str, Session], monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    until = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    cs.waive(s["chloe"], "risky@1", check="auc-excellent", until=until, justification="One day only.")
    real = datetime.now(UTC)
    monkeypatch.setattr(clock, "now", lambda: real + timedelta(days=3))
    reasons = refused(cs, s["dana"], "risky@1")
    assert len(reasons) == 1 and "'auc-excellent'" in reasons[0] and "no active waiver" in reasons[0]
    assert not cs.waivers(s["aude"], "risky@1")[0]["active"]


def test_revoked_waiver_does_not_count(cs: Countersign, s: dict[str, Session]) -> None:
    until = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    waiver = cs.waive(s["chloe"], "risky@1", check="auc-excellent", until=until, justification="Pilot.")
    revoked = cs.revoke_waiver(s["chloe"], waiver["id"], reason="Pilot cancelled.")
    assert revoked["revoked"] and ledger(cs, head(cs) - 1)[0]["action"] == "waiver.revoked"
    reasons = refused(cs, s["dana"], "risky@1")
    assert len(reasons) == 1 and "no active waiver" in reasons[0]
    with pytest.raises(BadInput, match="already revoked"):
        cs.revoke_waiver(s["chloe"], waiver["id"], reason="Again.")


def test_waiver_rules(cs: Countersign, s: dict[str, Session]) -> None:
    chloe = s["chloe"]
    before = head(cs)
    too_long = (datetime.now(UTC) + timedelta(days=45)).date().isoformat()
    with pytest.raises(BadInput, match="caps waivers at 30 days"):
        cs.waive(chloe, "risky@1", check="auc-excellent", until=too_long, justification="Long pilot.")
    soon = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    with pytest.raises(BadInput, match="has no check 'no-such-check'") as info:
        cs.waive(chloe, "risky@1", check="no-such-check", until=soon, justification="Typo.")
    assert info.value.exit_code == 2 and "auc-excellent" in info.value.message  # names the valid checks
    with pytest.raises(BadInput, match="not in the future"):
        cs.waive(chloe, "risky@1", check="auc-excellent", until="2000-01-01", justification="Past.")
    with pytest.raises(BadInput, match="justification"):
        cs.waive(chloe, "risky@1", check="auc-excellent", until=soon, justification="  ")
    assert head(cs) == before  # refused inputs write nothing


# ----------------------------------------------------------------------------------------------- approvals
def test_each_required_role_is_filled_by_a_different_person(cs: Countersign, s: dict[str, Session]) -> None:
    approve_all(cs, cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate."), s["lee"])
    request = cs.promote(s["dana"], "scorer@1", to="production", reason="Ship.")
    cs.approve(s["lee"], request["request_id"], comment="ML review done.")
    before = head(cs)
    with pytest.raises(SeparationOfDuties, match="needs a decision by compliance_officer; lena holds ml_lead"):
        cs.approve(s["lena"], request["request_id"], comment="Me too.")
    assert [e["action"] for e in ledger(cs, before)] == ["access.denied"]
    # Someone holding both roles fills the one still open.
    done = cs.approve(s["bo"], request["request_id"], comment="Compliance review done.")
    assert (done["status"], done["role"]) == ("approved", "compliance_officer")
    [approved] = [r for r in cs.requests(s["aude"]) if r["id"] == request["request_id"]]
    assert [(d["approver"], d["role"]) for d in approved["decisions"]] == [
        ("lee", "ml_lead"), ("bo", "compliance_officer")]


def test_registrant_may_not_approve(cs: Countersign, s: dict[str, Session]) -> None:
    request = cs.promote(s["dana"], "maxs@1", to="staging", reason="Max's model.")
    before = head(cs)
    with pytest.raises(SeparationOfDuties, match=r"max registered maxs@1 and may not decide"):
        cs.approve(s["max"], request["request_id"], comment="My own model is fine.")
    [denied] = ledger(cs, before)
    assert denied["action"] == "access.denied" and "separation of duties" in denied["payload"]["rule"]
    assert cs.approve(s["lee"], request["request_id"], comment="OK.")["status"] == "approved"


def test_requests_mine_does_not_offer_the_registrant_a_decision(cs: Countersign, s: dict[str, Session]) -> None:
    request = cs.promote(s["dana"], "maxs@1", to="staging", reason="Max's model.")
    rows = {r["id"]: r for r in cs.requests(s["max"], pending=True)}
    assert not rows[request["request_id"]]["awaiting_me"]
    assert cs.requests(s["max"], pending=True, mine=True) == []


def test_nobody_decides_twice_and_comments_are_required(cs: Countersign, s: dict[str, Session]) -> None:
    approve_all(cs, cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate."), s["lee"])
    request = cs.promote(s["dana"], "scorer@1", to="production", reason="Ship.")
    before = head(cs)
    for blank in ("", "   "):
        with pytest.raises(BadInput, match="a comment is required"):
            cs.approve(s["bo"], request["request_id"], comment=blank)
        with pytest.raises(BadInput, match="a comment is required"):
            cs.reject(s["bo"], request["request_id"], comment=blank)
    assert head(cs) == before
    first = cs.approve(s["bo"], request["request_id"], comment="As ML lead.")
    assert (first["role"], first["remaining_roles"]) == ("ml_lead", ["compliance_officer"])
    before = head(cs)
    with pytest.raises(SeparationOfDuties, match="bo has already decided"):
        cs.approve(s["bo"], request["request_id"], comment="And as compliance officer.")
    assert [e["action"] for e in ledger(cs, before)] == ["access.denied"]
    assert cs.approve(s["chloe"], request["request_id"], comment="OK.")["status"] == "approved"


def test_reject_closes_the_request(cs: Countersign, s: dict[str, Session]) -> None:
    request = cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate.")
    with pytest.raises(BadInput, match="already pending"):
        cs.promote(s["dana"], "scorer@1", to="staging", reason="Again.")
    rejected = cs.reject(s["lee"], request["request_id"], comment="Calibration plot missing.")
    assert (rejected["status"], rejected["decision"]) == ("rejected", "reject")
    assert ledger(cs, head(cs) - 1)[0]["action"] == "promotion.rejected"
    before = head(cs)
    with pytest.raises(BadInput, match="already rejected"):
        cs.approve(s["bo"], request["request_id"], comment="Overrule.")
    assert head(cs) == before
    assert stage(cs, s["dana"], "scorer@1") is None
    # A rejected request does not block a new one.
    assert cs.promote(s["dana"], "scorer@1", to="staging", reason="With the plot.")["status"] == "pending"


def test_requests_pending_and_mine(cs: Countersign, s: dict[str, Session]) -> None:
    approve_all(cs, cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate."), s["lee"])
    production = cs.promote(s["dana"], "scorer@1", to="production", reason="Ship.")
    staging = cs.promote(s["max"], "scorer@2", to="staging", reason="Next.")

    def ids(who: str, **kwargs: bool) -> set[str]:
        return {r["id"] for r in cs.requests(s[who], **kwargs)}

    assert ids("lee", pending=True, mine=True) == {production["request_id"], staging["request_id"]}
    assert ids("chloe", pending=True, mine=True) == {production["request_id"]}  # staging needs an ML lead
    assert ids("dana", pending=True, mine=True) == {production["request_id"]}  # her own request
    assert ids("max", pending=True, mine=True) == {production["request_id"], staging["request_id"]}
    assert ids("aude", pending=True, mine=True) == set()
    assert len(ids("aude", pending=True)) == 2 and len(ids("aude")) == 3
    rows = {r["id"]: r for r in cs.requests(s["max"], pending=True, mine=True)}
    assert rows[production["request_id"]]["awaiting_me"] and not rows[staging["request_id"]]["awaiting_me"]

    cs.approve(s["lee"], production["request_id"], comment="ML review done.")
    assert ids("lee", pending=True, mine=True) == {staging["request_id"]}
    [mine] = cs.requests(s["chloe"], pending=True, mine=True)
    assert mine["open_roles"] == ["compliance_officer"] and mine["awaiting_me"]


# ----------------------------------------------------------------------------------------------- suspension
def test_suspend_needs_production(cs: Countersign, s: dict[str, Session]) -> None:
    approve_all(cs, cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate."), s["lee"])
    before = head(cs)
    for ref in ("scorer@1", "scorer@2"):
        with pytest.raises(BadInput, match="is not in production"):
            cs.suspend(s["chloe"], ref, reason="Incident.")
    with pytest.raises(BadInput, match="a reason is required"):
        cs.suspend(s["chloe"], "scorer@1", reason=" ")
    assert head(cs) == before


def test_reinstatement_needs_a_full_approval_round(cs: Countersign, s: dict[str, Session]) -> None:
    release(cs, s, "scorer@1")
    cs.suspend(s["lee"], "scorer@1", reason="Incident under review.")
    assert [e["action"] for e in ledger(cs, head(cs) - 2)] == ["model.stage_changed", "model.suspended"]
    reasons = refused_reinstatement(cs, s["dana"], "scorer@1")
    assert len(reasons) == 1 and "was suspended at seq" in reasons[0] and "evaluate again" in reasons[0]
    cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=LABEL)
    request = cs.reinstate(s["dana"], "scorer@1", reason="Incident closed: no model fault.")
    assert (request["from_stage"], request["to_stage"]) == ("suspended", "production")
    assert request["required_roles"] == ["ml_lead", "compliance_officer"]
    assert cs.approve(s["lee"], request["request_id"], comment="OK.")["status"] == "pending"
    assert stage(cs, s["dana"], "scorer@1")["stage"] == "suspended"
    assert cs.approve(s["chloe"], request["request_id"], comment="OK.")["status"] == "approved"
    assert stage(cs, s["dana"], "scorer@1")["stage"] == "production"


def refused_reinstatement(cs: Countersign, who: Session, ref: str) -> list[str]:
    with pytest.raises(GateRefused) as info:
        cs.reinstate(who, ref, reason="Back.")
    return info.value.reasons


def test_rollback_to_a_retired_version_is_a_normal_promotion(cs: Countersign, s: dict[str, Session]) -> None:
    release(cs, s, "scorer@1")
    release(cs, s, "scorer@2")
    assert stage(cs, s["dana"], "scorer@1")["stage"] == "retired"
    request = cs.promote(s["dana"], "scorer@1", to="production", reason="Roll back to v1.")
    assert request["from_stage"] == "retired" and request["required_roles"] == ["ml_lead", "compliance_officer"]
    approve_all(cs, request, s["lee"], s["chloe"])
    history = cs.history(s["aude"], "scorer")
    assert history["production"] == "1"
    assert {v: x["stage"] for v, x in history["versions"].items()} == {"1": "production", "2": "retired"}
    assert [(t["version"], t["to_stage"]) for t in history["timeline"][-2:]] == [("2", "retired"),
                                                                                 ("1", "production")]


# ----------------------------------------------------------------------------------------------- monitoring
def test_monitoring_failure_flags_production_and_never_opens_the_gate(
        world: World, cs: Countersign, s: dict[str, Session]) -> None:
    release(cs, s, "scorer@1")
    before = head(cs)
    result = cs.monitor(s["dana"], "scorer@1", data="german-flipped@1", label=LABEL)
    assert result["purpose"] == "monitoring" and not result["passed"]
    assert result["failed_block_checks"] == ["auc"] and result["revalidation_required"]
    new = ledger(cs, before)
    assert [e["action"] for e in new] == ["monitoring.recorded", "model.revalidation_required"]
    assert new[0]["payload"]["id"] == result["id"] and new[0]["payload"]["verdict"] == "fail"
    assert new[1]["payload"]["model"] == "scorer@1" and result["id"] in new[1]["payload"]["reason"]
    flagged = stage(cs, s["dana"], "scorer@1")
    assert flagged["stage"] == "production" and flagged["revalidation_required"]
    [stored] = query(cs, "SELECT purpose, passed FROM evaluations WHERE id = ?", [result["id"]])
    assert stored == {"purpose": "monitoring", "passed": False}

    # A monitoring run, even a passing one, is not the evaluation a promotion rests on.
    cs.register_model(s["dana"], world.artifacts["l1"], name="scorer", version="5", trained_on=["german-credit@1"],
                      card=GERMAN_CARD)
    healthy = cs.monitor(s["dana"], "scorer@5", data="german-credit@1", label=LABEL)
    assert healthy["passed"] and "revalidation_required" not in healthy
    assert refused(cs, s["dana"], "scorer@5") == ["scorer@5 has no evaluation; run 'countersign evaluate'"]
    # ... nor does it replace one: scorer@2's gate evaluation still stands after a failing monitoring run.
    cs.monitor(s["dana"], "scorer@2", data="german-flipped@1", label=LABEL)
    assert cs.promote(s["dana"], "scorer@2", to="staging", reason="Gate evaluation passed.")["status"] == "pending"


# ----------------------------------------------------------------------------------------------- webhooks
@dataclass
class Hook:
    url: str
    received: list[dict[str, Any]]


def _serve(port: int = 0) -> tuple[ThreadingHTTPServer, Hook]:
    """A local HTTP server recording every POST (path, headers, exact body bytes)."""
    received: list[dict[str, Any]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Hook(f"http://127.0.0.1:{server.server_address[1]}/hooks", received)


@pytest.fixture
def hook() -> Iterator[Hook]:
    server, recorded = _serve()
    yield recorded
    server.shutdown()
    server.server_close()


SECRET = "webhook-shared-secret"


def _check_signed(delivery: dict[str, Any]) -> dict[str, Any]:
    body = delivery["body"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    assert headers["x-countersign-signature"] == expected
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert headers["x-countersign-event"] == payload["event"]
    assert delivery["path"] == "/hooks"
    return payload


def test_webhooks_are_signed_and_delivered(cs: Countersign, s: dict[str, Session], hook: Hook,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_WAIT", "20")
    dana, lee, chloe = s["dana"], s["lee"], s["chloe"]
    first = cs.promote(dana, "scorer@1", to="staging", reason="Candidate.")
    cs.reject(lee, first["request_id"], comment="Not yet.")
    approve_all(cs, cs.promote(dana, "scorer@1", to="staging", reason="Candidate again."), lee)
    production = cs.promote(dana, "scorer@1", to="production", reason="Ship.")
    approve_all(cs, production, lee, chloe)
    suspended = cs.suspend(chloe, "scorer@1", reason="Incident.")

    payloads = [_check_signed(d) for d in hook.received]
    assert [p["event"] for p in payloads] == [
        "promotion.requested", "promotion.rejected", "promotion.requested", "promotion.approved",
        "promotion.requested", "promotion.approved", "model.suspended"]
    assert payloads[0]["request_id"] == first["request_id"] and payloads[0]["ledger_seq"] == first["seq"]
    assert (payloads[1]["status"], payloads[1]["decision"]) == ("rejected", "reject")
    assert payloads[5]["request_id"] == production["request_id"] and payloads[5]["status"] == "approved"
    assert payloads[6]["model"] == "scorer@1" and payloads[6]["ledger_seq"] == suspended["seq"]
    deliveries = [{k.lower(): v for k, v in d["headers"].items()}["x-countersign-delivery"] for d in hook.received]
    outbox = query(cs, "SELECT id, event, delivered_at, body FROM webhook_outbox ORDER BY seq")
    assert [r["id"] for r in outbox] == deliveries and all(r["delivered_at"] for r in outbox)
    assert [r["body"].encode() for r in outbox] == [d["body"] for d in hook.received]


def test_revalidation_webhook_is_sent_by_the_monitoring_run(cs: Countersign, s: dict[str, Session], hook: Hook,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    release(cs, s, "scorer@1")
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_WAIT", "20")
    assert cs.monitor(s["dana"], "scorer@1", data="german-flipped@1", label=LABEL)["revalidation_required"]
    assert [_check_signed(d)["event"] for d in hook.received] == ["model.revalidation_required"]


def test_undelivered_webhooks_stay_in_the_outbox(cs: Countersign, s: dict[str, Session],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_URL", f"http://127.0.0.1:{port}/hooks")
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("COUNTERSIGN_WEBHOOK_WAIT", "20")
    monkeypatch.setattr(webhooks, "time", SimpleNamespace(sleep=lambda _s: None))  # no retry backoff in tests
    release(cs, s, "scorer@1")
    cs.suspend(s["chloe"], "scorer@1", reason="Incident.")
    assert stage(cs, s["dana"], "scorer@1")["stage"] == "suspended"  # every action succeeded

    waiting = query(cs, "SELECT id, event, attempts, last_error, delivered_at FROM webhook_outbox ORDER BY seq")
    assert [r["event"] for r in waiting] == [
        "promotion.requested", "promotion.approved", "promotion.requested", "promotion.approved", "model.suspended"]
    assert all(r["delivered_at"] is None and r["attempts"] >= 1 and r["last_error"] for r in waiting)

    server, hook = _serve(port)
    try:
        assert webhooks.deliver_pending(cs.store) == len(waiting)
    finally:
        server.shutdown()
        server.server_close()
    payloads = [_check_signed(d) for d in hook.received]
    assert [p["event"] for p in payloads] == [r["event"] for r in waiting]
    assert query(cs, "SELECT count(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL") == [{"n": 0}]
    assert webhooks.deliver_pending(cs.store) == 0
    assert cs.verify().ok


# ----------------------------------------------------------------------------------------------- stale decisions
def _stale_decision(cs: Countersign, s: dict[str, Session], request: dict[str, Any], approver: str,
                    *words: str) -> dict[str, Any]:
    """Approve expecting a refusal because the evidence changed; check the request is invalidated and ledgered."""
    before = head(cs)
    with pytest.raises(GateRefused) as info:
        cs.approve(s[approver], request["request_id"], comment="Looks fine to me.")
    assert info.value.exit_code == 1
    for word in words:
        assert word in info.value.message, info.value.message
    new = ledger(cs, before)
    assert [e["action"] for e in new] == ["promotion.invalidated"]
    assert new[0]["actor"] == approver and new[0]["payload"]["reasons"] == info.value.reasons
    [closed] = [r for r in cs.requests(s["aude"]) if r["id"] == request["request_id"]]
    assert closed["status"] == "invalidated" and closed["open_roles"] == []
    with pytest.raises(BadInput, match="already invalidated"):
        cs.approve(s["chloe"], request["request_id"], comment="Late.")
    return new[0]["payload"]


def test_a_new_policy_version_during_a_pending_request_refuses_the_decision(
        world: World, cs: Countersign, s: dict[str, Session]) -> None:
    request = cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate.")
    cs.add_policy(s["chloe"], world.folder / "house-v2.yaml")  # stricter AUC threshold, while the request waits
    _stale_decision(cs, s, request, "lee", "house@2", "house@1")
    assert stage(cs, s["aude"], "scorer@1") is None  # not promoted under the old policy


def test_approvals_given_before_the_evidence_changed_no_longer_count(
        world: World, cs: Countersign, s: dict[str, Session]) -> None:
    approve_all(cs, cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate."), s["lee"])
    request = cs.promote(s["dana"], "scorer@1", to="production", reason="Ship it.")
    cs.approve(s["lee"], request["request_id"], comment="Evidence reviewed.")
    again = cs.evaluate(s["dana"], "scorer@1", data="german-flipped@1", policy="house", label=LABEL)
    assert again["passed"] is False  # the latest evidence now fails the gate
    payload = _stale_decision(cs, s, request, "chloe", again["id"], "failed")
    assert payload["approvals_voided"] == ["lee"]
    assert stage(cs, s["aude"], "scorer@1")["stage"] == "staging"


def test_a_waiver_revoked_while_a_request_waits_refuses_the_decision(cs: Countersign, s: dict[str, Session]) -> None:
    until = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    waiver = cs.waive(s["chloe"], "risky@1", check="auc-excellent", until=until, justification="Pilot.")
    request = cs.promote(s["dana"], "risky@1", to="staging", reason="Pilot under waiver.")
    cs.revoke_waiver(s["chloe"], waiver["id"], reason="Pilot cancelled.")
    _stale_decision(cs, s, request, "lee", "auc-excellent", "no active waiver")


def test_an_evaluation_aging_past_the_policy_limit_refuses_the_decision(
        cs: Countersign, s: dict[str, Session], monkeypatch: pytest.MonkeyPatch) -> None:
    request = cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate.")
    real = datetime.now(UTC)
    monkeypatch.setattr(clock, "now", lambda: real + timedelta(days=31))
    _stale_decision(cs, s, request, "lee", "31 days old")


def test_suspension_while_a_reinstatement_waits_is_rechecked(cs: Countersign, s: dict[str, Session]) -> None:
    release(cs, s, "scorer@1")
    cs.suspend(s["chloe"], "scorer@1", reason="Complaint.")
    cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=LABEL)
    request = cs.reinstate(s["dana"], "scorer@1", reason="Complaint resolved.")
    # a fresh evaluation arrives after the reinstatement was requested: the approvers must see the new evidence
    cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=LABEL)
    _stale_decision(cs, s, request, "lee", "latest evaluation is now")


# ----------------------------------------------------------------------------------------------- no one alone
def _decide_refused(cs: Countersign, who: Session, request: dict[str, Any], *words: str) -> None:
    with pytest.raises(SeparationOfDuties) as info:
        cs.approve(who, request["request_id"], comment="Approved.")
    for word in words:
        assert word in info.value.message, info.value.message


def _new_account(cs: Countersign, creator: Session, name: str, roles: list[str]) -> Session:
    """The creator receives the enrolment code; here the creator redeems it — the puppet-account attack."""
    return enrol(cs, creator, name, roles, f"{name}-password")


ATTACKS = {
    # path: (setup before the request, setup during the request) -> the session that then tries to decide
    "admin-self-grants-ml_lead": "grant",
    "admin-self-grants-compliance_officer": "grant",
    "puppet-account-created-during-the-request": "decide",
    "role-granted-during-the-request": "decide",
    "role-revoked-and-regranted-during-the-request": "decide",
    "requester-made-admin-creates-the-approver": "decide",
    "requester-made-admin-grants-the-approving-role": "decide",
    "approver-decides-twice-in-two-roles": "decide",
    "approver-given-a-second-role-mid-request": "decide",
    "legacy-admin-holding-an-approving-role": "decide",
}


@pytest.mark.parametrize("path", list(ATTACKS))
def test_no_single_person_moves_a_model_alone(cs: Countersign, s: dict[str, Session], path: str) -> None:
    admin, dana = s[ADMIN], s["dana"]
    if path.startswith("admin-self-grants"):
        role = path.rpartition("-")[2]
        with pytest.raises(SeparationOfDuties, match="themselves"):
            cs.grant(admin, ADMIN, role)
        assert role not in cs.login(ADMIN, ADMIN_PW).roles
        return
    target = "production" if "twice" in path or "second-role" in path else "staging"
    if target == "production":
        approve_all(cs, cs.promote(dana, "scorer@1", to="staging", reason="Candidate."), s["lee"])
    helper_admin = None
    if path.startswith("requester-made-admin"):
        cs.grant(admin, "dana", "admin")
        helper_admin = cs.login("dana", USERS["dana"][1])
    decider: Session
    if path == "requester-made-admin-creates-the-approver":
        decider = _new_account(cs, helper_admin, "pal", ["ml_lead"])
    elif path == "requester-made-admin-grants-the-approving-role":
        cs.grant(helper_admin, "aude", "ml_lead")
        decider = cs.login("aude", USERS["aude"][1])
    elif path == "role-revoked-and-regranted-during-the-request":
        decider = s["lena"]
    elif path == "role-granted-during-the-request":
        decider = s["aude"]
    else:
        decider = s["bo"] if "twice" in path else s["chloe"]
    if path == "legacy-admin-holding-an-approving-role":
        with cs.store.transaction() as tx:  # as an older database could hold it
            tx.add_role("lena", "admin")
        decider = s["lena"]
    request = cs.promote(dana, "scorer@1", to=target, reason="Ship it.")
    if path == "puppet-account-created-during-the-request":
        decider = _new_account(cs, admin, "puppet", ["ml_lead"])
        _decide_refused(cs, decider, request, "after the request was opened")
    elif path == "role-granted-during-the-request":
        cs.grant(admin, "aude", "ml_lead")
        _decide_refused(cs, decider, request, "ml_lead was granted at seq", "after the request was opened")
    elif path == "role-revoked-and-regranted-during-the-request":
        cs.revoke(admin, "lena", "ml_lead")
        cs.grant(admin, "lena", "ml_lead")
        _decide_refused(cs, decider, request, "after the request was opened")
    elif path == "requester-made-admin-creates-the-approver":
        _decide_refused(cs, decider, request, "created by dana, who")
    elif path == "requester-made-admin-grants-the-approving-role":
        _decide_refused(cs, decider, request, "granted to 'aude' by dana, who")
    elif path == "approver-decides-twice-in-two-roles":
        cs.approve(decider, request["request_id"], comment="As ML lead.")
        _decide_refused(cs, decider, request, "already decided")
    elif path == "approver-given-a-second-role-mid-request":
        cs.approve(decider, request["request_id"], comment="As compliance officer.")
        cs.grant(admin, "chloe", "ml_lead")
        _decide_refused(cs, cs.login("chloe", USERS["chloe"][1]), request, "already decided")
    elif path == "legacy-admin-holding-an-approving-role":
        _decide_refused(cs, decider, request, "admins approve nothing")
    current = stage(cs, s["aude"], "scorer@1")
    assert (current or {}).get("stage") == ("staging" if target == "production" else None)
    assert cs.verify().ok


def test_an_independent_approver_still_can(cs: Countersign, s: dict[str, Session]) -> None:
    """The control case: the same request, decided by people the requester neither created nor empowered."""
    release(cs, s, "scorer@1")
    assert stage(cs, s["aude"], "scorer@1")["stage"] == "production"


def test_new_accounts_choose_their_own_password_through_a_one_time_code(cs: Countersign,
                                                                        s: dict[str, Session]) -> None:
    added = cs.add_user(s[ADMIN], "nia", ["ml_lead"])
    code = added["enrolment_code"]
    assert len(code) >= 26 and "password" not in added
    with pytest.raises(NotAuthenticated, match="has not enrolled yet"):
        cs.login("nia", "anything-at-all")
    with pytest.raises(NotAuthenticated, match="wrong or expired code"):
        cs.enroll("nia", "A" * len(code), "nia-own-password")
    nia = cs.enroll("nia", code, "nia-own-password")
    assert nia.roles == ("ml_lead",) and cs.login("nia", "nia-own-password").signer.key_id == nia.signer.key_id
    with pytest.raises(NotAuthenticated):
        cs.enroll("nia", code, "another-password")  # one time only
    entries = ledger(cs, head(cs) - 3)
    enrolled = [e for e in entries if e["action"] == "user.enrolled"][-1]
    assert enrolled["actor"] == "nia" and enrolled["key_id"] == nia.signer.key_id  # signed by her own new key
    with pytest.raises(BadInput, match="already enrolled"):
        cs.reissue_enrolment(s[ADMIN], "nia")
    assert cs.verify().ok


def test_a_card_edited_after_the_evaluation_is_changed_evidence(world: World, cs: Countersign,
                                                                s: dict[str, Session]) -> None:
    request = cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate.")
    edited = world.folder / "card-edited.yaml"
    text = GERMAN_CARD.read_text(encoding="utf-8")
    edited.write_text(text.replace("out_of_scope_uses: Real lending decisions.",
                                   "out_of_scope_uses: Real lending decisions; also marketing.", 1), encoding="utf-8")
    cs.edit_card(s["dana"], "scorer@1", edited)
    _stale_decision(cs, s, request, "lee", "model card was edited", "evaluate again")
    assert "model card was edited" in refused(cs, s["dana"], "scorer@1")[0]
    cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=LABEL)
    assert cs.promote(s["dana"], "scorer@1", to="staging", reason="Re-evaluated.")["status"] == "pending"
