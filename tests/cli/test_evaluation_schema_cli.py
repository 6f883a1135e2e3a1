"""``countersign evaluation schema``: the published JSON Schema of evaluation results, printed as a user runs it —
and what ``countersign evaluate --json`` and ``countersign evaluation show --json`` print validates against it."""

from __future__ import annotations

import json

import jsonschema

from core.evaluation.result import SCHEMA_ID, json_schema
from tests.cli.test_evaluate_cli import FIXTURES, as_dana, german_model, registered  # noqa: F401 - fixtures
from tests.conftest import USERS, run_cli


def test_evaluation_schema_prints_the_published_schema(cli_env: dict[str, str]) -> None:
    result = run_cli(cli_env, "evaluation", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema == json_schema() and schema["$id"] == SCHEMA_ID
    jsonschema.Draft202012Validator.check_schema(schema)
    assert result.stderr == ""
    assert run_cli(cli_env, "evaluation", "schema", "--json").stdout == result.stdout  # JSON either way


def test_evaluate_and_show_output_validates(registered: dict[str, str]) -> None:  # noqa: F811 - the fixture
    schema = json.loads(run_cli(registered, "evaluation", "schema").stdout)
    check = jsonschema.Draft202012Validator(schema)
    evaluated = as_dana(registered, "evaluate", "german-credit-scorer@1", "--data", "german-credit@1", "--label",
                        "good_credit", "--json", "--policy", str(FIXTURES / "lenient.yaml"))
    assert evaluated.returncode == 0, evaluated.stderr
    body = json.loads(evaluated.stdout)
    check.validate(body)
    shown = run_cli(registered, "evaluation", "show", body["id"], "--json", user="aude", password=USERS["aude"][1])
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    check.validate(record)
    assert record["result_intact"] is True
    assert not check.is_valid({**record, "checks": [{**record["checks"][0], "passed": "yes"}]})
