"""The JUnit XML report, read back by junitparser (the library CI tooling uses to read these files): one test case
per check in the policy's order, failures typed by severity, waived failures skipped, the policy file and line of
each check, the evaluation's identity as properties, and hostile user text made visible and well-formed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml, Skipped

from core.reports.junit import junit_xml
from core.reports.outcomes import check_outcomes
from tests.core.reports.junit_tools import junit_schema_errors
from tests.reports_fixtures import FAILING, HOSTILE, LINES, waive


def _report(logged: dict[str, Any], policy: str, waivers: list[dict[str, Any]] | None = None,
            policy_file: str | None = None) -> tuple[dict[str, Any], bytes]:
    result: dict[str, Any] = logged["cs"].evaluate(logged["dana"], "vendor@1", data="log@1", policy=policy,
                                                   label="y", prediction_column="p", score_column="s")
    return result, junit_xml(result, check_outcomes(result, waivers or []), policy_file)


def test_one_case_per_check_failures_typed_by_severity(logged: dict[str, Any], checkout: Path) -> None:
    result, xml = _report(logged, str(checkout / "policies" / "gate.yaml"), policy_file="policies/gate.yaml")
    assert xml.startswith(b"<?xml")
    (suite,) = list(JUnitXml.fromstring(xml.decode("utf-8")))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (5, 4, 0, 0)
    assert suite.name == "vendor@1 on log@1 under ci-gate@1"
    assert suite.timestamp == result["evaluated_at"][:19]
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["countersign.evaluation"] == result["id"]
    assert properties["countersign.verdict"] == "fail"
    assert properties["countersign.ledger_seq"] == str(result["seq"])
    assert properties["countersign.policy.sha256"] == result["policy"]["sha256"]
    cases = list(suite)
    assert [c.name for c in cases] == list(LINES)
    assert [c.classname for c in cases] == [f"countersign.ci-gate.{c['kind']}" for c in result["checks"]]
    assert junit_schema_errors(xml) == []  # the JUnit schema CI servers hold reports to
    for case, check in zip(cases, result["checks"], strict=True):
        assert case.time == round(check["seconds"], 3) and "e" not in case._elem.get("time")
        if check["id"] in FAILING:
            (failure,) = case.result
            assert isinstance(failure, Failure) and failure.type == FAILING[check["id"]]
            where, sentence = failure.text.splitlines()[:2]
            assert where == f"at: policies/gate.yaml:{LINES[check['id']]}" and sentence == failure.message
        else:
            assert case.is_passed and not case.result


def test_a_waived_failure_is_skipped_and_names_its_waiver(logged: dict[str, Any], checkout: Path) -> None:
    granted = waive(logged["cs"], checkout / "policies" / "gate.yaml", "auc-high")
    _result, xml = _report(logged, "ci-gate", logged["cs"].waivers(logged["dana"], "vendor@1"))
    (suite,) = list(JUnitXml.fromstring(xml.decode("utf-8")))
    assert (suite.tests, suite.failures, suite.skipped) == (5, 3, 1)
    case = next(c for c in suite if c.name == "auc-high")
    (skipped,) = case.result
    assert isinstance(skipped, Skipped) and skipped.type == "waived"
    assert f"waived by {granted['id']} until {granted['until']}" in skipped.message
    assert skipped.text == "at: ci-gate@1, check auc-high"  # a registered policy not given as a file
    assert junit_schema_errors(xml) == []


def test_user_text_is_made_visible_and_the_xml_well_formed(logged: dict[str, Any], checkout: Path) -> None:
    _result, xml = _report(logged, str(checkout / "policies" / "gate.yaml"))
    assert b"\x1b" not in xml and "\ufffe".encode() not in xml
    assert junit_schema_errors(xml) == []
    (suite,) = list(JUnitXml.fromstring(xml.decode("utf-8")))
    drift = next(c for c in suite if c.name == "drift")
    assert "x\\x1b[31m\\ufffe" in drift.result[0].text, drift.result[0].text  # the column, named visibly
    assert HOSTILE not in drift.result[0].text
