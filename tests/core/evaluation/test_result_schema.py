"""The typed evaluation result and its published JSON Schema (``core/schemas/evaluation-result.schema.json``).

Every result the engine produces on the repository's policies (and on a policy with every kind of check), and every
evaluation the demo stores, validates; the schema rejects results with a required key missing or a value of the wrong
type (property-based mutations, judged against the types written down here, not read from the schema).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sklearn.linear_model import LogisticRegression

from core.catalog.datasets import profile
from core.demo import data as demo_data
from core.evaluation.engine import EvalInputs, Evaluator
from core.evaluation.result import SCHEMA_ID, SCHEMA_PATH, EvaluationResult, json_schema, validator
from core.policy.rules import load_policy_file, parse_policy

ROOT = Path(__file__).resolve().parents[3]
#: The policies for German credit (credit-scoring.yaml is the Adult data's: the demo evaluates it, and stores it).
POLICIES = sorted(p for p in [*(ROOT / "policies").glob("*.yaml"), *(ROOT / "tests" / "fixtures" / "policies").glob(
    "*.yaml")] if p.name != "credit-scoring.yaml")

EVERY_KIND = """
policy: every-kind
version: 1
checks:
  - {id: acc, metric: accuracy, gte: 0.5, missing: drop}
  - {id: bal, metric: balanced_accuracy, gte: 0.1, lte: 1.0, missing: drop}
  - {id: f1-macro, metric: f1, average: macro, gte: 0.1, missing: drop, severity: warn}
  - {id: recall-at, metric: recall, decision_threshold: 0.7, gte: 0.1, missing: drop}
  - {id: auc, metric: roc_auc, between: [0.5, 1.0], missing: drop, references: ["EU AI Act Art. 15(1)"]}
  - {id: ap, metric: average_precision, gte: 0.1, missing: drop}
  - {id: logloss, metric: log_loss, lte: 5, missing: drop}
  - {id: brier, metric: brier, lte: 1, missing: drop}
  - {id: dp, fairness: demographic_parity_difference, sensitive_feature: group, lte: 0.9, min_group_size: 2,
     missing: drop}
  - {id: eo, fairness: equalized_odds_ratio, sensitive_feature: group, gte: 0.99, min_group_size: 50, missing: drop}
  - {id: drift, drift: psi, columns: [x, group], max_drifted_share: 0.5}
  - {id: drift-auto, drift: auto, columns: [x], max_drifted_share: 0.5, severity: warn}
  - {id: missing, data_quality: missing_rate, columns: [x, group], lte: 0.05, severity: warn}
  - {id: schema, data_quality: schema_match}
  - {id: card, documentation: model_card, required: [intended_use, limitations]}
  - {id: shap, explain: shap_top_features, top_k: 2, must_not_include: [group]}
