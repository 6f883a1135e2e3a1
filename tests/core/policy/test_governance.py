"""Policies and evaluations through the service: immutable policy versions, evaluating real demo models (UCI Adult,
German credit) against written policies, stored and ledgered results whose digests can be re-checked, and the
refusals that write nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import rfc8785
import sklearn.metrics as skm
import skops.io as sio
from fairlearn.metrics import demographic_parity_difference
from sklearn.linear_model import LogisticRegression

from core.api.countersign import Countersign
from core.catalog.datasets import CsvDialect
from core.demo import data as demo_data
from core.errors import BadInput, NotFound, PermissionDenied
from core.identity.users import Session
from tests.conftest import USERS, _copy_db
from tests.core.evaluation.test_metrics import shared_adult_model, shared_prepared

ROOT = Path(__file__).resolve().parents[3]
CREDIT = ROOT / "policies" / "credit-scoring.yaml"
LENIENT = ROOT / "tests" / "fixtures" / "policies" / "lenient.yaml"
CARDS = demo_data.DATA_DIR / "cards"
ADULT_FEATURES = demo_data.ADULT_NUMERIC + demo_data.ADULT_CATEGORICAL
GERMAN_FEATURES = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL
CHECK_FIELDS = {"id", "kind", "metric", "value", "operator", "threshold", "severity", "passed", "details",
                "references"}


def login(cs: Countersign, name: str) -> Session:
    return cs.login(name, USERS[name][1])


def ledger(cs: Countersign, session: Session, action: str | None = None) -> list[dict[str, Any]]:
    return cs.log(session, limit=100_000, action=action)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------- fixtures
@dataclass
class Assets:
    prepared: dict[str, Path]
    adult_model: Path
    german_model: Path


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    """The prepared real data and the demo's logistic-regression models, trained as core.demo.data trains them."""
    folder = tmp_path_factory.mktemp("assets")
    prepared = shared_prepared(tmp_path_factory)
    german = pd.read_csv(prepared["german-credit"])
    german_model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                       LogisticRegression(max_iter=2000))
    german_model.fit(german[GERMAN_FEATURES], german[demo_data.GERMAN_LABEL])
    paths = {"adult-logreg": folder / "adult-logreg.skops", "german-logreg": folder / "german-logreg.skops"}
    sio.dump(shared_adult_model(tmp_path_factory), paths["adult-logreg"])
    sio.dump(german_model, paths["german-logreg"])
    return Assets(prepared, paths["adult-logreg"], paths["german-logreg"])


def register_german(cs: Countersign, dana: Session, assets: Assets, data: Path | None = None) -> None:
    cs.register_dataset(dana, data or assets.prepared["german-credit"], name="german-credit", version="1")
    cs.register_model(dana, assets.german_model, name="german-credit-scorer", version="1",
                      trained_on=["german-credit@1"], card=CARDS / "german-credit.yaml")


@dataclass
class World:
    """One database with the Adult data and model registered and evaluated (built once: scoring Adult is slow)."""

    cs: Countersign
    dana: Session
    chloe: Session
    aude: Session
    failed: dict[str, Any]
    passed: dict[str, Any]
    policy_added: dict[str, Any]


@pytest.fixture(scope="module")
def world(assets: Assets, tmp_path_factory: pytest.TempPathFactory, _populated_template: Path) -> World:
    cs = _copy_db(_populated_template, tmp_path_factory.mktemp("world") / "ledger.duckdb")
    dana, chloe, aude = login(cs, "dana"), login(cs, "chloe"), login(cs, "aude")
    cs.register_dataset(dana, assets.prepared["adult-train"], name="adult-train", version="1")
    cs.register_dataset(dana, assets.prepared["adult-test"], name="adult-test", version="1")
    cs.register_model(dana, assets.adult_model, name="adult-income", version="1", trained_on=["adult-train@1"],
                      card=CARDS / "adult-income.yaml")
    added = cs.add_policy(chloe, CREDIT)
    failed = cs.evaluate(dana, "adult-income@1", data="adult-test@1", policy="credit-scoring@1",
                         label=demo_data.ADULT_LABEL)
    passed = cs.evaluate(dana, "adult-income@1", data="adult-test@1", policy=str(LENIENT),
                         label=demo_data.ADULT_LABEL)
    return World(cs, dana, chloe, aude, failed, passed, added)


