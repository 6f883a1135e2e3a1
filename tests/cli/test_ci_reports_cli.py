"""``countersign evaluate --junit FILE --sarif FILE`` as a CI job runs it, from a repository checkout: the exit code
is the verdict's, the reports are read by junitparser and checked by SARIF's own tools, bad report paths are refused
before anything is evaluated (nothing ledgered, nothing written)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
from junitparser import JUnitXml

from tests.conftest import USERS, countersign_exe
from tests.core.reports.sarif_tools import multitool_findings, schema_errors
from tests.reports_fixtures import FAILING, LINES, waive

EVALUATE = ["evaluate", "vendor@1", "--data", "log@1", "--label", "y", "--prediction-column", "p",
            "--score-column", "s"]


def _countersign(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*countersign_exe(), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**env, "COUNTERSIGN_USER": "dana", "COUNTERSIGN_PASSWORD": USERS["dana"][1]})


def _evaluations(env: dict[str, str]) -> int:
    con = duckdb.connect(env["COUNTERSIGN_DB"], read_only=True)
    try:
        (count,) = con.execute("SELECT count(*) FROM evaluations").fetchone() or (0,)
        return int(count)
    finally:
        con.close()


def test_a_ci_job_gets_both_reports_and_the_verdicts_exit_code(logged: dict[str, Any], cli_env: dict[str, str],
                                                               checkout: Path, tmp_path: Path) -> None:
    (checkout / "reports").mkdir()
    done = _countersign(cli_env, checkout, *EVALUATE, "--policy", "policies/gate.yaml",
                        "--junit", "reports/junit.xml", "--sarif", "reports/gate.sarif")
    assert done.returncode == 1, done.stderr  # a blocking check failed: the reports do not change the exit code
    assert "Reports written: reports/junit.xml, reports/gate.sarif" in done.stdout
    assert sorted(p.name for p in (checkout / "reports").iterdir()) == ["gate.sarif", "junit.xml"]  # no temporaries

    suite = next(iter(JUnitXml.fromfile(str(checkout / "reports" / "junit.xml"))))
    assert (suite.tests, suite.failures, suite.skipped) == (len(LINES), len(FAILING), 0)
    properties = {p.name: p.value for p in suite.properties()}
    con = duckdb.connect(cli_env["COUNTERSIGN_DB"], read_only=True)
    try:
        stored = con.execute("SELECT result_sha256 FROM evaluations WHERE id = ?",
                             [properties["countersign.evaluation"]]).fetchone()
    finally:
        con.close()
    assert stored is not None and properties["countersign.result_sha256"] == stored[0]  # the stored evidence
    assert {c.name: c.result[0].type for c in suite if c.result} == FAILING

    raw = (checkout / "reports" / "gate.sarif").read_bytes()
    assert raw.isascii() and b"\x1b" not in raw  # user text never raw in the file
    log = json.loads(raw)
    assert schema_errors(log) == []
    (run,) = log["runs"]
    assert run["properties"]["resultSha256"] == stored[0]
    assert {r["ruleId"] for r in run["results"]} == set(FAILING)
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]} == {
        "policies/gate.yaml"}  # relative to the checkout: code scanning shows it on the file
    findings = multitool_findings(checkout / "reports" / "gate.sarif", tmp_path)
    assert [f for f in findings if f["level"] == "error"] == [], findings


def test_a_passing_evaluation_reports_no_failure(logged: dict[str, Any], cli_env: dict[str, str],
                                                 checkout: Path, tmp_path: Path) -> None:
    text = (checkout / "policies" / "gate.yaml").read_text()
    passing = checkout / "policies" / "pass.yaml"
    passing.write_text(text.split("  - id: auc-high")[0])  # the accuracy check alone
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _countersign(cli_env, elsewhere, *EVALUATE, "--policy", str(passing), "--json",
                        "--junit", "j.xml", "--sarif", "s.sarif")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["passed"] is True  # --json output stays one JSON document
    suite = next(iter(JUnitXml.fromfile(str(elsewhere / "j.xml"))))
    assert (suite.tests, suite.failures, suite.skipped) == (1, 0, 0)
    log = json.loads((elsewhere / "s.sarif").read_text())
    assert log["runs"][0]["results"] == [] and schema_errors(log) == []
    # a policy file outside the working folder is named by its file: URI
    assert log["runs"][0]["artifacts"][0]["location"]["uri"] == passing.resolve().as_uri()


def test_report_paths_that_cannot_be_written_are_refused_before_evaluating(
        logged: dict[str, Any], cli_env: dict[str, str], checkout: Path) -> None:
    (checkout / "reports").mkdir()
    (checkout / "data.csv").write_text("y,p\n1,1\n")
    (checkout / "package.json").write_text('{"devDependencies": {"@microsoft/sarif-multitool": "^5.7.0"}}')
    database = Path(cli_env["COUNTERSIGN_DB"])
    kept = {path: path.read_bytes() for path in (checkout / "data.csv", checkout / "package.json",
                                                 checkout / "policies" / "gate.yaml", database)}
    before = _evaluations(cli_env)
    os.mkfifo(checkout / "reports-pipe")
    (checkout / "stdout").symlink_to("/dev/stdout")
    (checkout / "loop").symlink_to(checkout / "loop")
    for args, said in ((["--junit", "reports"], "is a folder"),
                       (["--junit", "new-folder/"], "names a folder"),
                       (["--junit", "reports/."], "names a folder"),
                       (["--sarif", "package.json"], "is not a SARIF 2.1.0 log"),
                       (["--junit", "reports-pipe"], "is not a regular file"),
                       (["--sarif", "stdout"], "is not a regular file"),
                       (["--sarif", "/dev/null"], "is not a regular file"),
                       (["--junit", "loop"], "is not a regular file"),
                       (["--junit", "reports/" + "a" * 252 + ".xml"], "longer than 255 bytes"),
                       (["--sarif", "missing/gate.sarif"], "does not exist"),
                       (["--junit", "reports/r", "--sarif", "./reports/r"], "name the same file"),
                       (["--sarif", "policies/gate.yaml"], "is the policy file being evaluated"),
                       (["--junit", str(database)], "exists and is not a JUnit XML report"),
                       (["--sarif", "data.csv"], "exists and is not a SARIF 2.1.0 log")):
        done = _countersign(cli_env, checkout, *EVALUATE, "--policy", "policies/gate.yaml", *args)
        assert done.returncode == 2 and said in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert _evaluations(cli_env) == before  # nothing evaluated, nothing ledgered
    assert list((checkout / "reports").iterdir()) == []
    assert {path: path.read_bytes() for path in kept} == kept  # nothing replaced
    assert (checkout / "reports-pipe").is_fifo() and (checkout / "stdout").is_symlink()
    assert not [p for p in checkout.iterdir() if p.name.startswith(".countersign-")]  # no temporary file left

    for _ in range(2):  # a CI job's second run replaces its own earlier reports
        done = _countersign(cli_env, checkout, *EVALUATE, "--policy", "policies/gate.yaml",
                            "--junit", "reports/junit.xml", "--sarif", "reports/gate.sarif")
        assert done.returncode == 1, done.stderr
    assert _evaluations(cli_env) == before + 2
    mask = os.umask(0)
    os.umask(mask)
    assert {stat.S_IMODE((checkout / "reports" / n).stat().st_mode) for n in ("junit.xml", "gate.sarif")} == {
        0o666 & ~mask}  # as any file the user makes (the CI's uploader may run as another user)


def test_a_waived_check_of_the_registered_policy_is_found_in_the_checkout(
        logged: dict[str, Any], cli_env: dict[str, str], checkout: Path) -> None:
    granted = waive(logged["cs"], checkout / "policies" / "gate.yaml", "auc-high")
    done = _countersign(cli_env, checkout, *EVALUATE, "--policy", "ci-gate", "--junit", "j.xml", "--sarif", "s.sarif")
    assert done.returncode == 1, done.stderr  # a waiver is honoured by the promotion gate, not by the exit code
    suite = next(iter(JUnitXml.fromfile(str(checkout / "j.xml"))))
    assert (suite.failures, suite.skipped) == (len(FAILING) - 1, 1)
    case = next(c for c in suite if c.name == "auc-high")
    assert case.result[0].type == "waived" and granted["id"] in case.result[0].message
    assert case.result[0].text == f"at: policies/gate.yaml:{LINES['auc-high']}"  # found in the checkout
    log = json.loads((checkout / "s.sarif").read_text())
    waived = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "auc-high")
    assert waived["suppressions"][0]["status"] == "accepted"
    assert waived["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/gate.yaml"


def test_a_cancelled_job_leaves_no_temporary_report_file(logged: dict[str, Any], cli_env: dict[str, str],
                                                         checkout: Path) -> None:
    """CI cancels a job with SIGTERM: the evaluation stops and the temporary files made for the reports go too.
    The policy is a pipe nobody writes to, so the command waits there, after the reports were prepared."""
    os.mkfifo(checkout / "policies" / "pipe.yaml")
    env = {**cli_env, "COUNTERSIGN_USER": "dana", "COUNTERSIGN_PASSWORD": USERS["dana"][1]}
    running = subprocess.Popen([*countersign_exe(), *EVALUATE, "--policy", "policies/pipe.yaml", "--junit", "j.xml",
                                "--sarif", "s.sarif"], cwd=checkout, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len([p for p in checkout.iterdir() if p.name.startswith(".countersign-")]) < 2:
            assert running.poll() is None and time.monotonic() < deadline, running.communicate()
            time.sleep(0.05)
        running.send_signal(signal.SIGTERM)
        _out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not [p.name for p in checkout.iterdir() if p.name.startswith(".countersign-")]
    assert not (checkout / "j.xml").exists() and not (checkout / "s.sarif").exists()
