"""How MLflow's names become Countersign's: model and dataset names, the tracking server's label, lineage node ids.

MLflow allows any text in a registered model's name (spaces, quotes, non-ASCII); a Countersign reference is
``NAME@VERSION`` with ``NAME`` of letters, digits, ``.``, ``_``, ``/`` and ``-``. A name that is already valid is kept;
any other becomes a readable slug with the first 8 hex digits of its SHA-256 appended, so two MLflow names never
meet in one Countersign name. The MLflow name itself is kept in the ledgered provenance of every imported version.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse

from core.catalog.datasets import REF_RE

__all__ = ["countersign_name", "dataset_reference_node", "run_node", "server_key", "server_label", "version_node"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def countersign_name(mlflow_name: str) -> str:
    """The Countersign name for an MLflow registered model or dataset name (see the module's description)."""
    if REF_RE.fullmatch(f"{mlflow_name}@1") and "//" not in mlflow_name and not mlflow_name.endswith("/"):
        return mlflow_name
    slug = _UNSAFE.sub("-", mlflow_name).strip("-._")[:100] or "mlflow"
    if not slug[0].isalnum():
        slug = "m" + slug
    return f"{slug}-{hashlib.sha256(mlflow_name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def server_label(tracking_uri: str) -> str:
    """The tracking URI as it may be recorded: without user, password, query or fragment (credentials come from
    MLflow's own environment variables, never from the ledger); a relative SQLite file or store folder made
    absolute, so that later commands reach the same store from any folder."""
    scheme, sep, rest = tracking_uri.strip().partition("://")
    if scheme == "sqlite" and rest.startswith("/") and not rest.startswith("//"):  # sqlite:///relative.db
        rest = "/" + os.path.abspath(rest[1:])
    elif not sep and tracking_uri.strip().startswith(("/", "./", "../", "~")):  # a store folder
        return os.path.abspath(os.path.expanduser(tracking_uri.strip()))
    if sep:
        authority, slash, path = rest.partition("/")
        rest = authority.rsplit("@", 1)[-1] + slash + path
    return (scheme + sep + rest).split("#", 1)[0].split("?", 1)[0]


def server_key(label: str) -> str:
    """A short stable key for a tracking server (the first 12 hex digits of the SHA-256 of its label)."""
    return hashlib.sha256(label.encode("utf-8")).hexdigest()[:12]


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def version_node(label: str, name: str, version: str) -> str:
    """Lineage node id of an MLflow model version."""
    return f"mlflow-model-version:{server_key(label)}/{_quote(name)}/{_quote(version)}"


def run_node(label: str, run_id: str) -> str:
    """Lineage node id of an MLflow run (``mlflow-run:``, apart from OpenLineage's ``run:`` nodes)."""
    return f"mlflow-run:{server_key(label)}/{_quote(run_id)}"


def dataset_reference_node(label: str, name: str, digest: str) -> str:
    """Lineage node id of a dataset MLflow logged that Countersign knows only by reference (name and MLflow digest)."""
    return f"mlflow-dataset:{server_key(label)}/{_quote(name)}/{_quote(digest)}"
