"""``countersign mlflow check``: governed MLflow aliases that do not point where Countersign approved.

For every imported MLflow model, each governed alias (:mod:`core.mlflow_registry.aliases`) is read from MLflow and
compared with its expected version:

* ``unapproved`` — the alias points at a version Countersign did not approve for that stage (a promotion around the
  gate, or an alias MLflow had before the import). That version, when imported, is flagged for revalidation.
* ``changed`` — the alias is where Countersign approved, but that MLflow version is no longer what was imported
  (its files, run or source changed; :mod:`core.mlflow_registry.identity`). The version is flagged.
* ``stale`` — the alias is where Countersign itself last set it, but the map or the stages moved on since (say the
  map was changed): ``countersign mlflow sync`` moves it. Nothing is flagged.
* ``unreachable`` — the tracking server could not be read; reported, not recorded (the other servers are checked).
* ``missing`` — Countersign approved a version for the stage but MLflow has no such alias (removed outside
  Countersign, or not yet applied: ``countersign mlflow sync`` sets it).

Each finding is ledgered as ``mlflow.alias_drift`` once, when it first appears (a finding already recorded as the
alias's latest state is not recorded again), and ``mlflow.alias_restored`` when an alias found drifting is back in
order. Aliases that are not governed are listed, not judged.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from core.errors import CountersignError, NotFound
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import Event
from core.mlflow_registry import client as registry
from core.mlflow_registry.aliases import alias_map, expected_aliases, group_links, links
from core.mlflow_registry.identity import version_changed
from core.mlflow_registry.names import server_key
from core.storage.contract import Transaction as Tx

if TYPE_CHECKING:
    from core.api.context import Context
    from core.releases.promotions import ReleaseService

__all__ = ["alias_subject", "check_aliases"]

_STATES = ("mlflow.alias_drift", "mlflow.alias_restored")


def alias_subject(tracking_uri: str, mlflow_name: str, alias: str) -> str:
    """The ledger subject of one alias of one MLflow model on one tracking server."""
    return f"mlflow-alias:{server_key(tracking_uri)}/{urllib.parse.quote(mlflow_name, safe='')}/{alias}"


def check_aliases(ctx: Context, releases: ReleaseService, session: Session) -> dict[str, Any]:
    """Compare every governed alias of every imported MLflow model with what Countersign approved.

    Returns ``{"findings": [...], "in_order": [...], "ungoverned": [...], "models": n}``; each finding has ``kind``
    (``unapproved`` | ``missing``), ``mlflow_name``, ``alias``, ``stage``, ``found_version``, ``expected_version``,
    ``model`` (the Countersign version the alias points at, if imported), ``recorded_seq`` and ``flagged``.
    """
    def plan(tx: Tx, _role: str) -> list[tuple[tuple[str, str, str], dict[str, dict[str, Any]], dict[str, str],
                                                dict[str, str | None]]]:
        mapping = alias_map(tx)
        return [(key, expected_aliases(tx, group, mapping), {k.mlflow_version: f"{k.name}@{k.version}" for k in group},
                 _last_set(tx, *key)) for key, group in group_links(links(tx)).items()]

    planned = ctx.act(session, Permission.MLFLOW_CHECK, "mlflow:aliases", plan)
    observed: list[dict[str, Any]] = []
    ungoverned: list[dict[str, str]] = []
    for (name, uri, mlflow_name), expected, imported, last_set in planned:
        where = {"tracking_uri": uri, "mlflow_name": mlflow_name, "name": name}
        try:
            seen = _observe(uri, mlflow_name, expected, imported, last_set)
        except CountersignError as failed:  # one store down: the others are still checked
            observed.append({"kind": "unreachable", **where, "alias": None, "stage": None, "found_version": None,
                             "expected_version": None, "expected_model": None, "model": None,
                             "reason": failed.message})
            continue
        current, items = seen
        ungoverned += [{"mlflow_name": mlflow_name, "alias": a, "version": v} for a, v in sorted(current.items())
                       if a not in expected]
        observed += [{**item, **where} for item in items]

    def record(tx: Tx, role: str) -> None:
        for item in observed:
            if item["kind"] == "unreachable":  # reported, not recorded: nothing was observed
                item["recorded_seq"], item["flagged"] = None, False
                continue
            subject = alias_subject(item["tracking_uri"], item["mlflow_name"], item["alias"])
            rows = [r for r in tx.ledger_for_subject_prefix(subject, _STATES) if r.subject == subject]
            last = rows[-1] if rows else None
            state = {k: item.get(k) for k in ("kind", "found_version", "expected_version", "model", "reason")}
            item["recorded_seq"], item["flagged"] = None, False
            if item["kind"] is None:
                if last is not None and last.action == "mlflow.alias_drift":
                    ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                        "mlflow.alias_restored", subject, {k: item[k] for k in item if k not in ("kind",)}))
                continue
            if last is not None and last.action == "mlflow.alias_drift" and \
                    {k: json.loads(last.payload).get(k) for k in state} == state:
                item["recorded_seq"] = last.seq
                continue
            row = ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "mlflow.alias_drift", subject, {k: v for k, v in item.items() if k not in ("recorded_seq", "flagged")}))
            item["recorded_seq"] = row.seq
            if item["kind"] in ("unapproved", "changed") and item["model"] is not None:  # not "stale"
                model_name, version = item["model"].rsplit("@", 1)
                reason = (f"MLflow alias {item['alias']} of {item['mlflow_name']} points at this version, which "
                          f"Countersign did not approve for {item['stage'] or 'that alias (no longer governed)'}"
                          if item["kind"] == "unapproved" else
                          f"MLflow alias {item['alias']} of {item['mlflow_name']} points at this version, which is "
                          f"no longer the one Countersign imported and approved: {item.get('reason')}")
                if tx.stage_of(model_name, version) is None:  # never moved: flagged where the inventory shows it
                    tx.set_stage({"model_name": model_name, "model_version": version, "stage": "registered",
                                  "since": row.ts, "request_id": None, "evaluation_id": None, "policy_name": None,
                                  "policy_version": None, "revalidation_required": False,
                                  "revalidation_reason": None, "seq": row.seq})
                releases.flag(tx, session, role, model_name, version, reason)
                item["flagged"] = True

    if observed:
        ctx.act(session, Permission.MLFLOW_CHECK, "mlflow:aliases", record)
    findings = [i for i in observed if i["kind"] is not None]
    return {"findings": findings, "in_order": [i for i in observed if i["kind"] is None],
            "ungoverned": ungoverned, "models": len(planned)}


def _observe(uri: str, mlflow_name: str, expected: dict[str, dict[str, Any]], imported: dict[str, str],
             last_set: dict[str, str | None]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """MLflow's aliases of one model now, and each governed alias judged (see the module's description)."""
    client = registry.mlflow_client(uri, recorded=True)
    try:
        with registry.mlflow_errors(uri):
            current = {str(a): str(v) for a, v in (client.get_registered_model(mlflow_name).aliases or {}).items()}
    except NotFound:  # deleted in MLflow: an approved alias is then missing
        current = {}
    items = []
    for alias, want in expected.items():
        have = current.get(alias)
        kind = None if have == want["version"] else "missing" if have is None else "unapproved"
        if kind == "unapproved" and last_set.get(alias) == have:
            kind = "stale"  # where Countersign itself set it, under an earlier map or stage: sync moves it
        changed = version_changed(client, want["link"]) if kind is None and have is not None else None
        items.append({"kind": "changed" if changed else kind, "alias": alias, "stage": want["stage"],
                      "found_version": have, "expected_version": want["version"], "expected_model": want["model"],
                      "model": imported.get(have) if have is not None else None,
                      **({"reason": changed} if changed else {})})
    return current, items


def _last_set(tx: Tx, name: str, uri: str, mlflow_name: str) -> dict[str, str | None]:
    """``alias → version`` where Countersign itself last set each alias of this MLflow model (``None``: removed)."""
    last: dict[str, str | None] = {}
    for row in tx.ledger_for_subject_prefix(f"model:{name}@", ("mlflow.alias_set", "mlflow.alias_removed")):
        change = json.loads(row.payload)
        if (change.get("tracking_uri"), change.get("mlflow_name")) == (uri, mlflow_name):
            last[change["alias"]] = change["version"] if row.action == "mlflow.alias_set" else None
    return last
