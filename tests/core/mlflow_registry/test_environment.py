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
from core.mlflow_registry.environment import ARCHIVE_EXTENSIONS, environment_code


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
                                   "file:pkg", "~/pkg", "-r other.txt", "pkg@file:///x", "evil-0.1.tar.lzma",
                                   "evil-0.1.tlz", "evil-0.1.tar.lz", ".", "${EVIL}", "numpy -e .",
                                   "numpy==1 --global-option=--x"])
def test_what_installs_the_folders_or_anothers_code_is_named(entry: str) -> None:
    [reason] = _reasons(f"numpy==2.0\n{entry}\n# a comment\n")
    assert "requirements.txt installs" in reason


def test_pips_own_archive_extensions_are_all_known() -> None:
    from pip._internal.utils.filetypes import ARCHIVE_EXTENSIONS as PIP_ARCHIVES

    assert set(PIP_ARCHIVES) <= set(ARCHIVE_EXTENSIONS)


@pytest.mark.parametrize("text", ["\ufeff-e .\nnumpy\n", "numpy\r-e .\n", "numpy\u2028-e .\n", "numpy\x0c-e .\n"])
def test_a_line_hidden_by_a_byte_order_mark_or_another_line_break_is_seen(text: str) -> None:
    assert len(_reasons(text)) == 1


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("files", "flagged"), [
    ({"python_env.yaml": 'dependencies: ["-r requirements.txt", "scikit-learn\\n-e ."]'}, "-e ."),
    ({"python_env.yaml": 'dependencies: ["scikit-learn\\nevil-0.1.tar.gz"]'}, "evil-0.1.tar.gz"),
    ({"conda.yaml": 'dependencies: [{pip: ["scikit-learn\\n-e ."]}]'}, "-e ."),
    ({"conda.yaml": "channels: [attacker-user]\ndependencies: [numpy]"}, "attacker-user"),
    ({"conda.yaml": "channels: [conda-forge]\ndependencies: ['attacker-user::evilpkg']"}, "attacker-user::evilpkg"),
    ({"conda.yaml": "channels: [conda-forge]\ndependencies: ['numpy[channel=attacker2]']"}, "numpy[channel="),
    ({"uv.lock": 'version = 1\n[[package]]\nname = "evil"\nversion = "0.1"\n'
                 'source = { url = "https://attacker.example/evil-0.1.tar.gz" }\n'}, "evil"),
    ({"uv.lock": '[[package]]\nname = "m"\nversion = "0.1"\nsource = { editable = "." }\n'}, "'m'"),
    ({"pyproject.toml": '[project]\nname = "m"\n[tool.uv.sources]\nevil = { path = "evil" }\n'}, "[tool.uv]"),
])
def test_every_environment_manager_is_checked(tmp_path: Path, files: dict[str, str], flagged: str) -> None:
    [reason] = environment_code(_folder(tmp_path, files), None)
    assert flagged in reason, reason


def test_what_mlflow_and_uv_write_for_pypi_packages_is_left_alone(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {
        "python_env.yaml": "python: 3.11.7\nbuild_dependencies: [pip==26.3, setuptools==65.5.0, wheel]\n"
                           "dependencies: [-r requirements.txt]\n",
        "conda.yaml": "channels: [conda-forge]\ndependencies: [python=3.11.7, pip<=26.3, 'numpy>=1.2,<3', "
                      "{pip: [mlflow==3.17.2, scikit-learn==1.9.1]}]\nname: mlflow-env\n",
        "requirements.txt": "mlflow==3.17.2\nscikit-learn==1.9.1 --hash=sha256:0123abcd\n",
        "uv.lock": '[[package]]\nname = "m"\nversion = "0.1"\nsource = { virtual = "." }\n[[package]]\n'
                   'name = "numpy"\nversion = "2.0"\nsource = { registry = "https://pypi.org/simple" }\n'})
    assert environment_code(folder, None) == []


@pytest.mark.parametrize("where", ["/tmp/elsewhere/python_env.yaml", "../../python_env.yaml"])
def test_an_environment_file_named_outside_the_folder_is_refused(tmp_path: Path, where: str) -> None:
    with pytest.raises(BadInput, match="outside the model folder"):
        environment_code(tmp_path, {"env": {"virtualenv": where}})


def test_what_mlflow_writes_is_left_alone() -> None:
    assert _reasons("mlflow==3.17.2\nscikit-learn>=1.5,<2\npandas[performance]==3.1 ; python_version>'3.9'\n") == []


def test_an_environment_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(BadInput, match="requirements.txt is not UTF-8 text"):
        environment_code(tmp_path, None)
