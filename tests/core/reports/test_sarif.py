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
from tests.core.reports.sarif_tools import multitool_findings, schema_errors
from tests.reports_fixtures import FAILING, LINES, POLICY, waive

LEVEL = {"block": "error", "warn": "warning"}


def _log(logged: dict[str, Any], policy: str, waivers: list[dict[str, Any]] | None = None,
         uri: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
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
        assert physical["region"] == {"startLine": LINES[check_id], "snippet": {"text": line}}
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
    _result, log = _log(logged, "ci-gate", logged["cs"].waivers(logged["dana"], "vendor@1"))
    assert schema_errors(log) == []
    (run,) = log["runs"]
    found = {r["ruleId"]: r for r in run["results"]}
    assert set(found) == set(FAILING)  # a waived failure is still a result: suppressed, not dropped
    (suppression,) = found["auc-high"]["suppressions"]
    assert (suppression["kind"], suppression["status"]) == ("external", "accepted")
    assert suppression["properties"]["waiver"] == granted["id"]
    assert all("suppressions" not in r for k, r in found.items() if k != "auc-high")
    assert "artifacts" not in run  # a registered policy has no file: its checks are located logically
    assert all("physicalLocation" not in r["locations"][0] for r in run["results"])
    path = tmp_path / "waived.sarif"
    path.write_text(json.dumps(log), encoding="utf-8")
    assert [f for f in multitool_findings(path, tmp_path) if f["level"] == "error"] == []
