"""MLflow aliases under Countersign's approval workflow: which alias each stage sets, and where aliases point now.

Configuration (:func:`configure_aliases`, ledgered ``mlflow.aliases_configured``): Countersign stage → MLflow alias,
by default ``staging`` → ``challenger`` and ``production`` → ``champion``. An alias is *governed* when it is mapped.

The expected place of a governed alias of an imported model is the MLflow version of the Countersign version most
recently moved into its stage and still there; none when no imported version is in that stage. MLflow keeps no
history of aliases, so what Countersign approved is what its ledger says, and a drift is found by comparing.

* :func:`apply_aliases` (after each completed promotion or suspension, and ``countersign mlflow sync``) makes MLflow
  follow: it sets a governed alias that should point elsewhere, with tags on the version naming the request and the
  ledger entry, and removes one that points at a version Countersign moved out of that stage. An alias at a version
  Countersign never moved (set around the gate) is left for :func:`check_aliases` to report. Each change to MLflow is
  ledgered (``mlflow.alias_set`` / ``mlflow.alias_removed``) after MLflow accepted it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.display.text import visible
from core.errors import BadInput, CountersignError, NotFound, StoreUnavailable
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import Event
from core.mlflow_registry import client as registry
from core.storage.contract import Transaction as Tx

if TYPE_CHECKING:
    from core.api.context import Context

__all__ = ["DEFAULT_ALIASES", "GOVERNED_STAGES", "Link", "alias_map", "apply_aliases", "configure_aliases",
           "expected_aliases", "links"]

DEFAULT_ALIASES: dict[str, str] = {"staging": "challenger", "production": "champion"}
#: The stages whose versions an alias may follow.
GOVERNED_STAGES = ("staging", "production")
SETTING = "mlflow_aliases"
#: MLflow's own rule for alias names; ``latest`` and ``v<digits>`` are reserved by MLflow.
_ALIAS = re.compile(r"[\w\-]{1,255}", re.ASCII)


@dataclass(frozen=True)
class Link:
    """A Countersign model version imported from an MLflow model version."""

    name: str
    version: str
    tracking_uri: str
    mlflow_name: str
    mlflow_version: str
    run_id: str | None = None
    source: str = ""
    folder_sha256: str = ""


def alias_map(tx: Tx) -> dict[str, str]:
    """The configured ``stage → alias`` map (the default when never configured)."""
    stored = tx.get_setting(SETTING)
    return dict(json.loads(stored)["map"]) if stored else dict(DEFAULT_ALIASES)


def retired_aliases(tx: Tx) -> list[str]:
    """Aliases an earlier map governed and the current one does not: Countersign approves no version for them."""
    stored = tx.get_setting(SETTING)
    return sorted(json.loads(stored)["retired"]) if stored else []


def configure_aliases(ctx: Context, session: Session, mapping: Mapping[str, str]) -> dict[str, Any]:
    """Set the ``stage → alias`` map (each stage in :data:`GOVERNED_STAGES`, each alias valid for MLflow and used
    once); ledgered. An empty alias removes the stage from the map."""
    cleaned: dict[str, str] = {}
    for stage, alias in mapping.items():
        if stage not in GOVERNED_STAGES:
            raise BadInput(f"--set {visible(stage)}={visible(alias)}: the stage must be one of "
                           f"{', '.join(GOVERNED_STAGES)}")
        if alias == "":
            continue
        if not _ALIAS.fullmatch(alias) or alias.lower() == "latest" or re.fullmatch(r"v\d+", alias, re.ASCII | re.I):
            raise BadInput(f"--set {stage}={visible(alias)}: MLflow aliases are letters, digits, '_' and '-', "
                           "and 'latest' and v<number> are MLflow's own")
        cleaned[stage] = alias
    if len(set(cleaned.values())) != len(cleaned):
        raise BadInput("two stages cannot share one alias")

    def store(tx: Tx, role: str) -> dict[str, Any]:
        before = alias_map(tx)
        retired = sorted((set(retired_aliases(tx)) | set(before.values())) - set(cleaned.values()))
        row = ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
            "mlflow.aliases_configured", "mlflow:aliases", {"aliases": cleaned, "previous": before,
                                                            "no_longer_governed": retired}))
        tx.put_setting(SETTING, json.dumps({"map": cleaned, "retired": retired}, sort_keys=True))
        return {"aliases": cleaned, "previous": before, "no_longer_governed": retired, "seq": row.seq}

    return ctx.act(session, Permission.POLICY_MANAGE, "mlflow:aliases", store)


def links(tx: Tx, model_name: str | None = None) -> list[Link]:
    """Every imported model version (or those of ``model_name``), by model and version."""
    models = [m for m in tx.list_models() if model_name is None or m["name"] == model_name]
    ids = {f"model:{m['name']}@{m['version']}": (m["name"], m["version"]) for m in models}
    edges = [e for e in tx.lineage_edges_touching(list(ids), "upstream") if e["kind"] == "imported_as"]
    nodes = {n["id"]: n for n in tx.lineage_nodes([e["src"] for e in edges])}
    found = []
    for e in edges:
        node = nodes.get(e["src"])
        if node is not None:
            attrs = json.loads(node["attributes"])
            name, version = ids[e["dst"]]
            found.append(Link(name, version, attrs["tracking_uri"], attrs["name"], str(attrs["version"]),
                              attrs.get("run_id"), attrs.get("source") or "", node["digest"] or ""))
    return sorted(found, key=lambda k: (k.name, k.tracking_uri, k.mlflow_name, k.mlflow_version))


def expected_aliases(tx: Tx, model_links: list[Link], mapping: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``alias → {"stage", "version" (MLflow's, or None), "model", "request_id", "seq", "link"}`` for one MLflow
    model's ``model_links`` (all of one Countersign name, tracking server and MLflow name); an alias no longer
    governed (:func:`retired_aliases`) is expected nowhere (``stage`` ``None``)."""
    if not model_links:
        return {}
    by_version = {k.version: k for k in model_links}
    name = model_links[0].name
    out: dict[str, dict[str, Any]] = {}
    for stage, alias in mapping.items():
        rows = [s for r in tx.stage_rows(name) if r["stage"] == stage and r["version"] in by_version
                for s in [tx.stage_of(name, r["version"])] if s is not None]
        latest = max(rows, key=lambda r: int(r["seq"]), default=None)
        link = by_version[latest["model_version"]] if latest else None
        out[alias] = {"stage": stage, "version": link.mlflow_version if link else None,
                      "model": f"{name}@{latest['model_version']}" if latest else None,
                      "request_id": latest["request_id"] if latest else None,
                      "seq": int(latest["seq"]) if latest else None, "link": link}
    for alias in retired_aliases(tx):
        if alias not in out:
            out[alias] = {"stage": None, "version": None, "model": None, "request_id": None, "seq": None,
                          "link": None}
    return out


