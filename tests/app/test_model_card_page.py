"""The model card page explains its numbers (issue 14, defects 8 and 10, "numbers that explain themselves").

Over every model version and tab of the seeded demo: no ``None``, Python list or dict, ``True``/``False``, policy
operator (``gte``, ``lte``…), microsecond or ISO timestamp, or number with more than 4 decimals anywhere in what the
page shows (Markdown, text, alerts, metrics, widget labels and options, table cells and headers). Each check is a
sentence with the rule in words and the result in words and colour; the documentation check says what its "0"
means; fairness charts draw, per rate, the band the rule allows and name the binding rate (both rates of equalized
odds); every chart has a description and a text alternative beside it; the URL's ``model`` and ``evaluation``
select the version and the evaluation, and the page keeps them in step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.api.countersign import Countersign
from core.evaluation import explanations as ex
from core.policy.rules import FAIRNESS_METRICS, PERFORMANCE_METRICS
from tests.app.conftest import OpenApp
from tests.app.demo_db import PASSWORDS

TABS = ["Card", "Metrics and fairness", "Data", "Waivers, history and diff"]
VERSIONS = ["adult-income@1", "adult-income@2", "german-credit-scorer@1", "german-credit-scorer@2"]
#: What must never be shown: raw Python values, operators, unrounded numbers, machine timestamps.
FORBIDDEN = {
    "None": re.compile(r"\bNone\b"),
    "True/False": re.compile(r"\b(True|False)\b(?!-)"),
    "Python list or dict": re.compile(r"\[\s*'|\{\s*'|'\s*\]"),
    "operator": re.compile(r"\b(gte|lte|gt|lt|eq)\b"),
    "more than 4 decimals": re.compile(r"\d\.\d{5,}"),
    "microseconds": re.compile(r"\d{2}:\d{2}:\d{2}\.\d"),
    "ISO timestamp": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"),
    "nan": re.compile(r"\bnan\b", re.IGNORECASE),
}


def _unescape(source: str) -> str:
    """What a reader sees of Markdown source whose punctuation is backslash-escaped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", source).replace("\u2060", "")


def _page(open_app: OpenApp, db: Path, user: str, **params: str) -> AppTest:
    at = open_app(db, user)
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("app_pages/model_card.py")
    return at.run()


def _tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["card_tab"] = tab
    return at.run()


def _shown(at: AppTest) -> Iterator[tuple[str, str]]:
    """Every text the page shows, as the reader sees it (Markdown unescaped), with where it is."""
    main = at.main
    for kind in ("markdown", "caption", "text", "info", "warning", "success", "error", "title", "header",
                 "subheader"):
        for element in getattr(main, kind):
            yield kind, _unescape(str(element.value))
    for metric in main.metric:
        yield "metric", _unescape(f"{metric.label}: {metric.value}")
    for expander in main.expander:
        yield "expander", _unescape(expander.label)
    for widget in main.selectbox:
        yield "selectbox", _unescape(widget.label)
        for option in widget.options:
            yield "option", _unescape(str(option))
    for frame in main.dataframe:
        value = frame.value
        for column in value.columns:
            yield "column", str(column)
        for record in value.astype(str).to_dict("records"):
            for column, cell in record.items():
                yield f"cell {column}", cell


def _markdown(at: AppTest) -> list[str]:
    return [_unescape(m.value) for m in at.main.markdown]


def _specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


@pytest.mark.parametrize("ref", VERSIONS)
def test_no_raw_value_on_any_tab(open_app: OpenApp, shared_demo: Path, ref: str) -> None:
    at = _page(open_app, shared_demo, "chloe", model=ref)
    for tab in TABS:
        at = _tab(at, tab)
        assert not at.exception, (ref, tab, [e.value for e in at.exception])
        for where, text in _shown(at):
            for rule, pattern in FORBIDDEN.items():
                assert not pattern.search(text), (ref, tab, where, rule, text)


