"""Card exports other tools read: the Model Card Toolkit JSON validates against MCT's own schema v0.0.2 with format
checking (and uses no field MCT's ``ModelCard.from_json`` would refuse) for any input the product accepts; the
Hugging Face Markdown round-trips through ``huggingface_hub``; external models say they have no artifact."""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from jsonschema import Draft7Validator
from jsonschema.validators import validator_for
from sklearn.linear_model import LogisticRegression

from core.api.countersign import Countersign
from core.catalog.datasets import REF_RE
from core.evidence.card_export import (
    MCT_SCHEMA,
    NO_ARTIFACT,
    _markdown,
    _toolkit_json,
    iso_date,
    reference_uri,
)
from tests.conftest import USERS, _copy_db

FORMAT_CHECKER = Draft7Validator.FORMAT_CHECKER
SCHEMA: dict[str, Any] = json.loads(MCT_SCHEMA.read_text(encoding="utf-8"))

SCORER = "tiny-scorer@1"  # sklearn, evaluated, code in git's scp-like syntax
VENDOR = "vendor/odd.Name_-x@1.0+local"  # external, evaluated, code on a Windows path with a non-ASCII letter
UNEVALUATED = "tiny-scorer@2"  # sklearn, never evaluated, code reference a bare name
MODELS = (SCORER, VENDOR, UNEVALUATED)
GROUPS = ("Frau", "Männer", "女性")
CARD = {
    "model_details": "Logistische Regression — «tiny» **bold** <b>html</b> [link](javascript:alert(1))\nline 2",
    "intended_use": ["Tests 🧪", "Zoë's demo"],
    "limitations": {"small_sample": "300 rows", "unicode": "ünïcödé"},
    "training_data": "Synthetic rows; groups Frau, Männer, 女性.",
    "evaluation_data": "A held-out synthetic sample.",
    "ethical_considerations": "geschlecht is used only to measure fairness.",
}
POLICY = """policy: interop
version: 1
checks:
  - id: auc
    metric: roc_auc
    gte: 0.5
  - id: acc
    metric: accuracy
    gte: 0.5
  - id: dp-geschlecht
    fairness: demographic_parity_difference
    sensitive_feature: geschlecht
    lte: 1.0
  - id: eo-both
    fairness: equalized_odds_difference
    sensitive_feature: [geschlecht, region]
    lte: 1.0
"""


def _strict(schema: Any) -> Any:  # noqa: ANN401
    """The schema with ``additionalProperties: false`` on every object it describes: what MCT's ``from_json``
    enforces (it raises ``ValueError`` on a field its classes do not declare)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


STRICT = Draft7Validator(_strict(SCHEMA), format_checker=FORMAT_CHECKER)
VALIDATOR = Draft7Validator(SCHEMA, format_checker=FORMAT_CHECKER)


def front_matter(markdown: str) -> dict[str, Any]:
    """The YAML front matter, found as huggingface_hub finds it (``---`` lines)."""
    match = re.match(r"^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))", markdown)
    assert match, markdown[:200]
    return yaml.safe_load(match[2])


def assert_valid_mct(doc: dict[str, Any]) -> None:
    """Valid against MCT v0.0.2 with format checking, and with no field the schema does not declare."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    errors += [f"{list(e.absolute_path)}: {e.message}" for e in STRICT.iter_errors(doc)]
    assert not errors, errors


def test_the_schema_is_mct_draft_07_and_its_formats_are_checked() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert validator_for(SCHEMA) is Draft7Validator
    Draft7Validator.check_schema(SCHEMA)
    # the format checks this test relies on are really active (jsonschema[format-nongpl] installed), not skipped
    assert {"date", "uri"} <= set(FORMAT_CHECKER.checkers)
    assert not FORMAT_CHECKER.conforms("2026-12-01T08:37:13.065985Z", "date")
    assert not FORMAT_CHECKER.conforms("git@github.com:org/repo.git", "uri")
    assert not FORMAT_CHECKER.conforms("C:\\src\\repo", "uri")
    assert FORMAT_CHECKER.conforms("ssh://git@github.com/org/repo.git", "uri")