def group_links(all_links: list[Link]) -> dict[tuple[str, str, str], list[Link]]:
    """Links grouped by ``(Countersign name, tracking URI, MLflow name)``."""
    groups: dict[tuple[str, str, str], list[Link]] = {}
    for k in all_links:
        groups.setdefault((k.name, k.tracking_uri, k.mlflow_name), []).append(k)
    return groups


def apply_aliases(ctx: Context, session: Session, model_name: str | None = None) -> list[dict[str, Any]]:
    """Make MLflow's governed aliases follow Countersign's stages (see the module's description); returns the
    changes made, each ledgered. Does nothing for a model that was not imported from MLflow."""

    def plan(tx: Tx, _role: str) -> list[tuple[tuple[str, str, str], dict[str, dict[str, Any]],
                                                dict[str, tuple[str, str]]]]:
        mapping = alias_map(tx)
        out = []
        for key, group in group_links(links(tx, model_name)).items():
            moved = {k.mlflow_version: (f"{k.name}@{k.version}", r["stage"]) for k in group
                     for r in [tx.stage_of(k.name, k.version)] if r is not None}
            out.append((key, expected_aliases(tx, group, mapping), moved))
        return out

    changes: list[dict[str, Any]] = []
    problems: list[str] = []
    unavailable = False
    for (name, uri, mlflow_name), expected, moved in ctx.act(session, Permission.MLFLOW_SYNC, "mlflow:aliases",
                                                             plan):
        made: list[dict[str, Any]] = []
        try:  # one store failing stops neither the others nor the ledgering of what MLflow already accepted
            _follow(uri, mlflow_name, expected, moved, made, problems)
        except CountersignError as failed:
            problems.append(failed.message)
            unavailable = unavailable or isinstance(failed, StoreUnavailable)
        changes += [{**change, "tracking_uri": uri, "mlflow_name": mlflow_name, "name": name} for change in made]
    if changes:
        def record(tx: Tx, role: str) -> None:
            for change in changes:
                row = ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                    change["action"], f"model:{change['model']}", dict(change)))
                change["ledger_seq"] = row.seq

        ctx.act(session, Permission.MLFLOW_SYNC, "mlflow:aliases", record)
    if problems:
        message = "; ".join(problems) + (f" (the {len(changes)} other change(s) were made and ledgered)"
                                         if changes else "")
        raise StoreUnavailable(message) if unavailable else BadInput(message)
    return changes