# ------------------------------------------------------------------------------------------- policies
def _write_policy(path: Path, version: int, dp_threshold: str = "0.10") -> Path:
    path.write_text(
        f"policy: test-gate\nversion: {version}\ndescription: v{version}\nchecks:\n"
        f"  - id: auc\n    metric: roc_auc\n    gte: 0.7\n"
        f"  - id: dp-sex\n    fairness: demographic_parity_difference\n    sensitive_feature: sex\n"
        f"    lte: {dp_threshold}\n"
        "approvals:\n  production: {roles: [compliance_officer]}\n", encoding="utf-8")
    return path


def test_add_policy_is_ledgered_idempotent_and_immutable(populated: Countersign, tmp_path: Path) -> None:
    chloe, aude = login(populated, "chloe"), login(populated, "aude")
    added = populated.add_policy(chloe, CREDIT)
    assert added["created"] is True and (added["name"], added["version"]) == ("credit-scoring", 1)
    assert added["sha256"] == sha256(CREDIT)
    entries = ledger(populated, aude, "policy.added")
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["actor"], entry["role"], entry["subject"]) == ("chloe", "compliance_officer",
                                                                  "policy:credit-scoring@1")
    assert entry["payload"]["sha256"] == sha256(CREDIT) and entry["seq"] == added["seq"]
    assert entry["payload"]["checks"] == ["auc", "accuracy", "dp-sex", "four-fifths-race", "fpr-gap-race", "drift",
                                          "proxies", "card"]
    assert entry["payload"]["approvals"] == {"staging": {"roles": ["ml_lead"]},
                                             "production": {"roles": ["ml_lead", "compliance_officer"]}}

    size = len(ledger(populated, aude))
    again = populated.add_policy(chloe, CREDIT)
    assert again["created"] is False and again["sha256"] == added["sha256"]
    assert len(ledger(populated, aude)) == size  # re-adding the same bytes writes nothing

    edited = tmp_path / "credit-scoring.yaml"
    edited.write_text(CREDIT.read_text(encoding="utf-8").replace("gte: 0.80", "gte: 0.75", 1), encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        populated.add_policy(chloe, edited)
    assert "credit-scoring@1 already exists" in caught.value.message and "bump 'version'" in caught.value.message
    assert sha256(CREDIT) in caught.value.message and sha256(edited) in caught.value.message
    assert len(ledger(populated, aude)) == size
    stored = populated.policy(aude, "credit-scoring@1")
    assert stored["text"] == CREDIT.read_text(encoding="utf-8") and stored["sha256"] == sha256(CREDIT)
    assert stored["added_by"] == "chloe" and stored["parsed"]["checks"][0]["id"] == "auc"
    assert [p["name"] for p in populated.policies(aude)] == ["credit-scoring"]


def test_only_compliance_officers_add_policies(populated: Countersign) -> None:
    dana, aude = login(populated, "dana"), login(populated, "aude")
    for who in (dana, aude):
        with pytest.raises(PermissionDenied) as caught:
            populated.add_policy(who, CREDIT)
        assert "compliance_officer" in caught.value.message
    assert ledger(populated, aude, "policy.added") == []
    denied = ledger(populated, aude, "access.denied")
    assert {e["actor"] for e in denied} == {"dana", "aude"}
    assert all(e["subject"] == "policy:credit-scoring@1" for e in denied)
    assert populated.policies(aude) == []


def test_bad_policy_file_is_refused_before_anything_is_written(populated: Countersign, tmp_path: Path) -> None:
    chloe, aude = login(populated, "chloe"), login(populated, "aude")
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: p\nversion: 1\nchecks:\n  - id: a\n    metric: acuracy\n    gte: 0.5\n", encoding="utf-8")
    size = len(ledger(populated, aude))
    with pytest.raises(BadInput, match=rf"{bad}:5: checks\.0\.metric"):
        populated.add_policy(chloe, bad)
    assert len(ledger(populated, aude)) == size


def test_policy_versions_and_diff(populated: Countersign, tmp_path: Path) -> None:
    chloe, aude = login(populated, "chloe"), login(populated, "aude")
    v1 = _write_policy(tmp_path / "v1.yaml", 1)
    v2 = _write_policy(tmp_path / "v2.yaml", 2, dp_threshold="0.05")
    populated.add_policy(chloe, v1)
    populated.add_policy(chloe, v2)
    assert populated.policy(aude, "test-gate")["version"] == 2  # no version: the latest
    assert populated.policy(aude, "test-gate@1")["sha256"] == sha256(v1)
    diff = populated.policy_diff(aude, "test-gate@1", "test-gate@2")
    lines = diff.splitlines()
    assert lines[0] == "--- test-gate@1" and lines[1] == "+++ test-gate@2"
    assert "-version: 1" in lines and "+version: 2" in lines
    assert "-    lte: 0.10" in lines and "+    lte: 0.05" in lines
    assert "-description: v1" in lines and "+description: v2" in lines
    assert populated.policy_diff(aude, "test-gate@2", "test-gate@2") == ""
    with pytest.raises(NotFound):
        populated.policy_diff(aude, "test-gate@1", "test-gate@3")
    with pytest.raises(BadInput, match="must be a number"):
        populated.policy(aude, "test-gate@two")


# ------------------------------------------------------------------------------------------- the Adult evaluation
def test_adult_logreg_fails_the_credit_scoring_policy_on_demographic_parity(world: World,
                                                                             assets: Assets) -> None:
    result = world.failed
    assert result["passed"] is False and result["verdict"] == "fail"
    checks = {c["id"]: c for c in result["checks"]}
    assert list(checks) == ["auc", "accuracy", "dp-sex", "four-fifths-race", "fpr-gap-race", "drift", "proxies",
                            "card"]
    dp = checks["dp-sex"]
    assert dp["value"] == pytest.approx(0.178, abs=0.01) and dp["value"] > 0.10
    assert dp["passed"] is False and (dp["operator"], dp["threshold"], dp["severity"]) == ("lte", 0.10, "block")
    assert "dp-sex" in result["failed_block_checks"]
    assert set(result["failed_block_checks"]) == {c["id"] for c in checks.values()
                                                  if c["severity"] == "block" and not c["passed"]}
    assert set(result["failed_warn_checks"]) == {c["id"] for c in checks.values()
                                                 if c["severity"] == "warn" and not c["passed"]}
    # the numbers are the reference libraries' numbers on the same model and data
    test = pd.read_csv(assets.prepared["adult-test"])
    model = sio.load(assets.adult_model, trusted=sio.get_untrusted_types(file=assets.adult_model))
    y = test[demo_data.ADULT_LABEL].to_numpy()
    pred, score = model.predict(test[ADULT_FEATURES]), model.predict_proba(test[ADULT_FEATURES])[:, 1]
    assert dp["value"] == pytest.approx(demographic_parity_difference(y, pred, sensitive_features=test["sex"]),
                                        abs=1e-9)
    assert checks["auc"]["value"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-9)
    assert checks["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-9)
    assert checks["auc"]["passed"] is True and checks["card"]["passed"] is True
    assert result["data"]["rows"] == len(test)


def test_lenient_policy_passes_and_warn_failures_do_not_block(world: World) -> None:
    result = world.passed
    assert result["passed"] is True and result["verdict"] == "pass"
    assert result["failed_block_checks"] == [] and result["failed_warn_checks"] == ["near-perfect-accuracy"]
    assert {c["id"]: c["passed"] for c in result["checks"]} == {"auc": True, "dp-sex": True,
                                                               "near-perfect-accuracy": False, "card": True}


def test_result_has_the_documented_fields(world: World, assets: Assets) -> None:
    result = world.failed
    assert result["id"].startswith("ev-")
    assert result["policy"] == {"name": "credit-scoring", "version": 1, "sha256": sha256(CREDIT), "registered": True,
                                "text": CREDIT.read_text(encoding="utf-8")}
    assert result["model"] == {"ref": "adult-income@1", "artifact_sha256": sha256(assets.adult_model),
                               "external": False}
    assert result["data"]["ref"] == "adult-test@1"
    assert result["data"]["sha256"] == sha256(assets.prepared["adult-test"])
    assert result["reference"] == {"ref": "adult-train@1", "sha256": sha256(assets.prepared["adult-train"])}
    assert result["label"] == demo_data.ADULT_LABEL and result["positive_label"] is None  # not declared
    assert result["evaluated_by"] == "dana" and isinstance(result["seq"], int) and result["evaluated_at"]
    for check in result["checks"]:
        assert CHECK_FIELDS <= set(check), check["id"]
        assert check["kind"] in ("metric", "fairness", "drift", "explain", "documentation")
        assert isinstance(check["passed"], bool) and check["severity"] in ("block", "warn")
        assert isinstance(check["details"], dict) and isinstance(check["references"], list)
    checks = {c["id"]: c for c in result["checks"]}
    assert checks["auc"]["references"] == ["EU AI Act Art. 15(1)", "SR 11-7 outcomes analysis"]
    assert checks["auc"]["metric"] == "roc_auc" and checks["auc"]["operator"] == "gte"
    used = checks["auc"]["details"]["data"]  # what the check actually used: scikit-learn's default positive class 1
    assert (used["positive_class"], used["positive_class_declared"], used["task"]) == (1, False, "binary")
    assert used["rows"] == used["used"] == result["data"]["rows"] and used["dropped"] == 0

    test = pd.read_csv(assets.prepared["adult-test"])
    for check_id, feature in (("dp-sex", "sex"), ("four-fifths-race", "race"), ("fpr-gap-race", "race")):
        details = checks[check_id]["details"]
        assert details["sensitive_features"] == [feature] and details["min_group_size"] == 30
        sizes = test[feature].value_counts()
        assert set(details["groups"]) == set(sizes.index)
        for group, info in details["groups"].items():
            assert info["count"] == sizes[group] and info["included"] is True
            for rate in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy", "precision",
                         "recall"):
                assert 0 <= info[rate] <= 1
            assert sum(info["confusion"].values()) == info["count"]

    drift = checks["drift"]
    assert drift["kind"] == "drift" and drift["details"]["reference_rows"] == len(pd.read_csv(
        assets.prepared["adult-train"]))
    assert set(drift["details"]["columns"]) == set(ADULT_FEATURES)
    for name, column in drift["details"]["columns"].items():
        assert column["method"] == "psi" and isinstance(column["statistic"], float)
        assert (column["operator"], column["threshold"]) == ("lte", 0.2)
        assert column["drifted"] is (column["statistic"] > 0.2), name
    assert drift["details"]["drifted_columns"] == sorted(
        n for n, c in drift["details"]["columns"].items() if c["drifted"])

    proxies = checks["proxies"]["details"]
    assert proxies["explainer"] == "linear" and len(proxies["top_features"]) == 5
    assert set(proxies["importance"]) == set(ADULT_FEATURES)
    assert checks["proxies"]["passed"] is (not {"sex", "race"} & set(proxies["top_features"]))
    assert checks["card"]["details"]["missing"] == [] and checks["card"]["details"]["card_present"] is True


def test_evaluation_is_stored_ledgered_and_intact(world: World) -> None:
    cs, aude = world.cs, world.aude
    for result in (world.failed, world.passed):
        entries = [e for e in ledger(cs, aude, "evaluation.recorded") if e["payload"]["id"] == result["id"]]
        assert len(entries) == 1
        entry = entries[0]
        assert (entry["actor"], entry["role"], entry["subject"], entry["seq"]) == (
            "dana", "data_scientist", f"evaluation:{result['id']}", result["seq"])
        payload = entry["payload"]
        assert payload["verdict"] == result["verdict"] and payload["model"] == "adult-income@1"
        assert payload["failed_block_checks"] == result["failed_block_checks"]
        assert payload["policy"]["sha256"] == result["policy"]["sha256"]
        con = duckdb.connect(str(cs.path), read_only=True)
        try:
            stored_text, stored_digest = con.execute("SELECT result, result_sha256 FROM evaluations WHERE id = ?",
                                                     [result["id"]]).fetchall()[0]
        finally:
            con.close()
        stored = json.loads(stored_text)
        assert payload["result_sha256"] == stored_digest == hashlib.sha256(rfc8785.dumps(stored)).hexdigest()
        assert stored["checks"] == json.loads(json.dumps(result["checks"]))
        shown = cs.evaluation(aude, result["id"])
        assert shown["result_intact"] is True and shown["result_sha256"] == stored_digest
        assert shown["checks"] == stored["checks"] and shown["evaluated_by"] == "dana"
    listed = {e["id"]: e for e in cs.evaluations(aude, "adult-income@1")}
    assert listed[world.failed["id"]]["passed"] is False and listed[world.passed["id"]]["passed"] is True
    assert {e["id"] for e in cs.evaluations(aude, "adult-income")} >= set(listed)


def test_policy_file_evaluation_records_its_bytes_and_text(world: World) -> None:
    policy = world.passed["policy"]
    assert policy == {"name": "lenient", "version": 1, "sha256": sha256(LENIENT), "registered": False,
                      "text": LENIENT.read_text(encoding="utf-8")}
    entry = next(e for e in ledger(world.cs, world.aude, "evaluation.recorded")
                 if e["payload"]["id"] == world.passed["id"])
    assert entry["payload"]["policy"] == {"name": "lenient", "version": 1, "sha256": sha256(LENIENT),
                                          "registered": False}


def test_nothing_is_recorded_for_missing_things(world: World) -> None:
    cs, dana = world.cs, world.dana
    count = len(cs.evaluations(dana))
    with pytest.raises(NotFound, match="no model adult-income@9"):
        cs.evaluate(dana, "adult-income@9", data="adult-test@1", policy="credit-scoring@1")
    with pytest.raises(NotFound, match="no dataset adult-test@9"):
        cs.evaluate(dana, "adult-income@1", data="adult-test@9", policy="credit-scoring@1")
    with pytest.raises(NotFound):
        cs.evaluate(dana, "adult-income@1", data="adult-test@1", policy="no-such-policy@1")
    with pytest.raises(PermissionDenied):
        cs.evaluate(world.aude, "adult-income@1", data="adult-test@1", policy="credit-scoring@1")
    assert len(cs.evaluations(dana)) == count


def test_missing_label_column_lists_the_columns(world: World) -> None:
    cs, dana = world.cs, world.dana
    count = len(cs.evaluations(dana))
    with pytest.raises(BadInput) as caught:  # no label given, and no column named label/target/y
        cs.evaluate(dana, "adult-income@1", data="adult-test@1", policy=str(LENIENT))
    assert "--label" in caught.value.message
    assert "income_over_50k" in caught.value.message and "hours_per_week" in caught.value.message
    with pytest.raises(BadInput) as caught:
        cs.evaluate(dana, "adult-income@1", data="adult-test@1", policy=str(LENIENT), label="income")
    assert "'income'" in caught.value.message and "income_over_50k" in caught.value.message
    assert "native_country" in caught.value.message
    assert len(cs.evaluations(dana)) == count


# ------------------------------------------------------------------------------------------- integrity
def test_tampering_with_a_stored_result_is_detected(populated: Countersign, assets: Assets) -> None:
    dana, aude = login(populated, "dana"), login(populated, "aude")
    register_german(populated, dana, assets)
    result = populated.evaluate(dana, "german-credit-scorer@1", data="german-credit@1", policy=str(LENIENT),
                                label=demo_data.GERMAN_LABEL)
    assert populated.evaluation(aude, result["id"])["result_intact"] is True
    con = duckdb.connect(str(populated.path))
    try:
        stored = json.loads(con.execute("SELECT result FROM evaluations WHERE id = ?", [result["id"]]).fetchone()[0])
        stored["checks"][0]["value"] = 0.999  # a better AUC than the model earned
        con.execute("UPDATE evaluations SET result = ? WHERE id = ?", [json.dumps(stored), result["id"]])
    finally:
        con.close()
    shown = populated.evaluation(aude, result["id"])
    assert shown["result_intact"] is False and shown["checks"][0]["value"] == 0.999
    assert populated.verify().ok  # the ledger itself is untouched; the digest it holds exposes the edit


def test_dataset_changed_after_registration_is_refused(populated: Countersign, assets: Assets,
                                                       tmp_path: Path) -> None:
    dana, aude = login(populated, "dana"), login(populated, "aude")
    copy = tmp_path / "german_credit.csv"
    shutil.copyfile(assets.prepared["german-credit"], copy)
    register_german(populated, dana, assets, data=copy)
    registered = sha256(copy)
    with copy.open("a", encoding="utf-8") as fh:  # one more row appended after registration
        fh.write(copy.read_text(encoding="utf-8").splitlines()[1] + "\n")
    size = len(ledger(populated, aude))
    with pytest.raises(BadInput) as caught:
        populated.evaluate(dana, "german-credit-scorer@1", data="german-credit@1", policy=str(LENIENT),
                           label=demo_data.GERMAN_LABEL)
    message = caught.value.message
    assert "german-credit@1 changed since registration" in message
    assert registered in message and sha256(copy) in message and registered != sha256(copy)
    assert populated.evaluations(aude) == []
    assert len(ledger(populated, aude)) == size
    assert ledger(populated, aude, "evaluation.recorded") == []


# ------------------------------------------------------------------------------------------- external models
def test_external_model_is_evaluated_from_its_prediction_columns(populated: Countersign, assets: Assets,
                                                                 tmp_path: Path) -> None:
    dana, aude = login(populated, "dana"), login(populated, "aude")
    register_german(populated, dana, assets)
    german = pd.read_csv(assets.prepared["german-credit"])
    rng = np.random.default_rng(5)
    y = german[demo_data.GERMAN_LABEL].to_numpy()
    # a vendor's scores: informative but noisy, rounded to 3 decimals as a CSV export would be
    score = np.clip(0.35 + 0.3 * y + rng.normal(scale=0.2, size=len(y)), 0, 1).round(3)
    pred = (score >= 0.5).astype(int)
    scored = tmp_path / "german_vendor_scores.csv"
    german.assign(vendor_pred=pred, vendor_score=score).to_csv(scored, index=False)
    populated.register_dataset(dana, scored, name="german-vendor-scores", version="1",
                               derived_from=["german-credit@1"])
    populated.register_model(dana, None, name="vendor-scorer", version="1", trained_on=["german-credit@1"],
                             external=True, features=GERMAN_FEATURES)
    policy = tmp_path / "external.yaml"
    policy.write_text(
        "policy: external-gate\nversion: 1\nchecks:\n"
        "  - id: auc\n    metric: roc_auc\n    gte: 0.6\n"
        "  - id: brier\n    metric: brier\n    lte: 0.3\n"
        "  - id: accuracy\n    metric: accuracy\n    gte: 0.6\n"
        "  - id: dp-sex\n    fairness: demographic_parity_difference\n    sensitive_feature: sex\n    lte: 0.5\n"
        "  - id: proxies\n    explain: shap_top_features\n    must_not_include: [sex]\n", encoding="utf-8")
    result = populated.evaluate(dana, "vendor-scorer@1", data="german-vendor-scores@1", policy=str(policy),
                                label=demo_data.GERMAN_LABEL, prediction_column="vendor_pred",
                                score_column="vendor_score")
    checks = {c["id"]: c for c in result["checks"]}
    assert result["model"] == {"ref": "vendor-scorer@1", "artifact_sha256": None, "external": True}
    assert (result["prediction_column"], result["score_column"]) == ("vendor_pred", "vendor_score")
    assert checks["auc"]["value"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-9)
    assert checks["brier"]["value"] == pytest.approx(skm.brier_score_loss(y, score), abs=1e-9)
    assert checks["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-9)
    assert checks["dp-sex"]["value"] == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=german["sex"]), abs=1e-9)
    explain = checks["proxies"]
    assert explain["passed"] is False and explain["value"] is None
    assert "external model" in explain["details"]["reason"]
    assert result["passed"] is False and result["failed_block_checks"] == ["proxies"]
    assert populated.evaluation(aude, result["id"])["result_intact"] is True