# ------------------------------------------------------------------------------------------- a small world
@dataclass
class World:
    cs: Countersign
    out: Path

    def export(self, ref: str, fmt: str) -> str:
        return self.cs.export_card(self.cs.login("aude", USERS["aude"][1]), ref, fmt)

    def mct(self, ref: str) -> dict[str, Any]:
        return json.loads(self.export(ref, "json"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _populated_template: Path) -> World:
    folder = tmp_path_factory.mktemp("card-interop")
    cs = _copy_db(_populated_template, folder / "ledger.duckdb")
    dana, chloe = cs.login("dana", USERS["dana"][1]), cs.login("chloe", USERS["chloe"][1])
    rng = np.random.default_rng(13)
    n = 600
    frame = pd.DataFrame({"x1": rng.normal(size=n).round(4), "x2": rng.normal(size=n).round(4),
                          "geschlecht": np.tile(GROUPS, n // len(GROUPS)),
                          "region": np.repeat(["Nord", "Süd"], n // 2)})
    frame["y"] = (frame["x1"] + 0.5 * rng.normal(size=n) > 0).astype(int)
    train, held_out = frame.iloc[::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)
    model = LogisticRegression().fit(train[["x1", "x2"]], train["y"])
    held_out["vendor_score"] = model.predict_proba(held_out[["x1", "x2"]])[:, 1].round(3)
    held_out["vendor_pred"] = (held_out["vendor_score"] >= 0.5).astype(int)
    train.to_csv(folder / "train.csv", index=False)
    held_out.to_csv(folder / "eval.csv", index=False)
    sio.dump(model, folder / "model.skops")
    (folder / "card.yaml").write_text(yaml.safe_dump(CARD, allow_unicode=True), encoding="utf-8")
    (folder / "policy.yaml").write_text(POLICY, encoding="utf-8")
    cs.register_dataset(dana, folder / "train.csv", name="tiny-train", version="1")
    cs.register_dataset(dana, folder / "eval.csv", name="tiny-eval", version="1")
    cs.register_model(dana, folder / "model.skops", name="tiny-scorer", version="1", trained_on=["tiny-train@1"],
                      card=folder / "card.yaml", code_ref="git@github.com:org/repo.git", features=["x1", "x2"])
    cs.register_model(dana, folder / "model.skops", name="tiny-scorer", version="2", trained_on=["tiny-train@1"],
                      code_ref="repo@abc123", features=["x1", "x2"])
    cs.register_model(dana, None, name="vendor/odd.Name_-x", version="1.0+local", trained_on=["tiny-train@1"],
                      external=True, features=["x1", "x2"], card=folder / "card.yaml",
                      code_ref="C:\\Users\\Zoë\\vendor repo@abc")
    cs.add_policy(chloe, folder / "policy.yaml")
    cs.evaluate(dana, SCORER, data="tiny-eval@1", policy="interop@1", label="y")
    cs.evaluate(dana, VENDOR, data="tiny-eval@1", policy="interop@1", label="y", prediction_column="vendor_pred",
                score_column="vendor_score")
    return World(cs, folder)


# ------------------------------------------------------------------------------------------- Model Card Toolkit
@pytest.mark.parametrize("ref", MODELS)
def test_mct_json_validates_with_format_checking(world: World, ref: str) -> None:
    doc = world.mct(ref)
    assert_valid_mct(doc)
    assert doc["schema_version"] == "0.0.2"
    name, _, version = ref.partition("@")
    assert doc["model_details"]["name"] == name and doc["model_details"]["version"]["name"] == version
    registered = world.cs.model(world.cs.login("aude", USERS["aude"][1]), ref)["registered_at"]
    assert doc["model_details"]["version"]["date"] == registered[:10]  # the UTC date of the ledger timestamp


def test_code_references_become_uris_or_stay_in_free_text(world: World) -> None:
    scp = world.mct(SCORER)["model_details"]
    assert scp["references"] == [{"reference": "ssh://git@github.com/org/repo.git"}]
    assert "Code reference (as registered): git@github.com:org/repo.git" in scp["documentation"]
    windows = world.mct(VENDOR)["model_details"]
    assert windows["references"] == [{"reference": "file:///C:/Users/Zo%C3%AB/vendor%20repo@abc"}]
    assert "C:\\Users\\Zoë\\vendor repo@abc" in windows["documentation"]
    bare = world.mct(UNEVALUATED)["model_details"]
    assert bare["references"] == [] and "Code reference (as registered): repo@abc123" in bare["documentation"]


def test_performance_metric_slices_are_data_slices(world: World) -> None:
    metrics = world.mct(SCORER)["quantitative_analysis"]["performance_metrics"]
    checks = {"auc", "acc", "dp-geschlecht", "eo-both"}
    overall = [m for m in metrics if "slice" not in m]
    # every check is named in its metric's type, on the whole evaluation data (no slice)
    assert {re.search(r"\(check (.+)\)$", m["type"])[1] for m in overall} == checks
    assert overall[0]["type"] == "roc_auc (check auc)"
    assert any(m["type"] == "demographic_parity_difference across geschlecht (check dp-geschlecht)" for m in overall)
    sliced = {(m["type"], m["slice"]): float(m["value"]) for m in metrics if "slice" in m}
    assert not {s for _t, s in sliced} & checks
    assert {s for t, s in sliced if t == "selection_rate"} == {f"geschlecht={g}" for g in GROUPS}
    assert ("true_positive_rate", "(geschlecht, region)=(Frau, Nord)") in sliced
    result = world.cs.evaluation(world.cs.login("aude", USERS["aude"][1]),
                                 world.cs.evaluations(world.cs.login("aude", USERS["aude"][1]), SCORER)[0]["id"])
    dp = next(c for c in result["checks"] if c["id"] == "dp-geschlecht")
    assert sliced[("selection_rate", "geschlecht=Männer")] == dp["details"]["groups"]["Männer"]["selection_rate"]
    rates = [sliced[("selection_rate", f"geschlecht={g}")] for g in GROUPS]
    assert max(rates) - min(rates) == pytest.approx(dp["value"])


def test_datasets_are_labelled_training_or_evaluation(world: World) -> None:
    data = world.mct(SCORER)["model_parameters"]["data"]
    assert [d["name"] for d in data] == ["tiny-train@1", "tiny-eval@1"]
    assert data[0]["description"].startswith("Training data") and CARD["training_data"] in data[0]["description"]
    assert data[1]["description"].startswith("Evaluation data") and CARD["evaluation_data"] in data[1]["description"]
    assert data[1]["sensitive"] == {"sensitive_data": ["geschlecht", "region"]}
    assert "in-sample" not in data[1]["description"]
    unevaluated = world.mct(UNEVALUATED)["model_parameters"]["data"]
    assert len(unevaluated) == 1 and unevaluated[0]["description"].startswith("Training data")


def test_mct_json_text_is_plain_text(world: World) -> None:
    details = world.mct(SCORER)["model_details"]
    assert details["overview"] == CARD["model_details"]  # JSON holds the text itself, no Markdown escapes


# ------------------------------------------------------------------------------------------- external models
def test_external_model_says_it_has_no_artifact(world: World, tmp_path: Path) -> None:
    markdown, html, doc = world.export(VENDOR, "md"), world.export(VENDOR, "html"), world.mct(VENDOR)
    for text in (markdown.replace("\\", ""), html):  # (Markdown escapes its punctuation)
        assert "None" not in text and "External model, known only by its predictions: no artifact" in text
    assert "external model" in doc["model_parameters"]["model_architecture"]
    assert f"Artifact: {NO_ARTIFACT}." in doc["model_details"]["documentation"]
    registered = world.export(SCORER, "md")
    assert "Artifact SHA\\-256 " in registered and "None" not in registered

    auditor = world.cs.login("aude", USERS["aude"][1])
    world.cs.report(auditor, VENDOR.partition("@")[0], out=tmp_path / "bundle")
    report = (tmp_path / "bundle" / "report.html").read_text(encoding="utf-8")
    row = re.search(r"<td>Artifact SHA-256</td><td>(.*?)</td>", report)
    assert row and row[1] == NO_ARTIFACT
    from pypdf import PdfReader

    pdf = "".join("".join(page.extract_text().split()) for page in PdfReader(tmp_path / "bundle" / "report.pdf").pages)
    assert "".join(NO_ARTIFACT.split()) in pdf


# ------------------------------------------------------------------------------------------- Hugging Face
@pytest.mark.parametrize("ref", MODELS)
def test_hugging_face_card_round_trips_through_huggingface_hub(world: World, ref: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # parsing only: never the network
    from huggingface_hub import ModelCard, ModelCardData

    markdown = world.export(ref, "md")
    front = front_matter(markdown)
    card = ModelCard(markdown)
    assert card.data.to_dict() == front
    assert ModelCardData(**front).to_dict() == front
    assert yaml.safe_load(card.data.to_yaml()) == front
    assert card.data.model_name == ref and card.text.lstrip().startswith("# Model card:")
    assert (card.data.library_name == "sklearn") is (ref != VENDOR)
    results = card.data.eval_results or []
    if ref == UNEVALUATED:
        assert results == []
        return
    auditor = world.cs.login("aude", USERS["aude"][1])
    evaluation = world.cs.evaluation(auditor, world.cs.evaluations(auditor, ref)[0]["id"])
    expected = {c["id"]: c for c in evaluation["checks"] if c["kind"] in ("metric", "fairness")}
    assert {r.metric_name: r.metric_value for r in results} == {k: c["value"] for k, c in expected.items()}
    assert {r.metric_type for r in results} == {c["metric"] for c in expected.values()}
    assert {(r.dataset_name, r.dataset_revision) for r in results} == {("tiny-eval@1", evaluation["data"]["sha256"])}


# ------------------------------------------------------------------------------------------- any accepted input
URI_STRATEGY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@URI_STRATEGY_SETTINGS
@given(st.text())
def test_reference_uri_never_returns_an_invalid_uri(text: str) -> None:
    uri = reference_uri(text)
    assert uri is None or FORMAT_CHECKER.conforms(uri, "uri"), uri


_label = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
                 min_size=1, max_size=20).filter(str.strip)
_host = st.from_regex(r"[a-z0-9](?:[a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True)
_user = st.from_regex(r"[A-Za-z0-9._~-]{1,10}", fullmatch=True)


@URI_STRATEGY_SETTINGS
@given(st.one_of(
    st.builds(lambda u, h, p: f"{u}@{h}:{p}", _user, _host, _label.filter(lambda p: not p.startswith("/")
                                                                             or len(p) > 1)),
    st.builds(lambda d, p: f"{d}:\\{p}", st.sampled_from("CDZcz"), _label),
    st.builds(lambda s, h, p: f"{s}://{h}/{p}", st.sampled_from(["https", "http", "ssh", "git+ssh", "git"]),
              _host, _label),
    st.builds(lambda p: f"/{p}", _label.filter(lambda p: not p.startswith("/"))),
))
def test_references_with_a_standard_mapping_become_valid_uris(text: str) -> None:
    uri = reference_uri(text)
    assert uri is not None and FORMAT_CHECKER.conforms(uri, "uri"), (text, uri)


def test_reference_uri_mappings() -> None:
    assert reference_uri("git@github.com:org/repo.git") == "ssh://git@github.com/org/repo.git"
    assert reference_uri("git@gitlab.example:/srv/repo.git@4f2c1d0") == "ssh://git@gitlab.example/srv/repo.git@4f2c1d0"
    assert reference_uri("https://git.example/ml@4f2c1d0") == "https://git.example/ml@4f2c1d0"
    assert reference_uri("https://git.example/a b/ü") == "https://git.example/a%20b/%C3%BC"
    assert reference_uri("C:\\src\\repo@1") == "file:///C:/src/repo@1"
    assert reference_uri("\\\\server\\share\\repo") == "file://server/share/repo"
    assert reference_uri("/srv/git/repo@1") == "file:///srv/git/repo@1"
    for no_uri in ("repo@abc", "./repo@abc", "~/repo@abc", "C:repo@abc", "https://[::1]/x@1", "https://h:x/y@1",
                   "a\nb@c", "", None):
        assert reference_uri(no_uri) is None, no_uri


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, None]) | st.builds(
                        lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439))))
def test_dates_from_timestamps_are_rfc3339_dates(moment: datetime) -> None:
    for value in (moment, moment.isoformat(), moment.isoformat().replace("+00:00", "Z")):
        date = iso_date(value)
        assert date is not None and FORMAT_CHECKER.conforms(date, "date"), (value, date)
    assert iso_date("not a timestamp") is None


_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.none())
_section = st.one_of(st.none(), st.text(max_size=40), st.lists(st.text(max_size=20), max_size=3),
                     st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3))
