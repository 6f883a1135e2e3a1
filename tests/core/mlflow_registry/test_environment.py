"""The environment files of an MLflow model folder: which entries would install code the folder chose when MLflow
builds the serving environment — checked against ``packaging``'s own reading of a requirement (pip's parser)."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from packaging.requirements import InvalidRequirement, Requirement

from core.errors import BadInput
from core.mlflow_registry.environment import environment_code


def _reasons(requirements: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "requirements.txt").write_text(requirements, encoding="utf-8")
        return environment_code(Path(tmp), None)


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_.=<>!~;[]@/:\\ ,'\"*+()", max_size=40))
def test_an_entry_left_alone_is_a_named_package_without_a_url_as_packaging_reads_it(entry: str) -> None:
    if _reasons(entry.replace("\\", "") + "\n"):
        return
    try:
        requirement = Requirement(entry.replace("\\", ""))
    except InvalidRequirement:
        return  # pip refuses it too: nothing is installed
    assert requirement.url is None, entry
    assert not requirement.name.lower().endswith((".whl", ".zip", ".gz", ".tgz", ".tar")), entry


@pytest.mark.parametrize("entry", ["pkg @ https://x.example/p.whl", "./local", "/abs/dir", "pkg.tar.gz", "-e .",
                                   "--index-url https://x.example", "-f ./wheels", "git+https://x.example/r",
                                   "file:pkg", "~/pkg", "-r other.txt", "pkg@file:///x"])
def test_what_installs_the_folders_or_anothers_code_is_named(entry: str) -> None:
    [reason] = _reasons(f"numpy==2.0\n{entry}\n# a comment\n")
    assert "requirements.txt installs" in reason


def test_what_mlflow_writes_is_left_alone() -> None:
    assert _reasons("mlflow==3.17.2\nscikit-learn>=1.5,<2\npandas[performance]==3.1 ; python_version>'3.9'\n") == []


def test_an_environment_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(BadInput, match="requirements.txt is not UTF-8 text"):
        environment_code(tmp_path, None)
