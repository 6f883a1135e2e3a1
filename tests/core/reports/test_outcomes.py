"""Each check's outcome for the reports: passed, failed or waived (only by an active waiver of this check under this
registered policy), and its line in the policy text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.reports.outcomes import check_outcomes
from tests.reports_fixtures import FAILING, LINES, waive


def _evaluate(logged: dict[str, Any], policy: str) -> dict[str, Any]:
    result: dict[str, Any] = logged["cs"].evaluate(logged["dana"], "vendor@1", data="log@1", policy=policy,
                                                   label="y", prediction_column="p", score_column="s")
    return result


def test_outcomes_follow_the_checks_and_locate_them(logged: dict[str, Any], checkout: Path) -> None:
    result = _evaluate(logged, str(checkout / "policies" / "gate.yaml"))
    outcomes = check_outcomes(result, [])
    assert [o.check["id"] for o in outcomes] == list(LINES)
    assert {o.check["id"]: o.line for o in outcomes} == LINES
    assert {o.check["id"]: o.column for o in outcomes} == {"acc": 10, "auc-high": 9, "dp-warn": 10, "drift": 10,
                                                           "card": 10}
    assert {o.check["id"]: o.severity for o in outcomes if o.status == "failed"} == FAILING
    assert [o.status for o in outcomes if o.check["id"] not in FAILING] == ["passed"]
    assert all(o.waiver is None for o in outcomes)


def test_only_an_active_waiver_of_this_registered_policy_waives(logged: dict[str, Any], checkout: Path) -> None:
    cs, dana = logged["cs"], logged["dana"]
    granted = waive(cs, checkout / "policies" / "gate.yaml", "auc-high")
    waivers = cs.waivers(dana, "vendor@1")
    registered = _evaluate(logged, "ci-gate")
    outcomes = {o.check["id"]: o for o in check_outcomes(registered, waivers)}
    assert outcomes["auc-high"].status == "waived" and outcomes["auc-high"].waiver["id"] == granted["id"]
    assert outcomes["drift"].status == "failed"  # a waiver covers its own check only
    assert not registered["passed"]  # the evaluation's verdict is not the waiver's to change

    # the same text from a file is not the registered policy the waiver was granted under
    from_file = _evaluate(logged, str(checkout / "policies" / "gate.yaml"))
    assert check_outcomes(from_file, waivers)[1].status == "failed"
    # nor does an inactive waiver, one of another policy version, or one of a check that passed count
    for changed in ({"active": False}, {"policy": "ci-gate@2"}, {"check_id": "acc"}):
        outcome = {o.check["id"]: o.status for o in check_outcomes(registered, [{**waivers[0], **changed}])}
        assert "waived" not in outcome.values(), changed


def test_a_policy_text_that_no_longer_parses_still_reports(logged: dict[str, Any], checkout: Path) -> None:
    result = _evaluate(logged, str(checkout / "policies" / "gate.yaml"))
    broken = {**result, "policy": {**result["policy"], "text": "checks: [unclosed"}}
    assert all(o.line is None for o in check_outcomes(broken, []))


def _located(text: str) -> dict[str, tuple[int | None, int | None]]:
    result = {"policy": {"name": "p", "version": 1, "registered": False, "text": text},
              "checks": [{"id": "a", "passed": True}, {"id": "b", "passed": False, "severity": "block"}]}
    return {o.check["id"]: (o.line, o.column) for o in check_outcomes(result, [])}


def test_lines_are_counted_as_git_counts_them_and_columns_in_utf16() -> None:
    base = "policy: p\nversion: 1\nchecks:\n  - {id: a, metric: accuracy, gte: 0.5}\n  - {id: b, metric: r2, gte: 0}\n"
    assert _located(base) == {"a": (4, 10), "b": (5, 10)}
    assert _located(base.replace("\n", "\r\n")) == {"a": (4, 10), "b": (5, 10)}
    assert _located("\ufeff" + base) == {"a": (4, 10), "b": (5, 10)}  # a byte-order mark is no character
    flow = "\ufeffpolicy: p\nversion: 1\nchecks: [{id: a, metric: accuracy, gte: 0.5}, {id: b, metric: r2, gte: 0}]\n"
    assert _located(flow)["a"] == (3, 15)
    assert _located("\ufeff{policy: p, version: 1, checks: [{id: a, metric: accuracy, gte: 0.5}]}")["a"] == (1, 39)
    # YAML breaks lines at U+2028, U+2029 and U+0085 too; Git, editors and code scanning do not
    for separator in ("\u2028", "\u2029", "\u0085"):
        text = base.replace("version: 1", f'version: 1\ndescription: "x{separator}y"')
        assert _located(text) == {"a": (5, 10), "b": (6, 10)}, repr(separator)
    # columns in UTF-16 code units (SARIF's default): an astral character before the id counts twice
    assert _located(base.replace("{id: b", "{name: \U0001F600, id: b"))["b"] == (5, 20)  # 19 if counted once
