"""An evaluation as a SARIF 2.1.0 log (OASIS Static Analysis Results Interchange Format), for code scanning.

Shape (SARIF 2.1.0 §3; only the properties Countersign fills)::

    {"$schema": ".../sarif-2.1.0.json", "version": "2.1.0", "runs": [{
      "tool": {"driver": {"name": "Countersign", "version", "semanticVersion",
                          "rules": [one reportingDescriptor per check: id = check id, shortDescription = the rule in
                                    words, defaultConfiguration.level = error (block) | warning (warn)]}},
      "automationDetails": {"id": "countersign/MODEL/"},          (one code-scanning category per model)
      "invocations": [{"executionSuccessful": true, "endTimeUtc"}],
      "artifacts": [{"location": {"uri": POLICY FILE}, "hashes": {"sha-256"}}],            (a policy file only)
      "results": [one per failing or waived check: ruleId, ruleIndex, kind "fail", level from severity,
                  message.text = the check in words, locations = the check's line in the policy file (physical,
                  when the policy is a file) and the check as a logical location (POLICY@V/checks/ID),
                  partialFingerprints (model, policy and check: one alert across evaluations),
                  suppressions = [{kind "external", status "accepted", justification}] when waived],
      "properties": {evaluation id, model, data, verdict, ledger seq}}]}

A passing check is a rule with no result (SARIF §3.27.9: absence of a result means the rule held).
"""

from __future__ import annotations

import hashlib
import math
import re
from importlib import metadata
from typing import Any

from core.evaluation.explanations import check_sentence, definition, metric_label, rule_text
from core.reports.outcomes import CheckOutcome
from core.reports.text import report_text

__all__ = ["SARIF_SCHEMA_URI", "SARIF_VERSION", "sarif_log"]

SARIF_VERSION = "2.1.0"
#: The schema URI SARIF 2.1.0's own documents and GitHub's code scanning name.
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"block": "error", "warn": "warning"}


def _version() -> str:
    try:
        return metadata.version("countersign")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree that was never installed
        return "0+unknown"


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _finite(value: object) -> object:
    """A check's value as JSON can carry it (JSON has no NaN or infinity: those are ``null``)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _rule(check: dict[str, Any]) -> dict[str, Any]:
    """A check as a SARIF rule (reportingDescriptor): its id, a friendly PascalCase name from its metric, the rule in
    words, the metric's definition (meaning, formula, reference) as full description and help, the level of its
    severity."""
    severity = str(check.get("severity") or "block")
    meant = definition(check.get("metric"))
    name = "".join(w[:1].upper() + w[1:].lower() for w in re.findall(r"[A-Za-z0-9]+", meant.label)) or "Check"
    rule = f"{metric_label(check.get('metric'))} must {rule_text(check)}"
    defined = " ".join(part for part in (meant.meaning, f"Formula: {meant.formula}." if meant.formula != "—" else "",
                                         f"Reference: {meant.reference}." if meant.reference != "—" else "") if part)
    return {
        "id": check["id"],
        "name": name if name.lower() != str(check["id"]).lower() else f"{name}Check",  # SARIF1001: not the id
        "shortDescription": {"text": report_text(rule)},
        "fullDescription": {"text": report_text(defined or rule)},
        "help": {"text": report_text(f"The policy requires: {rule}. {defined}".strip())},
        "defaultConfiguration": {"level": _LEVEL.get(severity, "error")},
        "properties": {"kind": check.get("kind"), "metric": report_text(check.get("metric")), "severity": severity},
    }


#: A snippet line is cut to this many characters (a policy line may be a megabyte long; one per failing check).
SNIPPET_CHARS = 200


def _snippet(line: str) -> str:
    line = line.removesuffix("\r")
    return report_text(line if len(line) <= SNIPPET_CHARS else line[:SNIPPET_CHARS] + "…")


def _from_column(line: str, column: int) -> str:
    """``line`` from its ``column`` (1-based, in UTF-16 code units) on."""
    units = 0
    for index, char in enumerate(line):
        if units >= column - 1:
            return line[index:]
        units += 2 if ord(char) > 0xFFFF else 1
    return ""


def _region(lines: list[str], line: int, column: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The check's id on its line (from its column to the end of the line, SARIF §3.30.5, cut to 200 characters and
    made visible, as snippet) and, as context, the lines around it (SARIF §3.29, §3.30). Snippets are for people:
    user text in them is shown as :func:`~core.reports.text.report_text` shows it; the policy's exact text is the
    artifact's contents."""
    first, last = max(1, line - 1), min(len(lines), line + 1)
    region: dict[str, Any] = {"startLine": line}
    text = lines[line - 1].removeprefix("\ufeff") if line == 1 else lines[line - 1]
    if column is not None:
        region["startColumn"] = column
        text = _from_column(text, column)
    region["snippet"] = {"text": _snippet(text)}
    context = {"startLine": first, "endLine": last,
               "snippet": {"text": "\n".join(_snippet(text) for text in lines[first - 1:last])}}
    return region, context