_ref = st.from_regex(REF_RE, fullmatch=True)


@st.composite
def _model_and_result(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any] | None]:
    ref = draw(_ref)
    name, _, version = ref.partition("@")
    external = draw(st.booleans())
    moment = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
    features = draw(st.lists(st.text(min_size=1, max_size=10), max_size=3))
    model = {
        "ref": ref, "name": name, "version": version, "external": external,
        "artifact_digest": None if external else "ab" * 32, "estimator": None if external else draw(st.text()),
        "framework": None if external else "scikit-learn 1.6", "owner": draw(st.from_regex(r"[a-z][a-z0-9._-]{1,20}",
                                                                                           fullmatch=True)),
        "risk_tier": draw(st.sampled_from([None, "low", "high"])),
        "registered_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "code_ref": draw(st.one_of(st.none(), st.text().map(lambda t: t + "@" + t[:3]))),
        "features": [{"name": f, "type": "VARCHAR"} for f in features],
        "trained_on": draw(st.lists(_ref, min_size=1, max_size=2)),
        "card": draw(st.one_of(st.none(), st.fixed_dictionaries({}, optional={k: _section for k in CARD}))),
    }
    if not draw(st.booleans()):
        return model, None
    sensitive = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=2, unique=True))
    groups = draw(st.dictionaries(st.text(max_size=10), st.fixed_dictionaries(
        {"included": st.booleans(), "selection_rate": _number}), max_size=4))
    checks = [{"id": draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)), "kind": kind, "metric": metric,
               "value": draw(_number), "operator": "gte", "threshold": 0.5, "passed": True,
               "details": {"sensitive_features": sensitive, "rates": ["selection_rate"], "groups": groups}}
              for kind, metric in draw(st.lists(st.sampled_from([
                  ("metric", "roc_auc"), ("fairness", "demographic_parity_ratio"), ("drift", "drifted_share"),
                  ("documentation", "model_card")]), max_size=4))]
    result = {"id": "ev-0123456789ab", "verdict": "pass", "checks": checks,
              "policy": {"name": "p", "version": 1},
              "data": {"ref": draw(_ref), "rows": draw(st.integers(0, 10**6)), "sha256": "cd" * 32}}
    return model, result


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_model_and_result())
def test_any_accepted_model_exports_valid_mct_json_and_hugging_face_metadata(
        case: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
    model, result = case
    text = _toolkit_json(model, result)
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))  # no NaN or Infinity
    assert_valid_mct(doc)
    for metric in doc["quantitative_analysis"]["performance_metrics"]:
        assert math.isfinite(float(metric["value"]))
    front = front_matter(_markdown(copy.deepcopy(model), result))
    for entry in front["model-index"][0]["results"]:
        assert all(math.isfinite(m["value"]) for m in entry["metrics"])


