"""Reading an MLflow tracking server and model registry, and setting aliases and tags on it (MLflow's own client).

Only :class:`mlflow.MlflowClient` calls; nothing here loads a model. MLflow's errors become Countersign's: a registry
that says no (no such model, a bad alias) is :class:`~core.errors.BadInput`, one that cannot be reached is
:class:`~core.errors.StoreUnavailable` (exit 4). Requires the ``mlflow`` extra (``pip install 'countersign[mlflow]'``).
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.display.text import visible
from core.errors import BadInput, CountersignError, NotFound, StoreUnavailable
from core.inputs.limits import MAX_MLFLOW_MODEL_FILES
from core.mlflow_registry.model_dir import check_listing, regular_files
from core.mlflow_registry.names import redact, server_label, url_secrets

__all__ = ["DatasetInput", "RegisteredModel", "RunFacts", "VersionFacts", "client_uri", "download_version",
           "mlflow_client",
           "mlflow_errors", "read_registry", "read_run"]

#: Page size of MLflow's searches (its maximum for registered models).
PAGE = 1000
#: MLflow's HTTP client retries up to 7 times with backoff by default (minutes); a CI gate should answer sooner.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                  "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
#: Status of a model version whose files are complete.
READY = "READY"


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run logged (``mlflow.log_input``): MLflow's name, digest, source and the input's context tag."""

    name: str
    digest: str
    source_type: str
    source: str  # JSON, as MLflow stores it
    context: str | None
    schema: str | None = None
    profile: str | None = None

    def local_path(self) -> Path | None:
        """The file a ``local`` source names, if it names one by an absolute path (else ``None``)."""
        if self.source_type != "local":
            return None
        import json

        try:
            uri = json.loads(self.source).get("uri")
        except (ValueError, AttributeError):
            return None
        if not isinstance(uri, str):
            return None
        path = urllib.parse.unquote(urllib.parse.urlsplit(uri).path) if uri.startswith("file:") else uri
        return Path(path) if os.path.isabs(path) else None


@dataclass(frozen=True)
class RunFacts:
    """The run that logged a model version: who, when, parameters, latest metric values, dataset inputs."""

    run_id: str
    experiment_id: str
    user: str | None
    status: str
    start_time: int | None  # milliseconds since the epoch, as MLflow keeps them
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    datasets: list[DatasetInput]


@dataclass(frozen=True)
class VersionFacts:
    """One registered model version as the registry holds it."""

    name: str
    version: str
    run_id: str | None
    source: str
    status: str
    created_ms: int | None
    tags: dict[str, str]
    description: str | None
    model_id: str | None


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model with its aliases (``alias → version``) and its versions, oldest first."""

    name: str
    aliases: dict[str, str]
    tags: dict[str, str]
    versions: list[VersionFacts] = field(default_factory=list)


def _local_store(label: str) -> Path | None:
    """The file or folder of a local store's label (``sqlite:``, ``file:`` or a path), else ``None``."""
    if label.startswith("sqlite:"):
        return Path(label.removeprefix("sqlite:///")) if label.startswith("sqlite:////") else Path("")
    if label.startswith("file://"):
        return Path(urllib.parse.unquote(label.removeprefix("file://")))
    return Path(label) if label.startswith("/") else None


def _check_local_store(label: str, path: Path) -> None:
    """Refuse a local store that is not an existing MLflow store (MLflow would create or migrate one)."""
    shown = visible(label)
    if label.startswith("sqlite:"):
        if not str(path) or not path.is_file():
            raise BadInput(f"no MLflow store at {shown}: no such SQLite file (Countersign never creates one)")
        import sqlite3

        try:
            with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as con:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"{shown} is not an MLflow store: {exc}") from None
        if not {"alembic_version", "registered_models", "model_versions"} <= tables:
            raise BadInput(f"{shown} is not an MLflow store (no MLflow tables): Countersign never migrates a "
                           "database into one")
    elif not path.is_dir() or not (path / ".trash").is_dir() and not (path / "0" / "meta.yaml").is_file():
        raise BadInput(f"no MLflow store at {shown}: not an MLflow store folder (Countersign never creates one)")


