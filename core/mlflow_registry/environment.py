"""What an MLflow model folder's environment files would make MLflow install when it builds the serving environment.

``mlflow models serve`` (and ``build-docker``, and Spark UDFs) create the model's environment from its own files
before loading it:

* ``virtualenv`` (the default): pip installs ``python_env.yaml``'s ``build_dependencies`` and ``dependencies``
  (MLflow joins them into a requirements file, one line each; usually ``-r requirements.txt``) *with the model
  folder as the working directory*;
* ``conda``: ``conda.yaml``'s channels and dependencies, and its ``pip:`` list;
* ``uv``: ``uv sync --frozen`` over the folder's ``uv.lock`` and ``pyproject.toml``.

Only what the organisation's own package index would resolve is left alone: each line (pip splits on every line
break, a byte-order mark dropped) must be a PEP 508 requirement as :mod:`packaging` reads it — a package name with
versions, extras and markers — with no URL, whose name is not an archive file name (pip installs ``evil-0.1.tar.gz``
from the folder when such a file exists; the extensions are pip's own); a conda dependency a plain
``name[=version]`` spec from the channels ``conda-forge`` or ``defaults`` (any other channel, a ``channel::name``
prefix, a ``[channel=…]`` key, a URL or path is flagged); a ``uv.lock`` package from PyPI's registry or the
project itself as a virtual package (an editable, path, directory, URL or git source, or another registry, is
flagged); a ``pyproject.toml`` without ``[tool.uv]`` sources or indexes. Anything else installs code the folder
chose (a source archive's ``setup.py``, a build backend, another index): :func:`environment_code` names each such
entry, and the importer treats it as code MLflow runs when serving the version, which needs the importing user's
recorded trust (``--trust-pickle``), as a ``code`` folder does. An environment file named outside the folder is
refused.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from core.display.text import visible
from core.errors import BadInput
from core.inputs.limits import MAX_DOCUMENT_BYTES
from core.inputs.yamlfile import parse_yaml

__all__ = ["ARCHIVE_EXTENSIONS", "environment_code"]

#: pip's archive extensions (``pip._internal.utils.filetypes.ARCHIVE_EXTENSIONS``; a test keeps them in step): a
#: requirement named like one is installed from that file when it exists.
ARCHIVE_EXTENSIONS = (".zip", ".whl", ".tar.bz2", ".tbz", ".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tlz",
                      ".tar.lz", ".tar.lzma")
#: MLflow's default names for the environment files (``python_function``'s ``env`` may name others).
_DEFAULTS = {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
_REQUIREMENTS = "requirements.txt"
_CHANNELS = frozenset({"conda-forge", "defaults", "nodefaults"})
_CONDA_SPEC = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(\s*(==|=|>=|<=|>|<|!=|~=)\s*[A-Za-z0-9_.*+!-]+(\s*,\s*"
                         r"(==|=|>=|<=|>|<|!=|~=)\s*[A-Za-z0-9_.*+!-]+)*)?(\s*=\s*[A-Za-z0-9_.*+-]+)?")
_PYPI = ("https://pypi.org/simple", "https://pypi.org/simple/")
_COMMENT = re.compile(r"(^|\s)#.*$")
_HASH = re.compile(r"\s--hash[=\s]\s*[a-z0-9]+:[0-9a-fA-F]+")


def _lines(entry: str) -> list[str]:
    """The requirement lines pip reads from ``entry``: split on every line break, comments and blanks dropped."""
    out = []
    for raw in entry.replace("\ufeff", "").splitlines():
        line = _COMMENT.sub("", raw).strip()
        if line:
            out.append(line)
    return out


def _named_package(line: str) -> bool:
    """Whether a requirement line is a package name (with versions, extras, markers) the index resolves."""
    line = _HASH.sub("", line).strip()  # hash-checking mode pins each requirement's files: fine
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return False
    return (requirement.url is None and not requirement.name.lower().endswith(ARCHIVE_EXTENSIONS)
            and "/" not in line and "\\" not in line and not line.startswith(("-", ".", "~")))


def _text(folder: Path, name: str, what: str) -> str | None:
    """The text of the environment file ``name`` of the folder (``None`` when there is none); refused when named
    outside the folder, too large or not UTF-8."""
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise BadInput(f"MLmodel names the {what} file {visible(name)!r}, outside the model folder: refused")
    path = folder / name
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise BadInput(f"the model's {visible(name)} is over {MAX_DOCUMENT_BYTES} bytes: refused")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"the model's {visible(name)} is not UTF-8 text: refused") from None


def _entries(value: Any) -> list[str]:  # noqa: ANN401 - YAML data
    return [str(v) for v in value] if isinstance(value, list) else ([] if value is None else [str(value)])


def _mapping(text: str, name: str) -> dict[str, Any]:
    spec, _ = parse_yaml(text, name)
    return spec if isinstance(spec, dict) else {}


def environment_code(folder: Path, python_function: dict[str, Any] | None) -> list[str]:
    """Why MLflow would install code the model folder chose when it builds the serving environment: one reason per
    entry of ``requirements.txt``, ``python_env.yaml``, ``conda.yaml`` (or the files ``python_function``'s ``env``
    names), ``uv.lock`` or ``pyproject.toml`` that is not a package from the configured index (see the module's
    description). :class:`BadInput` for an environment file named outside the folder, over the document limit, not
    UTF-8, or not YAML or TOML data."""
    env = python_function.get("env") if isinstance(python_function, dict) else None
    named = env if isinstance(env, dict) else ({"conda": env} if isinstance(env, str) else {})
    files = {kind: str(named.get(kind) or default) for kind, default in _DEFAULTS.items()}
    reasons: list[str] = []

    def flag(where: str, entry: str) -> None:
        reasons.append(f"its {visible(where)} installs {visible(entry)[:120]!r} (not a package from the configured "
                       "index) when MLflow builds the serving environment")

    virtualenv = _text(folder, files["virtualenv"], "virtualenv")
    if virtualenv is not None:
        spec = _mapping(virtualenv, files["virtualenv"])
        for entry in _entries(spec.get("build_dependencies")) + _entries(spec.get("dependencies")):
            for line in _lines(entry):
                if line in (f"-r {_REQUIREMENTS}", f"--requirement {_REQUIREMENTS}"):
                    continue  # MLflow's own reference: that file is checked below
                if not _named_package(line):
                    flag(files["virtualenv"], line)
    conda = _text(folder, files["conda"], "conda")
    if conda is not None:
        spec = _mapping(conda, files["conda"])
        for channel in _entries(spec.get("channels")):
            if channel not in _CHANNELS:
                flag(f"{files['conda']} channel list", channel)
        dependencies = spec.get("dependencies")
        for dependency in dependencies if isinstance(dependencies, list) else []:
            if isinstance(dependency, dict):
                for key, value in dependency.items():
                    if key != "pip":
                        flag(files["conda"], f"{key}: …")
                        continue
                    for line in (line for entry in _entries(value) for line in _lines(entry)):
                        if not _named_package(line):
                            flag(files["conda"], line)
            elif not _CONDA_SPEC.fullmatch(str(dependency).strip()):
                flag(files["conda"], str(dependency))
    for line in _lines(_text(folder, _REQUIREMENTS, "requirements") or ""):
        if not _named_package(line):
            flag(_REQUIREMENTS, line)
    reasons += _uv_project(folder)
    return reasons


def _toml(folder: Path, name: str) -> dict[str, Any] | None:
    text = _text(folder, name, "uv")
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"the model's {name} is not TOML: {exc}") from None


def _uv_project(folder: Path) -> list[str]:
    """Why ``uv sync --frozen`` over the folder's ``uv.lock`` and ``pyproject.toml`` would install code the folder
    chose (MLflow's ``uv`` environment manager)."""
    reasons = []
    lock = _toml(folder, "uv.lock")
    for package in lock.get("package", []) if isinstance(lock, dict) else []:
        source = package.get("source") if isinstance(package, dict) else None
        kind = next(iter(source), None) if isinstance(source, dict) and len(source) == 1 else None
        if not (kind == "virtual" or kind == "registry" and source is not None and source["registry"] in _PYPI):
            name = package.get("name") if isinstance(package, dict) else package
            reasons.append(f"its uv.lock installs {visible(str(name))[:80]!r} from {visible(str(source))[:120]} (not "
                           "PyPI's registry) when MLflow's uv environment manager builds the serving environment")
    project = _toml(folder, "pyproject.toml")
    uv = project.get("tool", {}).get("uv") if isinstance(project, dict) and isinstance(project.get("tool"), dict) \
        else None
    if isinstance(uv, dict) and any(uv.get(k) for k in ("sources", "index", "find-links", "extra-index-url",
                                                         "index-url")):
        reasons.append("its pyproject.toml names package sources or indexes of its own ([tool.uv]) for MLflow's uv "
                       "environment manager")
    return reasons