"""

# ------------------------------------------------------------------------------------------- the published schema


def test_schema_is_a_valid_draft_2020_12_schema_shipped_as_package_data() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["$id"] == SCHEMA_ID
    assert {"check", "engine_result"} <= set(schema["$defs"])
    assert SCHEMA_PATH.relative_to(ROOT / "core").as_posix() in {
        p.relative_to(ROOT / "core").as_posix() for p in (ROOT / "core").glob("schemas/**/*.json")}
    assert '"schemas/**/*.json"' in (ROOT / "pyproject.toml").read_text()


# ------------------------------------------------------------------------------------------- engine results


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    prepared = demo_data.prepare_all(tmp_path_factory.mktemp("german") / "prepared")
    path = prepared["german-credit"]
    frame = pd.read_csv(path)
    features = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL
    model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                LogisticRegression(max_iter=2000)).fit(frame[features], frame[demo_data.GERMAN_LABEL])
    card = demo_data.DATA_DIR / "cards" / "german-credit.yaml"
    import yaml

    return {"path": path, "model": model, "features": features, "card": yaml.safe_load(card.read_text()),
            "schema": profile(path, "csv")[1]}


def _engine(inputs: EvalInputs) -> dict[str, Any]:
    result = Evaluator(inputs).run()
    return json.loads(json.dumps(result))  # as stored: JSON


@pytest.mark.parametrize("policy_file", POLICIES, ids=[p.name for p in POLICIES])
def test_engine_results_on_the_repository_policies_validate(policy_file: Path, german: dict[str, Any]) -> None:
    policy, _text, _sha = load_policy_file(policy_file)
    result = _engine(EvalInputs(policy=policy, data_path=german["path"], data_format="csv",
                                label=demo_data.GERMAN_LABEL, reference_path=german["path"], reference_format="csv",
                                model=german["model"], feature_names=german["features"], card=german["card"],
                                training_schema=german["schema"]))
    validator("engine_result").validate(result)
    for check in result["checks"]:
        validator("check").validate(check)


def _scored_csv(folder: Path) -> Path:
    rows = ["y,p,s,x,group"]
    for i in range(240):
        y = int(i % 3 != 0)
        p = y if i % 7 else 1 - y
        s = round(min(0.99, max(0.01, 0.25 + 0.5 * y + ((i * 37) % 11 - 5) / 25)), 4)
        x = "" if i % 41 == 0 else str((i * 13) % 17 + (3 if i > 120 else 0))
        group = "" if i % 53 == 0 else ("a", "b", "c")[i % 3 if i % 5 else 0]
        rows.append(f"{y},{p},{s},{x},{group}")
    path = folder / "scored.csv"
    path.write_text("\n".join(rows) + "\n")
    reference = folder / "reference.csv"
    reference.write_text("\n".join(rows[:121]) + "\n")
    return path


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = _scored_csv(tmp_path_factory.mktemp("scored"))
    return _engine(EvalInputs(policy=parse_policy(EVERY_KIND, "every-kind.yaml"), data_path=path, data_format="csv",
                              label="y", reference_path=path.with_name("reference.csv"), reference_format="csv",
                              prediction_column="p", score_column="s", card={"intended_use": "tests"},
                              training_schema=[{"name": "x", "type": "BIGINT"}, {"name": "z", "type": "DOUBLE"}]))


def test_a_result_with_every_kind_of_check_validates(every_kind: dict[str, Any]) -> None:
    validator("engine_result").validate(every_kind)
    kinds = {c["kind"] for c in every_kind["checks"]}
    assert kinds == {"metric", "fairness", "drift", "data_quality", "documentation", "explain"}
    operators = {c["operator"] for c in every_kind["checks"]}
    assert {"gte", "lte", "between", "all", "requires", None} <= operators
    assert any(c["value"] is None for c in every_kind["checks"])  # the external model has nothing to explain


def test_evaluation_result_round_trips_the_engine_dict_exactly(every_kind: dict[str, Any]) -> None:
    typed = EvaluationResult.from_dict(every_kind)
    assert json.dumps(typed.to_dict()) == json.dumps(every_kind)  # same keys, same order, same values
    again = EvaluationResult.of(typed.rows, typed.checks, typed.seconds, typed.engine)
    assert typed.engine is not None and typed.engine["name"] == "duckdb" and typed.engine["approximations"] == []
    assert again == typed


# ------------------------------------------------------------------------------------------- stored evidence


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from tests.app.demo_db import copy_demo, demo_template

    # a private copy: the template is shared by the pytest-xdist workers and only ever copied
    template = copy_demo(demo_template(tmp_path_factory), tmp_path_factory.mktemp("schema-demo") / "demo.duckdb")
    con = duckdb.connect(str(template), read_only=True)
    try:
        rows = con.execute("SELECT result FROM evaluations ORDER BY seq").fetchall()
    finally:
        con.close()
    return [json.loads(r) for (r,) in rows]


def test_every_evaluation_the_demo_stores_validates(demo_records: list[dict[str, Any]]) -> None:
    assert len(demo_records) >= 4
    assert {r["verdict"] for r in demo_records} == {"pass", "fail"}
    check = validator()
    for record in demo_records:
        check.validate(record)


def test_shown_evaluations_with_their_ledger_fields_validate(demo_records: list[dict[str, Any]]) -> None:
    shown = {**demo_records[0], "evaluated_at": "2026-01-01T00:00:00Z", "evaluated_by": "dana", "seq": 12,
             "result_sha256": "0" * 64, "result_intact": True}
    validator().validate(shown)
    assert not validator().is_valid({**shown, "seq": "12"})


# ------------------------------------------------------------------------------------------- malformed results

#: Each required key's JSON types, written from core.evaluation.result's TypedDicts (not read from the schema).
CHECK_TYPES: dict[str, set[str]] = {
    "id": {"string"}, "kind": {"string"}, "metric": {"string"}, "value": {"number", "null"},
    "operator": {"string", "null"}, "threshold": {"number", "array", "object", "null"}, "severity": {"string"},
    "passed": {"boolean"}, "details": {"object"}, "references": {"array"}, "seconds": {"number"}}
ENGINE_TYPES: dict[str, set[str]] = {
    "rows": {"number"}, "checks": {"array"}, "passed": {"boolean"}, "failed_block_checks": {"array"},
    "failed_warn_checks": {"array"}, "seconds": {"number"}}
RECORD_TYPES: dict[str, set[str]] = {
    "id": {"string"}, "purpose": {"string"}, "policy": {"object"}, "model": {"object"}, "data": {"object"},
    "reference": {"object", "null"}, "label": {"string"}, "prediction_column": {"string", "null"},
    "score_column": {"string", "null"}, "positive_label": {"string", "number", "boolean", "null"},
    "checks": {"array"}, "passed": {"boolean"}, "verdict": {"string"}, "failed_block_checks": {"array"},
    "failed_warn_checks": {"array"}, "seconds": {"number"}}

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


def _json_type(value: Any) -> str:  # noqa: ANN401
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _mutate(data: st.DataObject, document: dict[str, Any], types: dict[str, set[str]]) -> dict[str, Any]:
    """Drop a required key, or give it a value of a type it never has."""
    bad = copy.deepcopy(document)
    key = data.draw(st.sampled_from(sorted(types)), label="key")
    if data.draw(st.booleans(), label="drop"):
        del bad[key]
    else:
        bad[key] = data.draw(JSON_VALUES.filter(lambda v: _json_type(v) not in types[key]), label="value")
    return bad


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_engine_results_and_checks_are_rejected(every_kind: dict[str, Any], data: st.DataObject) -> None:
    assert not validator("engine_result").is_valid(_mutate(data, every_kind, ENGINE_TYPES))
    check = data.draw(st.sampled_from(every_kind["checks"]), label="check")
    mutated = _mutate(data, check, CHECK_TYPES)
    assert not validator("check").is_valid(mutated)
    inside = copy.deepcopy(every_kind)
    inside["checks"][every_kind["checks"].index(check)] = mutated
    assert not validator("engine_result").is_valid(inside)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_stored_records_are_rejected(demo_records: list[dict[str, Any]], data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(demo_records), label="record")
    assert not validator().is_valid(_mutate(data, record, RECORD_TYPES))


@pytest.mark.parametrize(("change", "why"), [
    (lambda r: r["checks"][0].update(passed=True, value=None), "a check passed on a value never measured"),
    (lambda r: r.update(verdict="pass" if r["verdict"] == "fail" else "fail"), "the verdict contradicts passed"),
    (lambda r: r.update(passed=not r["passed"]), "passed contradicts the failed block checks"),
    (lambda r: r["checks"][0].update(severity="fatal"), "an unknown severity"),
    (lambda r: r["checks"][0].update(kind="vibes"), "an unknown kind of check"),
    (lambda r: r["checks"][0].update(extra=1), "a key no check has"),
    (lambda r: r["checks"][0]["details"].pop("data"), "a metric without the rows it used"),
    (lambda r: r["data"].update(sha256="not-a-digest"), "a data digest that is not SHA-256"),
    (lambda r: r.update(id="evaluation-1"), "an id not of the form ev-<12 hex>"),
])
def test_semantically_malformed_records_are_rejected(demo_records: list[dict[str, Any]], change: Any,  # noqa: ANN401
                                                     why: str) -> None:
    record = copy.deepcopy(next(r for r in demo_records if r["checks"][0]["kind"] == "metric"
                                and r["checks"][0]["value"] is not None))
    validator().validate(record)
    change(record)
    assert not validator().is_valid(record), why