def test_each_check_is_a_sentence_with_its_rule_and_result_in_words(open_app: OpenApp, shared_demo: Path) -> None:
    at = _tab(_page(open_app, shared_demo, "aude", model="german-credit-scorer@1"), "Metrics and fairness")
    lines = [m.value for m in at.main.markdown]
    shown = _markdown(at)
    auc = next(s for s in shown if s.startswith(":green-badge[passes] **auc**"))
    assert re.search(r"ROC AUC 0\.\d{4} — must be at least 0\.7000: passes$", auc), auc
    # The documentation check says what its number is.
    doc = next(s for s in shown if "**documentation**" in s and "badge" in s)
    assert "Documentation: 0 of 7 required sections missing (the card is complete)" in doc
    assert "must leave none of the 7 required sections missing (model details, intended use" in doc
    # Warning-only checks say so.
    assert any("**balanced-accuracy** (warning only: does not block promotion)" in s for s in shown)
    # Definitions, formulas and references are there for every check.
    assert at.main.expander[0].label.startswith("What these numbers mean")
    assert any(s.startswith("**auc — ROC AUC.** The probability") for s in shown)
    assert any("Follows: scikit-learn sklearn.metrics.roc_auc_score" in s for s in shown)
    assert any("Follows: fairlearn.metrics.equalized_odds_difference" in s for s in shown)
    # The evaluation is on the model's training data: the page says so where the numbers are.
    assert any("own training data" in w.value for w in at.main.warning)
    # Pass and fail in words inside the colour (the badge), never the colour alone.
    assert all(re.search(r":(green|red)-badge\[(passes|fails)\]", line) for line in lines if "-badge[" in line)


def test_a_failing_check_says_fails_in_red_with_its_limit(open_app: OpenApp, shared_demo: Path) -> None:
    at = _tab(_page(open_app, shared_demo, "aude", model="adult-income@1"), "Metrics and fairness")
    shown = _markdown(at)
    dp = next(s for s in shown if s.startswith(":red-badge[fails] **dp-sex**:"))
    assert re.search(r"Demographic parity difference 0\.\d{4} — must be at most 0\.1000: fails$", dp), dp
    summary = next(s for s in shown if "Evaluation ev-" in s)
    assert summary.startswith(":red-badge[fails]") and "blocking failures: dp-sex" in summary
    assert re.search(r"on \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", summary)
    assert not any("own training data" in w.value for w in at.main.warning)  # adult is tested on held-out data


def test_a_waived_failure_names_its_waiver(open_app: OpenApp, shared_demo: Path) -> None:
    at = _tab(_page(open_app, shared_demo, "aude", model="adult-income@2"), "Metrics and fairness")
    line = next(s for s in _markdown(at) if s.startswith(":red-badge[fails] **selection-parity-sex**:"))
    assert re.search(r"fails — waived until \d{4}-\d{2}-\d{2} by chloe \(wv-[0-9a-f]+\)$", line), line


def test_equalized_odds_draws_both_rates_with_their_bands_and_names_the_binding_one(
        open_app: OpenApp, shared_demo: Path) -> None:
    at = _tab(_page(open_app, shared_demo, "aude", model="german-credit-scorer@1"), "Metrics and fairness")
    titles = [spec.get("title") for spec in _specs(at)]
    odds = [t for t in titles if isinstance(t, str) and t.startswith("equalized-odds-sex:")]
    assert odds == ["equalized-odds-sex: true-positive rate by group",
                    "equalized-odds-sex: false-positive rate by group — the binding rate"], titles
    assert any("The false-positive rate gap binds" in s for s in _markdown(at))
    # The limits drawn are the rule's, per rate: within 0.15 of each rate's highest group (never above every rate).
    cs = Countersign(shared_demo)
    who = cs.login("aude", PASSWORDS["aude"])
    check = next(c for c in cs.evaluation(who, cs.evaluations(who, "german-credit-scorer@1")[0]["id"])["checks"]
                 if c["id"] == "equalized-odds-sex")
    bands = {b.rate: b for b in ex.fairness_bands(check)}
    for rate in ("true_positive_rate", "false_positive_rate"):
        band = bands[rate]
        assert band.high == max(band.groups.values()) and band.low == pytest.approx(band.high - 0.15)
        assert band.low < min(band.groups.values())  # passes: every group inside
        description = next(s for s in _markdown(at) if s.startswith("*Chart description:* Bar chart of the "
                                                                       f"{band.label} of each sex group"))
        assert f"allowed band {ex.number(band.low)} to {ex.number(band.high)}" in description
    assert bands["false_positive_rate"].binding and not bands["true_positive_rate"].binding


