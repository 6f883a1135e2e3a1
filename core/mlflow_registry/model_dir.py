"""An MLflow model folder, downloaded: its content digest and what its ``MLmodel`` file says, read as data.

The digest follows the recipe of every folder Countersign registers (:func:`core.catalog.hashing.manifest_digest`):
the SHA-256 of the lines ``<sha256 of the file>  <relative POSIX path>``, one per regular file, sorted bytewise by
path — here over *all* files of the folder (``MLmodel``, environment files, the model file), so any change to any
of them changes it. A folder holding anything but regular files and folders (a link, a device, a pipe) is refused,
and so is one beyond the input limits (``MAX_MLFLOW_MODEL_BYTES``, ``MAX_MLFLOW_MODEL_FILES``) — before the download
where the store tells, and again on the copy.

``MLmodel`` is read as YAML data within the input limits; the model file is the scikit-learn flavour's
``pickled_model`` and its format is MLflow's ``serialization_format`` (``pickle`` when absent, as MLflow reads it),
confirmed from the file's own bytes. Nothing here loads a model.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.catalog import artifacts
from core.catalog.hashing import FileDigest, manifest_digest, sha256_file
from core.display.text import visible
from core.errors import BadInput
from core.inputs.limits import MAX_DOCUMENT_BYTES, MAX_MLFLOW_MODEL_BYTES, MAX_MLFLOW_MODEL_FILES, describe_bytes
from core.inputs.yamlfile import parse_yaml
from core.mlflow_registry.environment import environment_code

__all__ = ["ModelFolder", "check_listing", "inspect_model_folder", "regular_files"]

#: MLflow's names for a scikit-learn model saved with skops, and with pickle or cloudpickle.
_SKOPS = "skops"
_PICKLES = ("pickle", "cloudpickle")


@dataclass(frozen=True)
class ModelFolder:
    """What a downloaded MLflow model folder holds.

    ``model_file`` is ``None`` when the model has no scikit-learn flavour (Countersign then governs it by its
    predictions, as an external model). ``feature_names`` come from the signature's named inputs.
    """

    path: Path
    digest: str
    files: list[FileDigest]
    flavors: list[str]
    serialization_format: str | None
    model_file: Path | None
    feature_names: list[str]
    served_code: list[str]  # why MLflow would run code from the folder when serving it (beyond a checked skops file)


def regular_files(folder: Path) -> list[Path]:
    """The files of ``folder`` (an MLflow model version's folder, in the store or downloaded), sorted bytewise by
    relative path; :class:`BadInput` — before any file is opened — for a link, a pipe, a device or a socket in it
    (copying one would follow it, block or read without end), or more than the limits
    (:data:`~core.inputs.limits.MAX_MLFLOW_MODEL_FILES` files, :data:`~core.inputs.limits.MAX_MLFLOW_MODEL_BYTES`
    bytes in all)."""
    found: list[Path] = []
    total = 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        for name in [*dirs, *names]:
            path = Path(root, name)
            try:  # a folder's name too: it is part of every path under it
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise BadInput(f"MLflow model folder: the name {visible(str(path.relative_to(folder)))} is not UTF-8 "
                               "text: refused") from None
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise BadInput(f"MLflow model folder: {visible(str(path.relative_to(folder)))} is not a regular file "
                               "(a link, a pipe or a device): refused")
            found.append(path)
            total += info.st_size
            _within_limits(len(found), total)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix().encode("utf-8", "surrogateescape"))


def _within_limits(files: int, total: int) -> None:
    if files > MAX_MLFLOW_MODEL_FILES:
        raise BadInput(f"the MLflow model folder holds more than {MAX_MLFLOW_MODEL_FILES:,} files: refused")
    if total > MAX_MLFLOW_MODEL_BYTES:
        raise BadInput(f"the MLflow model folder holds more than {describe_bytes(MAX_MLFLOW_MODEL_BYTES)} "
                       f"({describe_bytes(total)} counted so far): refused")


def check_listing(sizes: Iterator[int | None]) -> None:
    """Refuse a folder, from a listing of its files' sizes in bytes (``None`` where the store gives none; the
    downloaded copy is counted again), beyond the limits of :func:`regular_files` — before it is downloaded."""
    files = total = 0
    for size in sizes:
        files += 1
        total += size or 0
        _within_limits(files, total)


def inspect_model_folder(folder: Path) -> ModelFolder:
    """Digest and describe a downloaded MLflow model folder (see the module's description); :class:`BadInput`
    for a folder that is not an MLflow model or whose ``MLmodel`` contradicts its files."""
    files = regular_files(folder)
    entries = [FileDigest(f.relative_to(folder).as_posix(), sha256_file(f), f.stat().st_size) for f in files]
    mlmodel = folder / "MLmodel"
    if mlmodel not in files:
        raise BadInput("the MLflow model version has no MLmodel file: not an MLflow model")
    if mlmodel.stat().st_size > MAX_DOCUMENT_BYTES:
        raise BadInput(f"the model's MLmodel file is over {MAX_DOCUMENT_BYTES} bytes: refused")
    try:
        text = mlmodel.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadInput("the model's MLmodel file is not UTF-8 text: not an MLflow model") from None
    spec, _ = parse_yaml(text, "MLmodel")
    if not isinstance(spec, dict) or not isinstance(spec.get("flavors"), dict):
        raise BadInput("the model's MLmodel file has no flavors mapping: not an MLflow model")
    flavors = sorted(str(k) for k in spec["flavors"])
    sklearn = _sklearn_flavor(spec["flavors"])
    model_file = fmt = None
    if sklearn is not None:
        model_file, fmt = _sklearn_model(folder, files, sklearn)
    served = _served_code(spec["flavors"], sklearn) + environment_code(folder, spec["flavors"].get("python_function"))
    return ModelFolder(folder, manifest_digest(entries), entries, flavors, fmt, model_file, _signature_inputs(spec),
                       served)


def _sklearn_flavor(flavors: dict[str, Any]) -> dict[str, Any] | None:
    """The scikit-learn model as MLflow would serve it, or ``None`` for a model of another kind.

    MLflow serves a model through its ``python_function`` flavour: when that flavour's loader is ``mlflow.sklearn``
    it loads ``model_path`` — so that file is the model, with or without a ``sklearn`` flavour (without one MLflow
    unpickles it), and a ``model_path`` other than the ``sklearn`` flavour's ``pickled_model`` is refused: MLflow
    would serve another file than the one Countersign checks.
    """
    sklearn = flavors.get("sklearn")
    pyfunc = flavors.get("python_function")
    loader = pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None
    served = pyfunc.get("model_path") if isinstance(pyfunc, dict) else None
    data = pyfunc.get("data") if isinstance(pyfunc, dict) else None
    if isinstance(sklearn, dict) and sklearn.get("pickled_model"):
        if isinstance(pyfunc, dict) and (loader != "mlflow.sklearn" or served not in (None, sklearn["pickled_model"])
                                         or data not in (None, sklearn["pickled_model"])):
            checked = visible(str(sklearn["pickled_model"]))
            raise BadInput(f"MLmodel: the python_function flavour serves {visible(str(served))!r} through "
                           f"{visible(str(loader))!r}, not the scikit-learn model {checked!r}: MLflow would serve "
                           "another model than the one Countersign checks; refused")
        return sklearn
    if loader == "mlflow.sklearn" and (served or data) and data in (None, served):
        return {"pickled_model": served or data, "serialization_format": "pickle"}  # what MLflow then assumes
    return None


def _served_code(flavors: dict[str, Any], sklearn: dict[str, Any] | None) -> list[str]:
    """Why MLflow would run code from the folder when it serves the model, besides a scikit-learn model file that
    Countersign checks (a pickle there is judged by its own format): a ``code`` folder put on the import path, a
    loader other than ``mlflow.sklearn`` (a custom Python model is a cloudpickle; other frameworks unpickle too), a
    ``python_function`` ``data`` other than the checked file."""
    reasons = []
    for name, conf in sorted(flavors.items()):
        if isinstance(conf, dict) and conf.get("code"):
            reasons.append(f"the {visible(name)} flavour puts the code folder {visible(str(conf['code']))!r} on the "
                           "import path")
    pyfunc = flavors.get("python_function")
    if isinstance(pyfunc, dict):
        loader = pyfunc.get("loader_module")
        if loader != "mlflow.sklearn" or sklearn is None:
            reasons.append(f"MLflow serves it through the loader {visible(str(loader))!r}, which runs the model's own "
                           "code or unpickles its files")
        for key in ("python_model", "model_code_path", "cloudpickle_version"):
            if pyfunc.get(key):
                reasons.append(f"its python_function flavour has {key} ({visible(str(pyfunc[key]))[:80]!r})")
    return reasons


def _sklearn_model(folder: Path, files: list[Path], flavor: dict[str, Any]) -> tuple[Path, str]:
    name = str(flavor["pickled_model"])
    path = (folder / name)
    if path not in files or ".." in Path(name).parts:
        raise BadInput(f"MLmodel names the model file {visible(name)!r}, which is not a file of the model folder")
    found = artifacts.detect_format(path)
    raw = flavor.get("serialization_format", "pickle")  # as MLflow reads it: absent is pickle; null is refused
    declared = raw if isinstance(raw, str) else repr(raw)
    if declared == _SKOPS and found != "skops" or declared in _PICKLES and found == "skops":
        raise BadInput(f"MLmodel says {visible(name)} is {visible(declared)} but its bytes are {found}: refused")
    if declared != _SKOPS and declared not in _PICKLES:
        raise BadInput(f"MLmodel: unknown serialization_format {visible(declared)!r} for the scikit-learn flavour")
    return path, declared


def _signature_inputs(spec: dict[str, Any]) -> list[str]:
    signature = spec.get("signature")
    raw = signature.get("inputs") if isinstance(signature, dict) else None
    if not isinstance(raw, str):
        return []
    try:
        columns = json.loads(raw)
    except ValueError:
        return []
    names = [c.get("name") for c in columns if isinstance(c, dict)] if isinstance(columns, list) else []
    return [str(n) for n in names] if names and all(isinstance(n, str) and n for n in names) else []
