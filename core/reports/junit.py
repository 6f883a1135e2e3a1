"""An evaluation as a JUnit XML test report, written with `junitparser <https://pypi.org/project/junitparser/>`_.

Shape — valid against the JUnit schema CI servers hold reports to (Jenkins' xunit plugin's ``junit-10.xsd``, the one
pytest's default ``xunit2`` reports follow), read by Jenkins, GitLab's unit test reports and GitHub test-report
actions::

    <testsuites name="countersign evaluate" tests= failures= errors="0" time=>
      <testsuite name="MODEL@V on DATA@V under POLICY@V" timestamp= tests= failures= skipped= time=>
        <properties> evaluation id, model, data and policy with their SHA-256, verdict, ledger seq, engine </properties>
        <testcase name="CHECK_ID" classname="countersign.POLICY.KIND" time="SECONDS">
          <failure type="block|warn" message="the check in words">where, value, rule, reason</failure>   (failed)
          <skipped type="waived" message="waived by WAIVER until DATE: the check in words">where</skipped> (waived)
        </testcase>

One test case per check, in the policy's order; a passing check has no child. A failing check is a ``<failure>``
whatever its severity (``type`` says whether it blocks: a ``warn`` check does not change the exit code); a failing
check covered by an active waiver is ``<skipped>``, as pytest reports an expected failure. ``time`` is the check's
own computing time in seconds (to the millisecond); ``timestamp`` is the ledger entry's time (UTC, no offset, as
JUnit's schema has it). Where the check is written ("policies/credit.yaml:12") is the first line of the failure's or
skip's text: the schema has no file or line attribute on a test case.
"""

from __future__ import annotations

from typing import Any

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from core.evaluation.explanations import check_sentence
from core.reports.outcomes import CheckOutcome
from core.reports.text import report_text

__all__ = ["junit_xml"]


def _where(outcome: CheckOutcome, policy_file: str | None, policy_ref: str) -> str:
    """Where the check is written: ``policies/credit.yaml:12`` (a file), else the policy and check."""
    if policy_file is not None:
        return f"at: {policy_file}" + (f":{outcome.line}" if outcome.line is not None else "")
    return f"at: {policy_ref}, check {outcome.check['id']}"


def _body(outcome: CheckOutcome, where: str) -> str:
    check = outcome.check
    details: dict[str, Any] = check["details"] if isinstance(check.get("details"), dict) else {}
    lines = [where, check_sentence(check), f"severity: {outcome.severity}", f"kind: {check.get('kind')}",
             f"metric: {check.get('metric')}", f"value: {check.get('value')}"]
    if details.get("reason"):
        lines.append(f"reason: {details['reason']}")
    if details.get("drifted_columns"):
        lines.append(f"drifted columns: {', '.join(str(c) for c in details['drifted_columns'])}")
    return "\n".join(report_text(line) for line in lines)


def _timestamp(ts: object) -> str | None:
    """RFC 3339 UTC (``2026-12-02T10:00:00.123Z``) as JUnit's timestamp: seconds, no offset."""
    return str(ts)[:19] if isinstance(ts, str) and len(ts) >= 19 else None


def junit_xml(result: dict[str, Any], outcomes: list[CheckOutcome], policy_file: str | None = None) -> bytes:
    """The JUnit XML report (UTF-8 bytes with an XML declaration) of ``result`` (an evaluation result as stored) whose
    checks have ``outcomes`` (:func:`core.reports.outcomes.check_outcomes`); ``policy_file`` (the policy file,
    relative to the working folder when inside it, :func:`core.reports.writing.policy_location`; ``None`` when there
    is none) and the check's line say where each failing or waived check is written."""
    policy = result["policy"]
    policy_ref = f"{policy['name']}@{policy['version']}"
    suite = TestSuite(report_text(f"{result['model']['ref']} on {result['data']['ref']} under {policy_ref}"))
    stamp = _timestamp(result.get("evaluated_at"))
    if stamp:
        suite.timestamp = stamp
    properties = {
        "countersign.evaluation": result.get("id"), "countersign.model": result["model"]["ref"],
        "countersign.model.artifact_sha256": result["model"].get("artifact_sha256"),
        "countersign.data": result["data"]["ref"], "countersign.data.sha256": result["data"]["sha256"],
        "countersign.policy": policy_ref, "countersign.policy.sha256": policy["sha256"],
        "countersign.verdict": result.get("verdict"), "countersign.ledger_seq": result.get("seq"),
        "countersign.result_sha256": result.get("result_sha256"),
        "countersign.engine": (result.get("engine") or {}).get("name"),
    }
    for name, value in properties.items():
        if value is not None:
            suite.add_property(name, report_text(value))
    for outcome in outcomes:
        check = outcome.check
        # milliseconds, as JUnit readers show them (and never an exponent, which xs:decimal does not allow)
        case = TestCase(report_text(check["id"]), report_text(f"countersign.{policy['name']}.{check['kind']}"),
                        round(float(check.get("seconds") or 0.0), 3))
        where = _where(outcome, policy_file, policy_ref)
        if outcome.status == "failed":
            failure = Failure(report_text(check_sentence(check)), outcome.severity)
            failure.text = _body(outcome, where)
            case.result = [failure]
        elif outcome.status == "waived":
            waiver = outcome.waiver or {}
            skipped = Skipped(report_text(f"waived by {waiver.get('id')} until {waiver.get('until')}: "
                                          f"{check_sentence(check)}"), "waived")
            skipped.text = report_text(where)
            case.result = [skipped]
        suite.add_testcase(case)
    report = JUnitXml("countersign evaluate")
    report.add_testsuite(suite)
    report.update_statistics()
    report._elem.attrib.pop("skipped", None)  # not a testsuites attribute in the schema (each testsuite has its own)
    out: bytes = report.tostring()
    return out if out.startswith(b"<?xml") else b'<?xml version="1.0" encoding="utf-8"?>\n' + out
