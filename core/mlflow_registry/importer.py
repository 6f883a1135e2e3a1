"""``countersign mlflow import``: an MLflow registry's models, versions, runs and datasets as Countersign's own.

Every version not imported yet is read, downloaded into a temporary folder, digested and its model checked and
described by a safe path (skops where MLflow wrote skops; a pickle only with ``trust_pickle``, behind the importing
user's own ledgered trust, unpickled in the isolated process) — all before any transaction. Then one transaction
registers every dataset, model version and lineage edge, each ledgered, and an ``mlflow.imported`` summary: the import
is all or nothing. Versions imported before are recognised by their lineage node and skipped without a download,
so a re-run is a no-op that picks up new versions.

Lineage: ``mlflow-model-version:… --imported_as--> model:NAME@V``; ``mlflow-run:… --produced-->`` the MLflow version;
each logged dataset ``--input_to-->`` the run, and a training dataset also ``--trained_on-->`` the model.

Personal text (the run's user, MLflow tags and descriptions) stays in the ``imported_from`` field of each
``model.registered`` entry and in the run node's attributes.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.catalog.datasets import validate_name
from core.catalog.registry import model_node
from core.errors import BadInput, CountersignError
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import Event
from core.mlflow_registry import aliases, client as registry
from core.mlflow_registry.datasets import MATCHED_BY, PlannedDataset, plan_dataset
from core.mlflow_registry.model_dir import ModelFolder, inspect_model_folder
from core.mlflow_registry.names import (
    countersign_name,
    run_node,
    server_label,
    url_secrets,
    version_node,
    without_secrets,
)
from core.storage.contract import Transaction as Tx
from core.tlog.canonical import canonical_bytes

if TYPE_CHECKING:
    from core.api.context import Context
    from core.catalog.prepared import PreparedModel
    from core.catalog.registry import RegistryService

__all__ = ["MAX_METRICS", "MAX_PARAM_CHARS", "import_registry"]

#: Parameters and metrics kept per run (MLflow allows any number; the ledger keeps the first, by name).
MAX_METRICS = 1000
#: Longest parameter value kept, in characters: with :data:`MAX_METRICS`, a run adds at most ~1 MB to
#: its entry.
MAX_PARAM_CHARS = 500


@dataclass(frozen=True)
class _Fetched:
    version: registry.VersionFacts
    run: registry.RunFacts | None
    folder: ModelFolder
    datasets: list[PlannedDataset]
    provenance: dict[str, Any]


@dataclass(frozen=True)
class _Planned:
    version: registry.VersionFacts
    run: registry.RunFacts | None
    folder: ModelFolder
    datasets: list[PlannedDataset]
    prepared: PreparedModel


def import_registry(ctx: Context, registry_service: RegistryService, session: Session, tracking_uri: str, *,
                    model: str | None = None, data_root: str | Path | None = None,
                    trust_pickle: bool = False) -> dict[str, Any]:
    """Import ``tracking_uri``'s registry (or its model ``model``); see the module's description.

    Returns ``{"tracking_uri", "models": [{"mlflow_name", "name", "aliases"}], "imported": [...], "skipped": [...],
    "datasets": [...], "seq"}`` (``seq`` ``None`` when nothing was new: nothing is written). Raises
    :class:`BadInput` (nothing written) for a version that cannot be imported: a pickle without ``trust_pickle``, a
    folder that is not an MLflow model, a Countersign reference already holding other content. Every version is
    downloaded and checked before any is loaded, so a version refused for what its files are costs no other
    version's pickle trust.
    """
    label = server_label(tracking_uri)
    if data_root is not None and not str(data_root).strip():
        raise BadInput("--data-root is empty: give the folder whose data files may be read by content")
    root = Path(data_root).expanduser() if data_root is not None else None
    if root is not None and not root.is_dir():
        raise BadInput(f"--data-root {root} is not a folder")
    subject = f"mlflow:{label}"
    ctx.act(session, Permission.MODEL_REGISTER, subject, lambda tx, _role: None)  # before anything is read
    client = registry.mlflow_client(tracking_uri)
    secrets = url_secrets(tracking_uri)
    with registry.mlflow_errors(label, secrets):
        found = registry.read_registry(client, model)
    mapped = _mapped_names(found)
    ctx.act(session, Permission.READ, subject, lambda tx, _role: _refuse_collisions_in(tx, label, mapped))
    nodes = [version_node(label, rm.name, v.version) for rm in found for v in rm.versions]
    known = ctx.act(session, Permission.READ, subject,
                    lambda tx, _role: {n["id"]: json.loads(n["attributes"]) for n in tx.lineage_nodes(nodes)})
    skipped: list[dict[str, str]] = []
    seen: dict[tuple[str, str, str, str | None], PlannedDataset] = {}
    with tempfile.TemporaryDirectory(prefix="countersign-mlflow-") as tmp:
        fetched: list[_Fetched] = []
        for rm in found:
            for v in rm.versions:
                where = {"mlflow_name": rm.name, "version": v.version}
                before = known.get(version_node(label, rm.name, v.version))
                if before is not None and (before.get("run_id"), before.get("source")) == (v.run_id, v.source):
                    skipped.append({**where, "reason": "imported before"})
                elif before is not None:
                    skipped.append({**where, "reason": (
                        f"not the version imported as {before.get('model')}: its run or source changed (a model "
                        "deleted and re-created in MLflow?); Countersign keeps the one it imported, and mlflow check "
                        "reports an alias on this one as changed")})
                elif v.status != registry.READY:
                    skipped.append({**where, "reason": f"MLflow status {v.status}: imported once it is READY"})
                else:
                    try:
                        fetched.append(_fetch(client, tracking_uri, label, v, root, Path(tmp, str(len(fetched))),
                                              trust_pickle, sorted(a for a, at in rm.aliases.items()
                                                                   if at == v.version), seen))
                    except CountersignError as refused:
                        raise _naming(refused, v) from None
        plans = []
        for f in fetched:
            try:
                plans.append(_prepare(registry_service, session, f, trust_pickle))
            except CountersignError as refused:
                raise _naming(refused, f.version) from None
        if not plans:
            return {"tracking_uri": label, "models": _models(found), "imported": [], "skipped": skipped,
                    "datasets": [], "seq": None}
        return ctx.act(session, Permission.MODEL_REGISTER, subject,
                       lambda tx, role: _import_in(ctx, registry_service, tx, session, role, label, found, plans,
                                                   skipped))


def _naming(refused: CountersignError, v: registry.VersionFacts) -> CountersignError:
    """``refused``, its message starting with the MLflow version it concerns (whatever failed, and where)."""
    named = f"MLflow model {v.name!r} version {v.version}"
    if not refused.message.startswith(named):
        refused.message = f"{named}: {refused.message}"
        refused.args = (refused.message,)
    return refused


def _mapped_names(found: list[registry.RegisteredModel]) -> dict[str, str]:
    """``Countersign name → MLflow name`` for this registry; :class:`BadInput` for two MLflow names meeting in one."""
    seen: dict[str, str] = {}
    for rm in found:
        mapped = countersign_name(rm.name)
        if mapped in seen:
            raise BadInput(f"MLflow models {seen[mapped]!r} and {rm.name!r} both map to the Countersign name "
                           f"{mapped!r}: rename one in MLflow, or import them apart with --model")
        seen[mapped] = rm.name
    return seen


def _refuse_collisions_in(tx: Tx, label: str, seen: dict[str, str]) -> None:
    """Refuse an MLflow name whose Countersign name holds versions imported from another MLflow name or server, or
    registered in Countersign itself (the refusal names both)."""
    linked: dict[str, list[aliases.Link]] = {}
    for link in aliases.links(tx):
        linked.setdefault(link.name, []).append(link)
    versions: dict[str, set[str]] = {}
    for m in tx.list_models():
        versions.setdefault(m["name"], set()).add(m["version"])
    for mapped, mlflow_name in seen.items():
        for link in linked.get(mapped, []):
            if (link.tracking_uri, link.mlflow_name) != (label, mlflow_name):
                raise BadInput(f"MLflow model {mlflow_name!r} maps to the Countersign name {mapped!r}, which "
                               f"holds versions imported from {link.mlflow_name!r} at {link.tracking_uri}")
        if versions.get(mapped, set()) - {link.version for link in linked.get(mapped, [])}:
            raise BadInput(f"MLflow model {mlflow_name!r} maps to the Countersign name {mapped!r}, which holds "
                           "models registered in Countersign itself: rename the MLflow model to import it")


def _plan_once(logged: registry.DatasetInput, label: str, root: Path | None,
               seen: dict[tuple[str, str, str, str | None], PlannedDataset]) -> PlannedDataset:
    """:func:`plan_dataset`, once per logged dataset in an import (many runs log the same file)."""
    key = (logged.name, logged.digest, logged.source, logged.context)
    if key not in seen:
        seen[key] = plan_dataset(logged, label, root)
    return seen[key]


def _fetch(client: Any, tracking_uri: str, label: str, v: registry.VersionFacts,  # noqa: ANN401
           root: Path | None, into: Path, trust_pickle: bool, aliases_now: list[str],
           seen: dict[tuple[str, str, str, str | None], PlannedDataset]) -> _Fetched:
    """Read, download and check one version (no model is loaded here)."""
    with registry.mlflow_errors(label, url_secrets(tracking_uri)):
        run = registry.read_run(client, v.run_id) if v.run_id else None
        downloaded = registry.download_version(client, registry.client_uri(tracking_uri), v.name, v.version, into)
    folder = inspect_model_folder(downloaded)
    planned = [_plan_once(d, label, root, seen) for d in (run.datasets if run else [])]
    if folder.served_code and not trust_pickle:
        raise BadInput(f"MLflow model {v.name!r} version {v.version}: MLflow runs code from it when serving it ("
                       f"{'; '.join(folder.served_code)}): refused, nothing imported. Pass --trust-pickle to vouch for "
                       "its exact files yourself (recorded in the ledger; Countersign itself never runs them)")
    if folder.model_file is not None and folder.serialization_format != "skops" and not trust_pickle:
        raise BadInput(f"MLflow model {v.name!r} version {v.version} was saved with "
                       f"{folder.serialization_format}, which runs code when loaded: refused, nothing imported. "
                       "Log it with serialization_format='skops', or pass --trust-pickle to vouch for its exact "
                       "bytes yourself (recorded in the ledger)")
    provenance = {
        "system": "mlflow", "tracking_uri": label, "name": v.name, "version": v.version, "source": v.source,
        "model_id": v.model_id, "run_id": v.run_id, "created_ms": v.created_ms, "tags": v.tags,
        "aliases_at_import": aliases_now, "description": v.description, "flavors": folder.flavors,
        "serialization_format": folder.serialization_format, "model_folder_sha256": folder.digest,
        "served_code": folder.served_code,
        "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in folder.files],
        "run": _run_summary(run),
        "datasets": [_dataset_summary(d) for d in planned],
    }
    return _Fetched(v, run, folder, planned, provenance)


def _prepare(registry_service: RegistryService, session: Session, f: _Fetched, trust_pickle: bool) -> _Planned:
    """Check and describe the version's model by a safe path (a pickle behind the importer's own trust); code MLflow
    runs when serving the version is vouched for by the importer first."""
    name = countersign_name(f.version.name)
    if f.folder.served_code:
        validate_name(name, f.version.version)
        registry_service.vouch_for_code(session, f"{name}@{f.version.version}", f.folder.digest,
                                        "MLflow model folder")
    prepared = registry_service.prepare_model(
        session, f.folder.model_file, name=countersign_name(f.version.name), version=f.version.version,
        trained_on=[str(d.ref) for d in f.datasets if d.ref is not None and d.training],
        external=f.folder.model_file is None, trust_pickle=trust_pickle,
        features=f.folder.feature_names if f.folder.model_file is None else (), provenance=f.provenance)
    return _Planned(f.version, f.run, f.folder, f.datasets, prepared)


def _models(found: list[registry.RegisteredModel]) -> list[dict[str, Any]]:
    return [{"mlflow_name": rm.name, "name": countersign_name(rm.name), "aliases": rm.aliases} for rm in found]


def _first(values: dict[str, Any]) -> dict[str, Any]:
    """The first :data:`MAX_METRICS` entries by name; a metric that is not a finite number (MLflow accepts NaN and
    infinities, JSON has neither) is kept as its text, ``"nan"``, ``"inf"`` or ``"-inf"``; a parameter's text longer
    than :data:`MAX_PARAM_CHARS` is cut there, saying its length (MLflow keeps up to 6,000 characters a value)."""
    def kept(v: Any) -> Any:  # noqa: ANN401 - a parameter's text or a metric's number
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, str) and len(v) > MAX_PARAM_CHARS:
            return f"{v[:MAX_PARAM_CHARS]}… ({len(v):,} characters in MLflow)"
        return v

    return {k: kept(values[k]) for k in sorted(values)[:MAX_METRICS]}


def _run_summary(run: registry.RunFacts | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"run_id": run.run_id, "experiment_id": run.experiment_id, "user": run.user, "status": run.status,
            "start_ms": run.start_time, "end_ms": run.end_time, "params": _first(run.params),
            "metrics": _first(run.metrics), "params_total": len(run.params), "metrics_total": len(run.metrics)}


def _dataset_summary(d: PlannedDataset) -> dict[str, Any]:
    return {"name": d.logged.name, "digest": d.logged.digest, "source_type": d.logged.source_type,
            "source": without_secrets(d.logged.source), "context": d.logged.context, "node": d.node,
            "registered_as": str(d.ref) if d.ref else None, "sha256": d.facts.digest if d.facts else None,
            "by_reference_because": d.note,
            **({"matched_by": MATCHED_BY} if d.ref is not None else {})}


def _import_in(ctx: Context, registry_service: RegistryService, tx: Tx, session: Session, role: str, label: str,
               found: list[registry.RegisteredModel], plans: list[_Planned],
               skipped: list[dict[str, str]]) -> dict[str, Any]:
    # Checked again in the writing transaction: another import may have committed since they were first checked.
    _refuse_collisions_in(tx, label, _mapped_names(found))
    meanwhile = tx.lineage_nodes([version_node(label, p.version.name, p.version.version) for p in plans])
    if meanwhile:
        already = ", ".join(sorted(json.loads(n["attributes"])["model"] for n in meanwhile))
        raise BadInput(f"another import has just imported {already} from this MLflow registry: nothing imported here; "
                       "run the import again to pick up the rest")
    imported, datasets = [], []
    for plan in plans:
        v = plan.version
        for d in plan.datasets:
            if d.ref is not None and d.facts is not None:
                ctx.authorize(tx, session, Permission.DATA_REGISTER, d.node)
                done = registry_service.register_dataset_in(tx, session, role, d.ref, d.facts,
                                                            uri=d.facts.path.as_uri())
                datasets.append({"ref": str(d.ref), "created": done["created"]})
        result = registry_service.register_model_in(tx, session, role, plan.prepared, upstream=[
            (version_node(label, v.name, v.version), "imported_as")])
        seq = int(result.get("seq") or (tx.get_model(result["name"], result["version"]) or {})["registered_seq"])
        for d in plan.datasets:
            if d.ref is None:
                created = tx.upsert_lineage_node({"id": d.node, "kind": "dataset", "label": d.logged.name,
                                                  "digest": d.logged.digest, "attributes": json.dumps(
                                                      {**_dataset_summary(d), "system": "mlflow"}), "seq": seq})
                datasets.append({"node": d.node, "created": created, "note": d.note})
        vnode = version_node(label, v.name, v.version)
        tx.upsert_lineage_node({"id": vnode, "kind": "mlflow_model_version", "label": f"{v.name} v{v.version}",
                                "digest": plan.folder.digest, "attributes": json.dumps(
                                    {"tracking_uri": label, "name": v.name, "version": v.version,
                                     "source": v.source, "run_id": v.run_id, "model": result["ref"]}), "seq": seq})
        if plan.run is not None:
            rnode = run_node(label, plan.run.run_id)
            summary = _run_summary(plan.run)
            tx.upsert_lineage_node({"id": rnode, "kind": "mlflow_run", "label": plan.run.run_id,
                                    "digest": hashlib.sha256(canonical_bytes(summary)).hexdigest(),
                                    "attributes": json.dumps(summary), "seq": seq})
            tx.insert_lineage_edge(rnode, vnode, "produced", seq)
            for d in plan.datasets:
                tx.insert_lineage_edge(d.node, rnode, "input_to", seq)
        for d in plan.datasets:
            if d.training and d.ref is None:
                tx.insert_lineage_edge(d.node, model_node(result["ref"]), "trained_on", seq)
        imported.append({"mlflow_name": v.name, "version": v.version, "model": result["ref"],
                         "created": result["created"], "format": plan.prepared.fmt or "external",
                         "model_folder_sha256": plan.folder.digest})
    models = _models(found)
    row = ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
        "mlflow.imported", f"mlflow:{label}", {"tracking_uri": label, "models": models,
                                               "imported": imported, "skipped": skipped}))
    return {"tracking_uri": label, "models": models, "imported": imported, "skipped": skipped,
            "datasets": datasets, "seq": row.seq}
