"""``countersign evaluate`` and ``countersign policy`` as a user runs them: real subprocesses and exit codes (0 pass,
1 a blocking check failed, 2 bad input), on the real German credit data and the demo's logistic-regression model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from core.api.countersign import Countersign
from core.demo import data as demo_data
from tests.conftest import USERS, run_cli

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "policies"


run = run_cli


def as_dana(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, *args, user="dana", password=USERS["dana"][1])


@pytest.fixture(scope="module")
def german_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("german")
    prepared = demo_data.prepare_all(folder / "prepared")
    frame = pd.read_csv(prepared["german-credit"])
    features = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL
    model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                LogisticRegression(max_iter=2000)).fit(frame[features], frame[demo_data.GERMAN_LABEL])
    path = folder / "german-logreg.skops"
    sio.dump(model, path)
    return prepared["german-credit"], path


@pytest.fixture
def registered(populated: Countersign, cli_env: dict[str, str], german_model: tuple[Path, Path]) -> dict[str, str]:
    """A database (the one cli_env points at) with German credit and its scorer registered by dana."""
    data, artifact = german_model
    dana = populated.login("dana", USERS["dana"][1])
    populated.register_dataset(dana, data, name="german-credit", version="1")
    populated.register_model(dana, artifact, name="german-credit-scorer", version="1", trained_on=["german-credit@1"],
                             card=demo_data.DATA_DIR / "cards" / "german-credit.yaml")
    return cli_env


def _evaluations(db: str) -> list[tuple[str, bool]]:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute("SELECT id, passed FROM evaluations ORDER BY seq").fetchall()
    finally:
        con.close()


def test_evaluate_exits_1_when_a_blocking_check_fails_and_0_when_all_pass(registered: dict[str, str]) -> None:
    common = ("evaluate", "german-credit-scorer@1", "--data", "german-credit@1", "--label", "good_credit", "--json")
    failed = as_dana(registered, *common, "--policy", str(FIXTURES / "strict.yaml"))
    assert failed.returncode == 1, failed.stderr
    body = json.loads(failed.stdout)
    assert body["verdict"] == "fail" and body["passed"] is False
    assert body["failed_block_checks"] == ["near-perfect-accuracy"]
    assert body["policy"]["name"] == "strict" and body["policy"]["registered"] is False
    assert "Traceback" not in failed.stderr

    passed = as_dana(registered, *common, "--policy", str(FIXTURES / "lenient.yaml"))
    assert passed.returncode == 0, passed.stderr
    body = json.loads(passed.stdout)
    assert body["verdict"] == "pass" and body["failed_block_checks"] == []
    assert body["failed_warn_checks"] == ["near-perfect-accuracy"]  # a failed warn check does not fail the gate
    assert {c["id"] for c in body["checks"]} == {"auc", "dp-sex", "near-perfect-accuracy", "card"}

    stored = _evaluations(registered["COUNTERSIGN_DB"])
    assert [passed_ for _, passed_ in stored] == [False, True]  # a failed evaluation is evidence too
    cs = Countersign(registered["COUNTERSIGN_DB"])
    shown = cs.evaluation(cs.login("aude", USERS["aude"][1]), stored[0][0])
    assert shown["result_intact"] is True and shown["verdict"] == "fail"


def test_evaluate_bad_input_exits_2_and_records_nothing(registered: dict[str, str]) -> None:
    result = as_dana(registered, "evaluate", "german-credit-scorer@1", "--data", "german-credit@2", "--json",
                     "--policy", str(FIXTURES / "lenient.yaml"))
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"error": "no dataset german-credit@2", "exit_code": 2}
    assert "no dataset german-credit@2" in result.stderr and "Traceback" not in result.stderr
    assert _evaluations(registered["COUNTERSIGN_DB"]) == []


def test_policy_check_names_file_and_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    bad = tmp_path / "bad-policy.yaml"
    bad.write_text("policy: p\nversion: 1\nchecks:\n  - id: a\n    metric: roc_auc\n    gte: 1.5\n", encoding="utf-8")
    result = run(cli_env, "policy", "check", str(bad))
    assert result.returncode == 2
    assert f"{bad}:6: checks.0.gte" in result.stderr and "impossible threshold" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""

    good = run(cli_env, "policy", "check", str(ROOT / "policies" / "credit-scoring.yaml"), "--json")
    assert good.returncode == 0, good.stderr
    summary = json.loads(good.stdout)
    assert (summary["policy"], summary["version"], len(summary["checks"])) == ("credit-scoring", 1, 8)


def test_policy_schema_prints_json_schema(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "policy", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert "checks" in schema["properties"] and schema["title"] == "Countersign policy"
