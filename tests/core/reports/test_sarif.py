"""The SARIF 2.1.0 log, checked by SARIF's own tools: valid against the OASIS schema, and clean under Microsoft's
SARIF multitool (SARIF's rules and GitHub code scanning's ingestion rules); one result per failing or waived check
at its line in the policy file, level from severity, a waiver as an accepted external suppression, hostile user
text made visible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.reports.outcomes import check_outcomes
from core.reports.sarif import sarif_log
from core.reports.writing import policy_location
from tests.core.reports.sarif_tools import multitool_findings, schema_errors
from tests.reports_fixtures import FAILING, LINES, POLICY, waive

LEVEL = {"block": "error", "warn": "warning"}


def _log(logged: dict[str, Any], policy: str, waivers: list[dict[str, Any]] | None = None,
         uri: str = "policies/gate.yaml") -> tuple[dict[str, Any], dict[str, Any]]:
    result: dict[str, Any] = logged["cs"].evaluate(logged["dana"], "vendor@1", data="log@1", policy=policy,
                                                   label="y", prediction_column="p", score_column="s")
    return result, sarif_log(result, check_outcomes(result, waivers or []), uri)


def test_failing_checks_are_results_at_their_lines(logged: dict[str, Any], checkout: Path, tmp_path: Path) -> None:
    result, log = _log(logged, str(checkout / "policies" / "gate.yaml"), uri="policies/gate.yaml")
    assert schema_errors(log) == []
    (run,) = log["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(LINES)
    (artifact,) = run["artifacts"]
    assert artifact["location"] == {"uri": "policies/gate.yaml"} and artifact["contents"]["text"] == POLICY
    assert artifact["hashes"]["sha-256"] == result["policy"]["sha256"]
    found = {r["ruleId"]: r for r in run["results"]}
    assert set(found) == set(FAILING)
    for check_id, severity in FAILING.items():
        r = found[check_id]
        assert r["level"] == LEVEL[severity] and r["kind"] == "fail"
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == check_id
        physical = r["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "policies/gate.yaml", "index": 0}
        line = POLICY.splitlines()[LINES[check_id] - 1]
        column = physical["region"]["startColumn"]
        assert physical["region"]["startLine"] == LINES[check_id] and line[column - 1:].startswith(check_id)
        assert physical["region"]["snippet"] == {"text": line[column - 1:]}  # the region: from the id on
        assert line in physical["contextRegion"]["snippet"]["text"]
        assert r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == f"ci-gate@1/checks/{check_id}"
        assert "suppressions" not in r
    assert run["properties"]["evaluation"] == result["id"]
    messages = json.dumps([r["message"] for r in run["results"]], ensure_ascii=False)
    assert "\x1b" not in messages and "\ufffe" not in messages  # user text made visible in what people read

    path = tmp_path / "gate.sarif"
    path.write_text(json.dumps(log, indent=2, ensure_ascii=False), encoding="utf-8")
    findings = multitool_findings(path, tmp_path)
    assert [f for f in findings if f["level"] == "error"] == [], findings
    # remarks left, each a choice: no informationUri or helpUri (Countersign has no public web page to name), the
    # check ids as the rule ids (the policy's own names, not "CS1001"), plain messages rather than message strings
    # with arguments, no version-control provenance (the evaluation's ledger entry is its provenance), and the
    # schema's URI not being reachable from this machine
    assert [f for f in findings if f["level"] == "warning" and f["rule"] != "SARIF2005"] == [], findings
    assert {f["rule"] for f in findings} <= {"SARIF2002", "SARIF2003", "SARIF2005", "SARIF2006", "SARIF2009",
                                             "SARIF2012"}, findings


def test_a_waived_check_is_an_accepted_suppression(logged: dict[str, Any], checkout: Path, tmp_path: Path) -> None:
    granted = waive(logged["cs"], checkout / "policies" / "gate.yaml", "auc-high")
    result, _ = _log(logged, "ci-gate")
    # the registered policy is found in the checkout by its SHA-256; elsewhere it gets a name of its own
    assert policy_location("ci-gate", result["policy"], checkout) == ("policies/gate.yaml", "policies/gate.yaml")
    (tmp_path / "empty").mkdir()
    assert policy_location("ci-gate", result["policy"], tmp_path / "empty") == (
        None, "countersign/policies/ci-gate@1.yaml")
    _result, log = _log(logged, "ci-gate", logged["cs"].waivers(logged["dana"], "vendor@1"),
                        uri="countersign/policies/ci-gate@1.yaml")
    assert schema_errors(log) == []
    (run,) = log["runs"]
    found = {r["ruleId"]: r for r in run["results"]}
    assert set(found) == set(FAILING)  # a waived failure is still a result: suppressed, not dropped
    (suppression,) = found["auc-high"]["suppressions"]
    assert (suppression["kind"], suppression["status"]) == ("external", "accepted")
    assert suppression["properties"]["waiver"] == granted["id"]
    assert all("suppressions" not in r for k, r in found.items() if k != "auc-high")
    # every result has a physical location (code scanning rejects a log with one that has none)
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]} == {
        "countersign/policies/ci-gate@1.yaml"}
    assert run["artifacts"][0]["contents"]["text"] == POLICY
    path = tmp_path / "waived.sarif"
    path.write_text(json.dumps(log), encoding="utf-8")
    assert [f for f in multitool_findings(path, tmp_path) if f["level"] == "error"] == []


def test_snippets_are_cut_and_shown_visibly(logged: dict[str, Any], checkout: Path) -> None:
    result, _ = _log(logged, str(checkout / "policies" / "gate.yaml"))
    text = result["policy"]["text"].replace("{id: card,", "{id: card, description: \"\u202e" + "x" * 500 + "\",")
    log = sarif_log({**result, "policy": {**result["policy"], "text": text}}, check_outcomes(
        {**result, "policy": {**result["policy"], "text": text}}, []), "policies/gate.yaml")
    card = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "card")
    region = card["locations"][0]["physicalLocation"]["region"]
    assert "\u202e" not in region["snippet"]["text"] and "\\u202e" in region["snippet"]["text"]
    assert len(region["snippet"]["text"]) < 260 and region["snippet"]["text"].endswith("…")
    assert log["runs"][0]["artifacts"][0]["contents"]["text"] == text  # the exact text: its SHA-256 is given
