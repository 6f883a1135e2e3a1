"""Issue 18: promotions approved in Countersign become MLflow aliases; an alias moved around the gate is caught.

One real MLflow store per test (SQLite, made by MLflow); aliases and tags are read back with MLflow's own client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.api.countersign import Countersign
from core.errors import BadInput, PermissionDenied, StoreUnavailable
from core.mlflow_registry.names import countersign_name
from tests.core.mlflow_registry.test_import import NAME, entries, head, login
from tests.mlflow_fixtures import GERMAN_LABEL, MlflowStore, german_model

POLICY = """\
policy: house
version: 1
description: Performance only, so evaluations are fast.
checks:
  - id: auc
    metric: roc_auc
    gte: 0.70
approvals:
  staging: {roles: [ml_lead]}
  production: {roles: [ml_lead, compliance_officer]}
"""


def aliases(store: MlflowStore) -> dict[str, str]:
    return {a: str(v) for a, v in store.client.get_registered_model(NAME).aliases.items()}


def release(cs: Countersign, ref: str, data: str, to: str) -> dict[str, Any]:
    dana, lee, chloe = (login(cs, n) for n in ("dana", "lee", "chloe"))
    assert cs.evaluate(dana, ref, data=data, policy="house", label=GERMAN_LABEL)["verdict"] == "pass"
    request = cs.promote(dana, ref, to=to, reason="Passes the house gate.")
    result: dict[str, Any] = {}
    for who in (lee, chloe) if to == "production" else (lee,):
        result = cs.approve(who, request["request_id"], comment=f"Reviewed by {who.name}.")
    assert result["status"] == "approved"
    return {**result, "request_id": request["request_id"]}


@pytest.fixture
def imported(populated: Countersign, mlflow_store: MlflowStore, german_frame: tuple[Path, Any],
             tmp_path: Path) -> tuple[Countersign, MlflowStore, str, str]:
    frame = german_frame[1]
    root = tmp_path / "data"
    root.mkdir()
    path = root / "german_credit.csv"
    path.write_bytes(german_frame[0].read_bytes())
    for c in (1.0, 0.1):
        mlflow_store.log_version(NAME, german_model(frame, c=c), frame, path)
    result = populated.import_mlflow(login(populated, "dana"), mlflow_store.uri, data_root=root)
    policy = tmp_path / "house.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    populated.add_policy(login(populated, "chloe"), policy)
    name = countersign_name(NAME)
    populated.assign_policy(login(populated, "chloe"), name, "house")
    return populated, mlflow_store, name, result["datasets"][0]["ref"]


def test_approved_promotions_become_aliases_with_tags_and_a_moved_alias_is_caught(
        imported: tuple[Countersign, MlflowStore, str, str]) -> None:
    cs, store, name, data = imported
    lee, chloe = login(cs, "lee"), login(cs, "chloe")

    staged = release(cs, f"{name}@2", data, "staging")
    assert "mlflow_error" not in staged, staged["mlflow_error"]
    assert aliases(store) == {"challenger": "2"}
    assert [(c["action"], c["alias"], c["version"]) for c in staged["mlflow"]] == [
        ("mlflow.alias_set", "challenger", "2")]
    tags = store.client.get_model_version(NAME, "2").tags
    assert tags["countersign.request_id"] == staged["request_id"] and tags["countersign.stage"] == "staging"
    assert int(tags["countersign.ledger_seq"]) > 0

    before = head(cs)
    released = release(cs, f"{name}@2", data, "production")
    assert aliases(store) == {"champion": "2"}  # challenger left with the version that left staging
    new = entries(cs, before)
    set_entry = next(e for e in new if e["action"] == "mlflow.alias_set")
    assert set_entry["actor"] == "chloe" and set_entry["payload"]["alias"] == "champion"
    assert set_entry["payload"]["request_id"] == released["request_id"]
    assert any(e["action"] == "mlflow.alias_removed" and e["payload"]["alias"] == "challenger" for e in new)
    assert cs.check_mlflow(lee)["findings"] == []

    # Someone moves the champion alias in MLflow, around the gate.
    store.client.set_registered_model_alias(NAME, "champion", "1")
    before = head(cs)
    found = cs.check_mlflow(lee)
    [finding] = found["findings"]
    assert (finding["kind"], finding["alias"], finding["found_version"], finding["expected_version"]) == (
        "unapproved", "champion", "1", "2")
    assert finding["model"] == f"{name}@1" and finding["flagged"]
    assert [e["action"] for e in entries(cs, before)] == ["mlflow.alias_drift", "model.revalidation_required"]
    flagged = next(r for r in cs.stages(lee) if r["model_version"] == "1")
    assert flagged["revalidation_required"] and "did not approve for production" in flagged["revalidation_reason"]

    # Seen again: reported again, ledgered once.
    before = head(cs)
    assert cs.check_mlflow(lee)["findings"][0]["recorded_seq"] == finding["recorded_seq"]
    assert head(cs) == before

    # Removing the approved alias is caught too; sync puts it back, and the check records the alias restored.
    store.client.delete_registered_model_alias(NAME, "champion")
    assert cs.check_mlflow(lee)["findings"][0]["kind"] == "missing"
    changes = cs.sync_mlflow(lee)
    assert [(c["alias"], c["version"]) for c in changes] == [("champion", "2")]
    before = head(cs)
    assert cs.check_mlflow(lee)["findings"] == [] and aliases(store) == {"champion": "2"}
    assert [e["action"] for e in entries(cs, before)] == ["mlflow.alias_restored"]

    # Suspension takes the alias away from the suspended version.
    cs.suspend(chloe, f"{name}@2", reason="Complaint under investigation.")
    assert aliases(store) == {}
    assert cs.check_mlflow(lee)["findings"] == []


def test_an_alias_set_before_the_import_is_never_removed_but_is_reported(
        imported: tuple[Countersign, MlflowStore, str, str]) -> None:
    cs, store, name, data = imported
    store.client.set_registered_model_alias(NAME, "champion", "1")
    store.client.set_registered_model_alias(NAME, "shadow", "2")
    recorded = cs.import_mlflow(login(cs, "dana"), store.uri)  # nothing new; the aliases it saw are recorded
    assert recorded["imported"] == [] and recorded["models"][0]["aliases"] == {"champion": "1", "shadow": "2"}
    release(cs, f"{name}@2", data, "staging")
    assert aliases(store) == {"champion": "1", "challenger": "2", "shadow": "2"}
    result = cs.check_mlflow(login(cs, "dana"))
    assert [(f["kind"], f["alias"]) for f in result["findings"]] == [("unapproved", "champion")]
    assert result["ungoverned"] == [{"mlflow_name": NAME, "alias": "shadow", "version": "2"}]


def test_mlflow_unreachable_at_a_decision_leaves_the_decision_and_sync_catches_up(
        imported: tuple[Countersign, MlflowStore, str, str]) -> None:
    cs, store, name, data = imported
    db = store.root / "mlflow.db"
    db.rename(db.with_name("away.db"))
    try:
        staged = release(cs, f"{name}@2", data, "staging")
    finally:
        db.with_name("away.db").rename(db)
    assert "mlflow sync" in staged["mlflow_error"]
    assert next(r for r in cs.stages(login(cs, "lee")) if r["model_version"] == "2")["stage"] == "staging"
    assert cs.check_mlflow(login(cs, "lee"))["findings"][0]["kind"] == "missing"
    cs.sync_mlflow(login(cs, "lee"))
    assert aliases(store) == {"challenger": "2"}
    # The model deleted in MLflow: the approved alias is missing (a finding, not an error).
    store.client.delete_registered_model(NAME)
    assert [(f["kind"], f["alias"]) for f in cs.check_mlflow(login(cs, "lee"))["findings"]] == [
        ("missing", "challenger")]


def test_the_alias_map_is_configurable_ledgered_and_checked(
        imported: tuple[Countersign, MlflowStore, str, str]) -> None:
    cs, store, name, data = imported
    chloe = login(cs, "chloe")
    assert cs.mlflow_aliases(chloe) == {"staging": "challenger", "production": "champion"}
    before = head(cs)
    cs.configure_mlflow_aliases(chloe, {"production": "prod", "staging": ""})
    [entry] = entries(cs, before)
    assert entry["action"] == "mlflow.aliases_configured" and entry["payload"]["aliases"] == {"production": "prod"}
    for bad in ({"qa": "x"}, {"production": "latest"}, {"production": "v3"}, {"production": "has space"},
                {"production": "a", "staging": "a"}):
        with pytest.raises(BadInput):
            cs.configure_mlflow_aliases(chloe, bad)
    with pytest.raises(PermissionDenied):
        cs.configure_mlflow_aliases(login(cs, "dana"), {"production": "mine"})
    release(cs, f"{name}@2", data, "staging")
    assert aliases(store) == {}
    release(cs, f"{name}@2", data, "production")
    assert aliases(store) == {"prod": "2"}
    assert json.loads(json.dumps(cs.check_mlflow(chloe)))["findings"] == []

    # Remapped: the new alias follows at the next sync and the old one, no longer governed, goes; set again by
    # hand, it is reported (no version is approved for it).
    changed = cs.configure_mlflow_aliases(chloe, {"production": "champion"})
    assert changed["no_longer_governed"] == ["challenger", "prod"]
    cs.sync_mlflow(chloe)
    assert aliases(store) == {"champion": "2"}
    store.client.set_registered_model_alias(NAME, "prod", "1")
    [finding] = cs.check_mlflow(chloe)["findings"]
    assert (finding["kind"], finding["alias"], finding["stage"], finding["model"]) == (
        "unapproved", "prod", None, f"{name}@1")


def test_a_changed_map_makes_aliases_stale_not_unapproved_and_an_unreachable_store_is_reported(
        imported: tuple[Countersign, MlflowStore, str, str]) -> None:
    cs, store, name, data = imported
    chloe, lee = login(cs, "chloe"), login(cs, "lee")
    release(cs, f"{name}@2", data, "staging")
    release(cs, f"{name}@2", data, "production")
    cs.configure_mlflow_aliases(chloe, {"staging": "champion", "production": "challenger"})
    found = {f["alias"]: f for f in cs.check_mlflow(lee)["findings"]}
    assert (found["champion"]["kind"], found["champion"]["flagged"]) == ("stale", False)
    assert found["challenger"]["kind"] == "missing"
    assert not next(r for r in cs.stages(lee) if r["model_version"] == "2")["revalidation_required"]
    cs.sync_mlflow(lee)
    assert aliases(store) == {"challenger": "2"} and cs.check_mlflow(lee)["findings"] == []

    db = store.root / "mlflow.db"
    db.rename(db.with_name("away.db"))
    [down] = cs.check_mlflow(lee)["findings"]
    assert down["kind"] == "unreachable" and "no such SQLite file" in down["reason"]
    with pytest.raises(StoreUnavailable, match="the MLflow store recorded at import is no longer usable"):
        cs.sync_mlflow(lee)  # exit 4: the store is gone, not a mistake in what the user typed


def test_what_mlflow_accepted_before_a_failure_is_still_ledgered(
        imported: tuple[Countersign, MlflowStore, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The alias is set, then MLflow fails on a tag: the alias change is ledgered (it happened) and the approval says
    what failed; the alias is then in order for ``mlflow check``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    cs, store, name, data = imported
    real_tag = MlflowClient.set_model_version_tag

    def failing_tag(*_args: Any, **_kwargs: Any) -> None:  # noqa: ANN401
        raise MlflowException("the server went away", error_code="TEMPORARILY_UNAVAILABLE")

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", failing_tag)
    staged = release(cs, f"{name}@2", data, "staging")
    assert "the server went away" in staged["mlflow_error"] and aliases(store) == {"challenger": "2"}
    [entry] = [e["payload"] for e in entries(cs, 0) if e["action"] == "mlflow.alias_set"]
    assert (entry["alias"], entry["version"]) == ("challenger", "2")
    monkeypatch.setattr(MlflowClient, "set_model_version_tag", real_tag)
    assert cs.check_mlflow(login(cs, "lee"))["findings"] == []
