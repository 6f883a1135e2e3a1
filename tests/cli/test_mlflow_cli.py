"""Issue 18 through the real ``countersign`` command: ``mlflow import``, ``mlflow aliases``, ``mlflow check``
against a real MLflow store (SQLite, made by MLflow in the test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.api.countersign import Countersign
from core.mlflow_registry.names import countersign_name
from tests.conftest import USERS, run_cli
from tests.mlflow_fixtures import MlflowStore, german_model

HOSTILE = "fraud\x1b[2J score\u202e"  # ESC and a bidi override: MLflow accepts them in a name


def as_user(name: str) -> dict[str, str]:
    return {"user": name, "password": USERS[name][1]}


def test_import_then_check_through_the_cli(populated: Countersign, cli_env: dict[str, str],
                                           mlflow_store: MlflowStore, german_frame: tuple[Path, Any],
                                           tmp_path: Path) -> None:
    frame = german_frame[1]
    root = tmp_path / "data"
    root.mkdir()
    (root / "german_credit.csv").write_bytes(german_frame[0].read_bytes())
    mlflow_store.log_version(HOSTILE, german_model(frame), frame, root / "german_credit.csv")

    done = run_cli(cli_env, "mlflow", "import", "--tracking-uri", mlflow_store.uri, "--data-root", str(root),
                   **as_user("dana"))
    assert done.returncode == 0, done.stderr
    assert "Imported 1 model version(s)" in done.stdout and "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "fraud\\x1b[2J score\\u202e" in done.stdout  # the name shown, made visible
    name = countersign_name(HOSTILE)
    assert [m["ref"] for m in populated.models(populated.login("dana", USERS["dana"][1]))] == [f"{name}@1"]

    shown = run_cli(cli_env, "model", "show", f"{name}@1", **as_user("aude"))
    assert shown.returncode == 0, shown.stderr
    assert "  imported from fraud\\x1b[2J score\\u202e v1 (mlflow-model-version:" in shown.stdout, shown.stdout
    assert "  trained on german-credit@" in shown.stdout and "by reference only" not in shown.stdout

    again = run_cli(cli_env, "mlflow", "import", "--json", "--tracking-uri", mlflow_store.uri, **as_user("dana"))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == [
        {"mlflow_name": HOSTILE, "version": "1", "reason": "imported before"}]

    clean = run_cli(cli_env, "mlflow", "check", **as_user("lee"))
    assert clean.returncode == 0, clean.stderr
    assert "1 imported MLflow model(s): 2 governed alias(es) in order, 0 not" in clean.stdout

    mlflow_store.client.set_registered_model_alias(HOSTILE, "champion", "1")  # production, around the gate
    caught = run_cli(cli_env, "mlflow", "check", **as_user("lee"))
    assert caught.returncode == 1, caught.stderr
    assert "unapproved:" in caught.stdout and "alias champion (production) is at version 1" in caught.stdout
    assert f"{name}@1 flagged for revalidation" in caught.stdout and "\x1b" not in caught.stdout
    as_json = run_cli(cli_env, "mlflow", "check", "--json", **as_user("chloe"))
    assert as_json.returncode == 1
    [finding] = json.loads(as_json.stdout)["findings"]
    assert (finding["kind"], finding["found_version"], finding["expected_version"]) == ("unapproved", "1", None)

    aliases = run_cli(cli_env, "mlflow", "aliases", "--set", "production=prod", **as_user("chloe"))
    assert aliases.returncode == 0, aliases.stderr
    assert "production  prod" in aliases.stdout and "staging     challenger" in aliases.stdout


def test_cli_refusals_are_clear_and_write_nothing(populated: Countersign, cli_env: dict[str, str],
                                                  mlflow_store: MlflowStore, tmp_path: Path) -> None:
    missing = run_cli(cli_env, "mlflow", "import", "--tracking-uri", f"sqlite:///{tmp_path}/typo.db",
                      **as_user("dana"))
    assert missing.returncode == 2 and "no MLflow store" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "typo.db").exists()
    denied = run_cli(cli_env, "mlflow", "import", "--tracking-uri", mlflow_store.uri, **as_user("aude"))
    assert denied.returncode == 3 and "data_scientist" in denied.stderr
    bad = run_cli(cli_env, "mlflow", "aliases", "--set", "production=latest", **as_user("chloe"))
    assert bad.returncode == 2 and "latest" in bad.stderr and "Traceback" not in bad.stderr
    odd = run_cli(cli_env, "mlflow", "aliases", "--set", "production", **as_user("chloe"))
    assert odd.returncode == 2 and "STAGE=ALIAS" in odd.stderr