def _follow(uri: str, mlflow_name: str, expected: dict[str, dict[str, Any]], moved: dict[str, tuple[str, str]],
            made: list[dict[str, Any]], problems: list[str]) -> None:
    """Set and remove one MLflow model's governed aliases as ``expected``; each change MLflow accepted is appended
    to ``made`` at once (so it is ledgered even when a later call fails), each alias that cannot follow to
    ``problems``."""
    from core.mlflow_registry.identity import version_changed

    client = registry.mlflow_client(uri, recorded=True)
    try:
        with registry.mlflow_errors(uri):
            current = {str(a): str(v) for a, v in (client.get_registered_model(mlflow_name).aliases or {}).items()}
    except NotFound:
        problems.append(f"MLflow model {mlflow_name!r} no longer exists at {uri}: its aliases cannot follow")
        return
    for alias, want in expected.items():
        have = current.get(alias)
        if want["version"] is not None and have != want["version"]:
            changed = version_changed(client, want["link"])
            if changed:
                problems.append(f"alias {alias} not set: {changed}")
                continue
            with registry.mlflow_errors(uri):
                client.set_registered_model_alias(mlflow_name, alias, want["version"])
            made.append({"action": "mlflow.alias_set", "previous_version": have, **_plain(want), "alias": alias})
            with registry.mlflow_errors(uri):
                for tag, value in (("countersign.model", want["model"]), ("countersign.stage", want["stage"]),
                                   ("countersign.request_id", want["request_id"] or ""),
                                   ("countersign.ledger_seq", str(want["seq"]))):
                    client.set_model_version_tag(mlflow_name, want["version"], tag, value)
        elif want["version"] is None and have is not None and have in moved and moved[have][1] != want["stage"]:
            with registry.mlflow_errors(uri):
                client.delete_registered_model_alias(mlflow_name, alias)
            gone = f"no longer {want['stage']}" if want["stage"] else "and the alias is no longer governed"
            made.append({"action": "mlflow.alias_removed", "previous_version": have, **_plain(want),
                         "model": moved[have][0], "alias": alias,
                         "reason": f"{moved[have][0]} is {moved[have][1]}, {gone}"})


def _plain(want: dict[str, Any]) -> dict[str, Any]:
    """An expected alias without its link (for the ledger and the result)."""
    return {k: v for k, v in want.items() if k != "link"}