def client_uri(tracking_uri: str) -> str:
    """The URI MLflow's client is given: a local store by its absolute label, a server as given (credentials and
    all, which reach MLflow and nothing else)."""
    label = server_label(tracking_uri)
    return label if _local_store(label) is not None else tracking_uri.strip()


def mlflow_client(tracking_uri: str, *, recorded: bool = False) -> Any:  # noqa: ANN401 - mlflow.MlflowClient
    """An :class:`mlflow.MlflowClient` for ``tracking_uri`` (tracking and registry alike).

    Refused: an empty URI, and a local store (``sqlite:``, ``file:``, a folder) that is not an existing MLflow store —
    MLflow would create an empty one or migrate another application's database into one, and an import from a
    mistyped path would pass with nothing in it (:class:`BadInput`; :class:`StoreUnavailable` when the URI is one
    ``recorded`` at an import, whose store is gone since). A local store is opened by its absolute path.
    """
    label = server_label(tracking_uri)
    if not label:
        raise BadInput("--tracking-uri is empty: give the MLflow tracking server's URI")
    local = _local_store(label)
    if local is not None:
        try:
            _check_local_store(label, local)
        except BadInput as gone:
            if not recorded:
                raise
            raise StoreUnavailable(f"the MLflow store recorded at import is no longer usable: {gone.message}") from None
    for key, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise BadInput("reading MLflow needs the mlflow package: pip install 'countersign[mlflow]'") from exc
    uri = client_uri(tracking_uri)
    with mlflow_errors(label, url_secrets(tracking_uri)):
        if uri.partition(":")[0].split("+")[0].lower() in _DATABASES:
            _probe_database(uri)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


#: Tracking stores MLflow opens with SQLAlchemy, and each one's connect-timeout argument (seconds) where it has one.
_DATABASES = {"postgresql": "connect_timeout", "mysql": "connect_timeout", "mssql": None, "oracle": None}


