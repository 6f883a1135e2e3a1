"""Is an MLflow model version still the one Countersign imported? Checked before an alias is set on it and by
``mlflow check`` for every alias in order.

MLflow lets its users replace a version's files in the artifact store, or delete a model and register another under
the same name, whose version numbers start again. So a version is the imported one only if its run and source are
those recorded at import and its downloaded folder has the recorded content digest
(:func:`core.mlflow_registry.model_dir.inspect_model_folder`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from core.display.text import visible
from core.errors import BadInput, NotFound
from core.mlflow_registry import client as registry
from core.mlflow_registry.aliases import Link
from core.mlflow_registry.model_dir import inspect_model_folder

__all__ = ["version_changed"]


def version_changed(client: Any, link: Link) -> str | None:  # noqa: ANN401 - mlflow.MlflowClient
    """Why MLflow's ``link.mlflow_name`` version ``link.mlflow_version`` is no longer what was imported as
    ``link.name@link.version`` — or ``None`` when it still is."""
    what = f"MLflow {link.mlflow_name!r} version {link.mlflow_version}"
    try:
        with registry.mlflow_errors(link.tracking_uri):
            mv = client.get_model_version(link.mlflow_name, link.mlflow_version)
    except NotFound:
        return f"{what} no longer exists"
    if (mv.run_id or None) != link.run_id:
        return f"{what} now comes from run {visible(mv.run_id)}; {link.name}@{link.version} was imported from run " \
               f"{visible(link.run_id)}"
    if str(mv.source or "") != link.source:
        return f"{what} now has the source {visible(mv.source)}; it was imported from {visible(link.source)}"
    with tempfile.TemporaryDirectory(prefix="countersign-mlflow-") as tmp:
        try:  # a folder Countersign would now refuse (a link, a pipe, too large, no MLmodel) is not the imported one
            with registry.mlflow_errors(link.tracking_uri):
                folder = registry.download_version(client, registry.client_uri(link.tracking_uri), link.mlflow_name,
                                                   link.mlflow_version, Path(tmp, "v"))
            digest = inspect_model_folder(folder).digest
        except BadInput as refused:
            return f"{what} is no longer a readable MLflow model: {refused.message}"
    if digest != link.folder_sha256:
        return (f"{what}'s files changed since the import: SHA-256 {digest}, imported as {link.name}@{link.version} "
                f"with {link.folder_sha256}")
    return None