# ---------------------------------------------------------------------------------------------- second pass
@pytest.mark.parametrize("reference", ["doi:10.5281/zenodo.123@v1", "mailto:ml-team@example.com",
                                       "urn:isbn:0451450523", "swh:1:rev:309cf2674ee7a0749978cf8265ab91a60aea0f7d",
                                       "file:relative/path"])
def test_uris_without_an_authority_are_kept_as_they_are(reference: str) -> None:
    assert reference_uri(reference) == reference


def test_git_scp_references_still_become_ssh_uris() -> None:
    assert reference_uri("git@github.com:org/repo.git") == "ssh://git@github.com/org/repo.git"


def test_the_markdown_card_names_the_model_in_a_code_span_without_invisible_characters() -> None:
    from core.evidence.card_export import _markdown

    model = {"ref": "mc.ext_odd@1.0-b", "card": None, "framework": None, "artifact_digest": None, "estimator": None,
             "owner": "dana", "risk_tier": None}
    text = _markdown(model, None)
    assert "# Model card: `mc.ext_odd@1.0-b`" in text and "\u2060" not in text.split("\n# ")[1].splitlines()[0]


def test_a_macro_averaged_metric_says_so_in_every_export() -> None:
    from core.evidence.card_export import _metrics, _performance_metrics

    result = {"checks": [{"id": "f1m", "kind": "metric", "metric": "f1", "value": 0.5, "average": "macro",
                          "passed": True, "operator": "gte", "threshold": 0.4, "details": {}}]}
    assert _metrics(result) == [{"type": "f1", "value": 0.5, "name": "f1m", "args": {"average": "macro"}}]
    assert _performance_metrics(result)[0]["type"] == "f1 (macro average) (check f1m)"