def test_every_chart_has_a_description_and_a_text_alternative(open_app: OpenApp, shared_demo: Path) -> None:
    for ref in VERSIONS:
        at = _tab(_page(open_app, shared_demo, "chloe", model=ref), "Metrics and fairness")
        specs = _specs(at)
        assert len(specs) >= 5, ref  # performance, confusion matrix, fairness per rate, importance or drift
        assert all(spec.get("description") and spec.get("title") for spec in specs), ref
        descriptions = [s for s in _markdown(at) if s.startswith("*Chart description:* ")]
        assert len(descriptions) == len(specs), ref
        assert [d.removeprefix("*Chart description:* ") for d in descriptions] == \
            [spec["description"] for spec in specs]
        assert any("Confusion matrix of" in d and "actual 1, predicted 1:" in d for d in descriptions)
        # the evaluation stores the ROC curve's points and each drifted feature's two distributions: drawn
        assert any(d.startswith("*Chart description:* ROC curve of") for d in descriptions), ref
        assert any(d.startswith("*Chart description:* Bar chart of the share of rows per bin of")
                   for d in descriptions), ref


def test_the_url_selects_the_version_and_the_evaluation(open_app: OpenApp, shared_demo: Path) -> None:
    cs = Countersign(shared_demo)
    who = cs.login("aude", PASSWORDS["aude"])
    older = cs.evaluations(who, "adult-income@1")[-1]["id"]  # newest first: the older of the two
    at = _page(open_app, shared_demo, "aude", model="adult-income@1", evaluation=older)
    assert not at.exception
    assert at.selectbox(key="card_ref").value == "adult-income@1"
    assert at.session_state["card_tab"] == "Metrics and fairness"  # an evaluation link opens its tab
    assert at.selectbox(key="card_eval").value == older
    assert at.query_params["model"] in ("adult-income@1", ["adult-income@1"])
    # Choosing another version updates the URL and drops the other version's evaluation.
    at.selectbox(key="card_ref").set_value("german-credit-scorer@1")
    at = at.run()
    assert not at.exception
    assert at.query_params["model"] in ("german-credit-scorer@1", ["german-credit-scorer@1"])
    assert "evaluation" not in at.query_params or at.selectbox(key="card_eval").value != older

    # An evaluation link without a model opens the evaluation's own model version.
    at = _page(open_app, shared_demo, "aude", evaluation=older)
    assert not at.exception
    assert at.selectbox(key="card_ref").value == "adult-income@1"
    assert at.selectbox(key="card_eval").value == older


def test_an_unknown_version_or_evaluation_in_the_url_says_so_and_falls_back(open_app: OpenApp,
                                                                             shared_demo: Path) -> None:
    cs = Countersign(shared_demo)
    latest = cs.evaluations(cs.login("aude", PASSWORDS["aude"]), "german-credit-scorer@1")[0]["id"]
    at = _page(open_app, shared_demo, "aude", model="german-credit-scorer@1", evaluation="ev-nosuch")
    assert not at.exception
    assert at.selectbox(key="card_eval").value == latest
    assert at.query_params.get("evaluation") in (None, latest, [latest])
    at = _page(open_app, shared_demo, "aude", model="no-such@9")
    assert not at.exception
    assert any("There is no model version no-such@9" in _unescape(w.value) for w in at.main.warning)