def sarif_log(result: dict[str, Any], outcomes: list[CheckOutcome], policy_uri: str) -> dict[str, Any]:
    """The SARIF 2.1.0 log (a JSON object) of ``result`` (an evaluation result as stored) whose checks have
    ``outcomes`` (:func:`core.reports.outcomes.check_outcomes`).

    ``policy_uri`` is the policy file's URI reference (:func:`core.reports.writing.policy_location`): relative to
    the repository root for code scanning (say ``policies/credit.yaml``), ``file:`` for a file elsewhere. Every
    result has this physical location (code scanning rejects a log with a result that has none) besides its logical
    one (``NAME@V/checks/ID``), and the log embeds the policy's text as the artifact's contents."""
    policy = result["policy"]
    policy_ref = f"{policy['name']}@{policy['version']}"
    model_name = str(result["model"]["ref"]).rpartition("@")[0]
    rules = [_rule(o.check) for o in outcomes]
    policy_lines = str(policy.get("text") or "").split("\n")  # lines as Git counts them (outcomes do too)
    if len(policy_lines) > 1 and policy_lines[-1] == "":
        policy_lines.pop()  # a final line break ends the last line; it does not begin another
    results = []
    for index, outcome in enumerate(outcomes):
        if outcome.status == "passed":
            continue
        check = outcome.check
        location: dict[str, Any] = {"logicalLocations": [{
            "name": check["id"], "fullyQualifiedName": report_text(f"{policy_ref}/checks/{check['id']}"),
            "kind": "object"}]}
        physical: dict[str, Any] = {"artifactLocation": {"uri": policy_uri, "index": 0}}
        if outcome.line is not None and outcome.line <= len(policy_lines):
            physical["region"], physical["contextRegion"] = _region(policy_lines, outcome.line, outcome.column)
        location["physicalLocation"] = physical
        entry: dict[str, Any] = {
            "ruleId": check["id"], "ruleIndex": index, "kind": "fail",
            "level": _LEVEL.get(outcome.severity, "error"),
            "message": {"text": report_text(check_sentence(check))},
            "locations": [location],
            "partialFingerprints": {"countersignCheck/v1": _fingerprint(model_name, policy["name"], check["id"])},
            "properties": {"value": _finite(check.get("value")), "severity": outcome.severity},
        }
        if outcome.status == "waived":
            waiver = outcome.waiver or {}
            entry["suppressions"] = [{
                "kind": "external", "status": "accepted",
                "justification": report_text(f"waiver {waiver.get('id')} until {waiver.get('until')}"),
                "properties": {"waiver": waiver.get("id"), "until": waiver.get("until"),
                               "ledger_seq": waiver.get("seq")}}]
        results.append(entry)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "Countersign", "version": _version(), "semanticVersion": _version(),
                            "rules": rules}},
        "automationDetails": {"id": report_text(f"countersign/{model_name}/")},
        "invocations": [{"executionSuccessful": True,
                         **({"endTimeUtc": result["evaluated_at"]} if result.get("evaluated_at") else {})}],
        "results": results,
        "properties": {"evaluation": result.get("id"), "model": report_text(result["model"]["ref"]),
                       "data": report_text(result["data"]["ref"]), "policy": report_text(policy_ref),
                       "verdict": result.get("verdict"), "ledgerSeq": result.get("seq"),
                       "resultSha256": result.get("result_sha256")},
    }
    run["artifacts"] = [{"location": {"uri": policy_uri}, "mimeType": "application/yaml",
                         "contents": {"text": str(policy.get("text") or "")},
                         "hashes": {"sha-256": policy["sha256"]}}]
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
