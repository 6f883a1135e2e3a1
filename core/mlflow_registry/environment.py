"""What an MLflow model folder's environment files would make MLflow install when it builds the serving environment.

``mlflow models serve`` (and ``build-docker``, and Spark UDFs) create the model's environment from its own files
before loading it: ``python_env.yaml`` (``virtualenv``: pip installs its ``build_dependencies`` and
``dependencies``, usually ``-r requirements.txt``, *with the model folder as the working directory*) or
``conda.yaml`` (``conda``: its channels and dependencies, and its ``pip:`` list). An entry that is a package name
with a version specifier is resolved from the package index the organisation configured. Any other entry installs
code the folder chose, and installing runs it (a source archive's ``setup.py``, a build backend):

* a local path or archive (``./evil-0.1.tar.gz``, ``evil-0.1.tar.gz``, ``/srv/pkg``, ``file:…``) — a file the
  model folder itself may hold;
* a URL or direct reference (``pkg @ https://…``, ``git+https://…``);
* a pip option (``--extra-index-url``, ``--index-url``, ``--find-links``, ``-e``, ``-c``, ``-r`` to another file) —
  another index or another list;
* a conda channel given as a URL or path.

:func:`environment_code` names each such entry; the importer treats them as code MLflow runs when serving the
version, which needs the importing user's recorded trust (``--trust-pickle``), as a ``code`` folder does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.display.text import visible
from core.errors import BadInput
from core.inputs.limits import MAX_DOCUMENT_BYTES
from core.inputs.yamlfile import parse_yaml

__all__ = ["environment_code"]

#: MLflow's default names for the environment files (``python_function``'s ``env`` may name others).
_DEFAULTS = {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
_REQUIREMENTS = "requirements.txt"
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".conda")
_CHANNEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_REFERENCE = re.compile(r"-r\s*(\S+)|--requirement[=\s]\s*(\S+)")


def _installs_foreign_code(entry: str) -> bool:
    """Whether a requirement or conda spec installs anything but a named package from the configured index."""
    text = entry.strip()
    name = re.split(r"[\s<>=!~;\[@(]", text, maxsplit=1)[0].lower()
    return (text.startswith(("-", ".", "/", "~")) or "/" in text or "\\" in text or "@" in text  # name @ url
            or name.endswith(_ARCHIVES) or text.lower().startswith("file:"))


def _text(folder: Path, name: str) -> str | None:
    path = folder / name
    if ".." in Path(name).parts or Path(name).is_absolute() or not path.is_file():
        return None
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise BadInput(f"the model's {visible(name)} is over {MAX_DOCUMENT_BYTES} bytes: refused")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"the model's {visible(name)} is not UTF-8 text: refused") from None


def _requirement_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            lines.append(line)
    return lines


def _entries(value: Any) -> list[str]:  # noqa: ANN401 - YAML data
    return [str(v) for v in value] if isinstance(value, list) else ([] if value is None else [str(value)])


def environment_code(folder: Path, python_function: dict[str, Any] | None) -> list[str]:
    """Why MLflow would install code the model folder chose when it builds the serving environment: one reason per
    entry of ``requirements.txt``, ``python_env.yaml`` or ``conda.yaml`` (or the files ``python_function``'s
    ``env`` names) that is not a named package from the configured index (see the module's description).
    :class:`BadInput` for an environment file over the document limit, not UTF-8, or not YAML data."""
    env = python_function.get("env") if isinstance(python_function, dict) else None
    named = env if isinstance(env, dict) else ({"conda": env} if isinstance(env, str) else {})
    files = {kind: str(named.get(kind) or default) for kind, default in _DEFAULTS.items()}
    reasons: list[str] = []

    def flag(where: str, entry: str) -> None:
        reasons.append(f"its {visible(where)} installs {visible(entry)[:120]!r} (not a named package from the "
                       "configured index) when MLflow builds the serving environment")

    virtualenv = _text(folder, files["virtualenv"])
    if virtualenv is not None:
        spec, _ = parse_yaml(virtualenv, files["virtualenv"])
        spec = spec if isinstance(spec, dict) else {}
        for entry in _entries(spec.get("build_dependencies")) + _entries(spec.get("dependencies")):
            reference = _REFERENCE.fullmatch(entry.strip())
            if reference and (reference.group(1) or reference.group(2)) == _REQUIREMENTS:
                continue  # MLflow's own -r requirements.txt: that file is checked below
            if _installs_foreign_code(entry):
                flag(files["virtualenv"], entry)
    conda = _text(folder, files["conda"])
    if conda is not None:
        spec, _ = parse_yaml(conda, files["conda"])
        spec = spec if isinstance(spec, dict) else {}
        for channel in _entries(spec.get("channels")):
            if not _CHANNEL.fullmatch(channel):
                flag(f"{files['conda']} channel list", channel)
        dependencies = spec.get("dependencies")
        for dependency in dependencies if isinstance(dependencies, list) else []:
            pip = dependency.get("pip") if isinstance(dependency, dict) else None
            for entry in _entries(pip) if isinstance(dependency, dict) else _entries(dependency):
                if _installs_foreign_code(entry):
                    flag(files["conda"], entry)
    for line in _requirement_lines(_text(folder, _REQUIREMENTS) or ""):
        if _installs_foreign_code(line):
            flag(_REQUIREMENTS, line)
    return reasons