def test_external_model_without_prediction_columns_is_refused(populated: Countersign, assets: Assets) -> None:
    dana = login(populated, "dana")
    register_german(populated, dana, assets)
    populated.register_model(dana, None, name="vendor-scorer", version="1", trained_on=["german-credit@1"],
                             external=True)
    with pytest.raises(BadInput, match="--prediction-column"):
        populated.evaluate(dana, "vendor-scorer@1", data="german-credit@1", policy=str(LENIENT),
                           label=demo_data.GERMAN_LABEL)
    with pytest.raises(BadInput, match="'no_such_column' is not in the evaluation data"):
        populated.evaluate(dana, "vendor-scorer@1", data="german-credit@1", policy=str(LENIENT),
                           label=demo_data.GERMAN_LABEL, prediction_column="no_such_column")
    assert populated.evaluations(dana) == []


# ------------------------------------------------------------------------------------------- the ledger holds
def test_verify_is_ok_after_policies_and_evaluations(world: World) -> None:
    report = world.cs.verify()
    assert report.ok
    actions = {e["action"] for e in ledger(world.cs, world.aude)}
    assert {"dataset.registered", "model.registered", "policy.added", "evaluation.recorded"} <= actions


def test_a_headerless_file_registered_with_its_dialect_is_evaluated_with_it(populated: Countersign, assets: Assets,
                                                                            tmp_path: Path) -> None:
    dana = login(populated, "dana")
    register_german(populated, dana, assets)
    german = pd.read_csv(assets.prepared["german-credit"])
    y = german[demo_data.GERMAN_LABEL].to_numpy()
    pred = (german["duration"].to_numpy() < 24).astype(int)  # a crude vendor rule, exported without a header
    scored = german.assign(vendor_pred=pred)
    raw = tmp_path / "vendor.psv"
    scored.to_csv(raw, sep="|", header=False, index=False)
    dialect = CsvDialect(delimiter="|", header=False, columns=tuple(scored.columns))
    registered = populated.register_dataset(dana, raw, name="vendor-raw", version="1", csv=dialect)
    assert registered["csv"] == dialect.to_dict() and registered["rows"] == len(german)
    populated.register_model(dana, None, name="vendor-rule", version="1", trained_on=["german-credit@1"],
                             external=True, features=GERMAN_FEATURES)
    policy = tmp_path / "rule.yaml"
    policy.write_text("policy: rule-gate\nversion: 1\nchecks:\n  - id: accuracy\n    metric: accuracy\n    gte: 0\n",
                      encoding="utf-8")
    result = populated.evaluate(dana, "vendor-rule@1", data="vendor-raw@1", policy=str(policy),
                                label=demo_data.GERMAN_LABEL, prediction_column="vendor_pred")
    assert result["checks"][0]["value"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    entry = ledger(populated, dana, "dataset.registered")[0]  # newest first
    assert entry["payload"]["csv"] == {"delimiter": "|", "header": False, "columns": list(scored.columns)}


def test_the_same_file_read_another_way_needs_a_new_version(populated: Countersign, tmp_path: Path) -> None:
    dana = login(populated, "dana")
    raw = tmp_path / "t.txt"
    raw.write_text("1 a\n2 b\n3 c\n", encoding="utf-8")
    first = populated.register_dataset(dana, raw, name="t", version="1",
                                       csv=CsvDialect(delimiter=" ", header=False, columns=("n", "s")))
    assert first["created"] and populated.dataset(dana, "t@1")["csv"]["columns"] == ["n", "s"]
    same = populated.register_dataset(dana, raw, name="t", version="1",
                                      csv=CsvDialect(delimiter=" ", header=False, columns=("n", "s")))
    assert same["created"] is False
    size = len(ledger(populated, dana))
    with pytest.raises(BadInput, match="other CSV options"):
        populated.register_dataset(dana, raw, name="t", version="1",
                                   csv=CsvDialect(delimiter=" ", header=False, columns=("n", "t")))
    assert len(ledger(populated, dana)) == size  # refused before anything was written
