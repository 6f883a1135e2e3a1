"""An external model (known only by its predictions) is described in words, never as ``None``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.api.countersign import Countersign
from tests.conftest import USERS, run_cli


def test_register_and_show_of_an_external_model_say_it_has_no_artifact(populated: Countersign, tmp_path: Path,
                                                                      cli_env: dict[str, str]) -> None:
    dana = populated.login("dana", USERS["dana"][1])
    data = tmp_path / "scores.csv"
    pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]}).to_csv(data, index=False)
    populated.register_dataset(dana, data, name="scores", version="1")
    user = {"user": "dana", "password": USERS["dana"][1]}
    registered = run_cli(cli_env, "model", "register", "--external", "--name", "vendor", "--version", "1",
                         "--trained-on", "scores@1", "--feature", "x", **user)
    assert registered.returncode == 0, registered.stderr
    shown = run_cli(cli_env, "model", "show", "vendor@1", **user)
    assert shown.returncode == 0, shown.stderr
    for out in (registered.stdout, shown.stdout):
        assert "None" not in out and "no artifact (external model, known by its predictions)" in out, out