def _probe_database(uri: str) -> None:
    """Connect once (at most 10 s where the driver takes a timeout) before MLflow does: MLflow retries a database it
    cannot reach ten times with backoff (about 100 s, not configurable) and raises a missing driver as a bare
    ``ImportError``; here either fails at once (:func:`mlflow_errors` makes it exit 4)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    timeout = _DATABASES[uri.partition(":")[0].split("+")[0].lower()]
    engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args={timeout: 10} if timeout else {})
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


@contextlib.contextmanager
def mlflow_errors(label: str, secrets: list[str] | tuple[str, ...] = ()) -> Iterator[None]:
    """Turn MLflow's exceptions into Countersign's (messages without ``secrets`` or any URL's credentials, query or
    fragment, made visible and cut to 500 characters)."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        message = visible(redact(str(exc.message), secrets))[:500]
        code = str(getattr(exc, "error_code", ""))
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise NotFound(f"MLflow at {label}: {message}") from exc
        if code in ("INVALID_PARAMETER_VALUE", "INVALID_STATE", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST"):
            raise BadInput(f"MLflow at {label}: {message}") from exc
        raise StoreUnavailable(f"MLflow at {label} failed: {message}") from exc
    except (ConnectionError, TimeoutError) as exc:
        reason = visible(redact(str(exc), secrets))[:500]
        raise StoreUnavailable(f"MLflow at {label} cannot be reached: {reason}") from exc
    except ImportError as exc:  # a database driver the store needs (MySQLdb, psycopg2, pyodbc)
        raise StoreUnavailable(f"MLflow at {label} cannot be used here: the Python module {visible(str(exc.name))!r} "
                               "it needs is not installed") from exc
    except Exception as exc:
        # MLflow's stores raise their libraries' own errors (SQLAlchemy, requests, YAML) for a store they cannot use
        if isinstance(exc, CountersignError) or not (isinstance(exc, OSError | ValueError) or
                                                      type(exc).__module__.split(".")[0] in _STORE_LIBRARIES):
            raise
        raise StoreUnavailable(f"MLflow at {label} could not be used: {type(exc).__name__}: "
                               f"{visible(redact(str(exc), secrets))[:500]}") from exc


_STORE_LIBRARIES = ("sqlalchemy", "alembic", "requests", "urllib3", "yaml", "mlflow")


def _pages(search: Any, **kwargs: Any) -> Iterator[Any]:  # noqa: ANN401
    token = None
    while True:
        page = search(max_results=PAGE, page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def read_registry(client: Any, model: str | None = None) -> list[RegisteredModel]:  # noqa: ANN401
    """Every registered model (or only ``model``) with its aliases and versions, by name then version number.

    Versions are read by one paged search over all versions, grouped by name here: MLflow's filter language cannot
    quote every name a registered model may have."""
    if model is not None:
        found = [client.get_registered_model(model)]
    else:
        found = list(_pages(client.search_registered_models, order_by=["name ASC"]))
    wanted = {rm.name for rm in found}
    by_name: dict[str, list[VersionFacts]] = {}
    for mv in _pages(client.search_model_versions, order_by=["name ASC", "version_number ASC"]):
        if mv.name in wanted:
            by_name.setdefault(mv.name, []).append(_version(mv))
    models = []
    for rm in found:
        versions = sorted(by_name.get(rm.name, []), key=lambda v: int(v.version) if v.version.isdigit() else 0)
        models.append(RegisteredModel(rm.name, {str(a): str(v) for a, v in (rm.aliases or {}).items()},
                                      dict(rm.tags or {}), versions))
    return models


def _version(mv: Any) -> VersionFacts:  # noqa: ANN401
    return VersionFacts(mv.name, str(mv.version), mv.run_id or None, str(mv.source or ""), str(mv.status or ""),
                        mv.creation_timestamp, dict(mv.tags or {}), mv.description or None,
                        getattr(mv, "model_id", None) or None)


def read_run(client: Any, run_id: str) -> RunFacts:  # noqa: ANN401
    """The run's facts; its metrics at their latest logged values."""
    run = client.get_run(run_id)
    inputs = []
    for item in (run.inputs.dataset_inputs if run.inputs else []):
        ds = item.dataset
        context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), None)
        inputs.append(DatasetInput(ds.name, ds.digest, ds.source_type, ds.source, context, ds.schema or None,
                                   ds.profile or None))
    return RunFacts(run.info.run_id, run.info.experiment_id, run.info.user_id or None, run.info.status,
                    run.info.start_time, run.info.end_time, dict(run.data.params), dict(run.data.metrics), inputs)


def download_version(client: Any, tracking_uri: str, name: str, version: str, destination: Path) -> Path:  # noqa: ANN401
    """Download a model version's files into ``destination`` (always a copy, never the live store) and return the
    folder holding its ``MLmodel``.

    The folder is checked first, so nothing is copied from a folder Countersign would refuse: in a local artifact
    store its own files (:func:`~core.mlflow_registry.model_dir.regular_files`: no link, pipe or device — copying
    one would follow it, block, or read ``/dev/zero`` without end — and within the size limits); elsewhere MLflow's
    listing of the files and their sizes (:func:`~core.mlflow_registry.model_dir.check_listing`).
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    uri = client.get_model_version_download_uri(name, version)
    repository = get_artifact_repository(artifact_uri=uri, tracking_uri=tracking_uri)
    if isinstance(repository, LocalArtifactRepository):
        regular_files(Path(repository.artifact_dir))
    else:
        check_listing(_listed_sizes(repository))
    destination.mkdir(parents=True)
    return Path(download_artifacts(artifact_uri=uri, dst_path=str(destination), tracking_uri=tracking_uri))


def _listed_sizes(repository: Any) -> Iterator[int | None]:  # noqa: ANN401
    """The sizes of the files in ``repository``, walking MLflow's listing (a call per folder); a listing of more
    folders than the file limit (a server listing a folder inside itself) is refused."""
    folders, listed = [""], 0
    while folders:
        listed += 1
        if listed > MAX_MLFLOW_MODEL_FILES:
            raise BadInput(f"the MLflow model folder holds more than {MAX_MLFLOW_MODEL_FILES:,} folders: refused")
        for info in repository.list_artifacts(folders.pop() or None):
            if info.is_dir:
                folders.append(info.path)
            else:
                yield info.file_size