def test_a_suspended_version_shows_the_suspension_and_its_reason(open_app: OpenApp, shared_demo: Path) -> None:
    at = _page(open_app, shared_demo, "aude", model="german-credit-scorer@2")
    errors = [_unescape(e.value) for e in at.main.error]
    assert any(re.fullmatch(r"Suspended on \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC by chloe: Complaint review: "
                            r"unexplained declines in one branch\.", e) for e in errors), errors
    assert at.metric[0].label == "Stage" and at.metric[0].value == "suspended"


# -------------------------------------------------------------------------------------------
# core.evaluation.explanations
@pytest.mark.parametrize("metric", [*PERFORMANCE_METRICS, *FAIRNESS_METRICS, "drifted_share (psi)", "model_card",
                                    "shap_top_features", "missing_rate", "schema_match"])
def test_every_metric_a_policy_can_name_has_a_definition(metric: str) -> None:
    d = ex.definition(metric)
    assert d.meaning and d.formula and d.reference and "No definition" not in d.meaning, metric
    assert "_" not in d.label, d.label


def test_check_sentences_in_words() -> None:
    check = {"id": "auc", "kind": "metric", "metric": "roc_auc", "value": 0.9243106866102001, "operator": "gte",
             "threshold": 0.8, "severity": "block", "passed": True, "details": {}, "references": []}
    assert ex.check_sentence(check) == "ROC AUC 0.9243 — must be at least 0.8000: passes"
    undefined = dict(check, value=None, passed=False, details={"reason": "roc_auc is undefined: no actual negatives"})
    assert ex.check_sentence(undefined) == ("ROC AUC undefined — must be at least 0.8000: fails (roc_auc is "
                                            "undefined: no actual negatives)")
    warn = dict(check, metric="log_loss", value=0.7, operator="lte", threshold=0.5, passed=False, severity="warn")
    assert ex.check_sentence(warn) == "Log loss 0.7000 — must be at most 0.5000: fails (warning only)"
    between = dict(check, operator="between", threshold=[0.7, 0.9])
    assert ex.rule_text(between) == "be between 0.7000 and 0.9000"
    doc = {"id": "card", "kind": "documentation", "metric": "model_card", "value": 2, "operator": "requires",
           "threshold": ["intended_use", "limitations"], "severity": "block", "passed": False,
           "details": {"required": ["intended_use", "limitations"], "missing": ["intended_use", "limitations"],
                       "card_present": True}}
    assert ex.check_sentence(doc) == ("Documentation: 2 of 2 required sections missing (intended use, limitations) "
                                      "— must leave none of the 2 required sections missing (intended use, "
                                      "limitations): fails")


def test_stored_curves_and_distributions_are_read_when_present() -> None:
    assert ex.roc_points({}) is None
    points = ex.roc_points({"roc_curve": {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "thresholds": [2, 0.5, 0]}})
    assert points == [{"false-positive rate": 0.0, "true-positive rate": 0.0, "threshold": 2.0},
                      {"false-positive rate": 0.5, "true-positive rate": 0.8, "threshold": 0.5},
                      {"false-positive rate": 1.0, "true-positive rate": 1.0, "threshold": 0.0}]
    assert ex.drift_distribution({}) is None
    assert ex.drift_distribution({"distribution": {"bins": ["a", "b"], "reference": [0.4, 0.6],
                                                   "current": [0.5, 0.5]}}) == [
        {"bin": "a", "data": "reference", "share": 0.4}, {"bin": "b", "data": "reference", "share": 0.6},
        {"bin": "a", "data": "current", "share": 0.5}, {"bin": "b", "data": "current", "share": 0.5}]
    assert ex.confusion_cells({"confusion": {"tp": 3, "fp": 1, "tn": 5, "fn": 2},
                               "data": {"positive_class": "good"}}) == [
        {"actual": "good", "predicted": "good", "rows": 3}, {"actual": "good", "predicted": "not good", "rows": 2},
        {"actual": "not good", "predicted": "good", "rows": 1}, {"actual": "not good", "predicted": "not good",
                                                                 "rows": 5}]
