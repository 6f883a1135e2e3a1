"""``countersign mlflow …``: import an MLflow registry, govern its aliases, find aliases moved around the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.main import _login, _Quiet, _service, _State, cli, command
from cli.output import emit_json, say, table


@cli.group("mlflow")
def mlflow_group() -> None:
    """MLflow's model registry under Countersign (needs: pip install 'countersign[mlflow]')."""


@command(mlflow_group, "import", auth=True)
@click.option("--tracking-uri", required=True, metavar="URI",
              help="The MLflow tracking server (http(s)://…, sqlite:///…, databricks…); credentials come from "
                   "MLflow's own variables (MLFLOW_TRACKING_TOKEN, …), never from the ledger.")
@click.option("--model", default=None, metavar="NAME", help="Only this registered model (default: all).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Register logged local datasets under this folder by their content (others stay references).")
@click.option("--trust-pickle", is_flag=True,
              help="Vouch for pickled versions' exact bytes yourself (recorded; loaded only in an isolated process).")
def mlflow_import(state: _State, db: str | None, as_json: bool, as_user: str | None, tracking_uri: str,
                  model: str | None, data_root: Path | None, trust_pickle: bool) -> None:
    """Import registered models, versions, their runs and datasets from MLflow (all or nothing; a re-run adds only
    new versions)."""
    cs = _service(state, db)
    result = cs.import_mlflow(_login(state, cs, as_user), tracking_uri, model=model, data_root=data_root,
                              trust_pickle=trust_pickle)
    if as_json:
        emit_json(result)
        return
    new = result["imported"]
    seq = f"; ledger seq {result['seq']}" if result["seq"] is not None else "; nothing new, nothing written"
    say(f"Imported {len(new)} model version(s) from {result['tracking_uri']} ({len(result['models'])} model(s), "
        f"{len(result['skipped'])} version(s) skipped){seq}")
    if new:
        table(new, ["mlflow_name", "version", "model", "format"])
    for item in result["skipped"]:
        say(f"skipped {item['mlflow_name']} version {item['version']}: {item['reason']}")
    for item in result["datasets"]:
        if item.get("note"):
            say(f"dataset {item['node']} by reference only: {item['note']}")


@command(mlflow_group, "aliases", auth=True)
@click.option("--set", "pairs", multiple=True, metavar="STAGE=ALIAS",
              help="Map a stage to an MLflow alias (repeatable; STAGE= removes it). Without --set: show the map.")
def mlflow_aliases(state: _State, db: str | None, as_json: bool, as_user: str | None, pairs: tuple[str, ...]) -> None:
    """Which MLflow alias each Countersign stage sets (default: staging=challenger, production=champion)."""
    cs = _service(state, db)
    session = _login(state, cs, as_user)
    if pairs:
        mapping = {}
        for pair in pairs:
            stage, sep, alias = pair.partition("=")
            if not sep:
                raise click.BadParameter(f"{pair!r}: expected STAGE=ALIAS", param_hint="--set")
            mapping[stage.strip()] = alias.strip()
        current = cs.mlflow_aliases(session)
        result: Any = cs.configure_mlflow_aliases(session, {**current, **mapping})["aliases"]
    else:
        result = cs.mlflow_aliases(session)
    emit_json(result) if as_json else table([{"stage": s, "alias": a} for s, a in result.items()], ["stage", "alias"])


@command(mlflow_group, "sync", auth=True)
@click.option("--model", default=None, metavar="NAME", help="Only this Countersign model name.")
def mlflow_sync(state: _State, db: str | None, as_json: bool, as_user: str | None, model: str | None) -> None:
    """Set MLflow's governed aliases where Countersign's stages say (after MLflow was unreachable at a decision)."""
    cs = _service(state, db)
    changes = cs.sync_mlflow(_login(state, cs, as_user), model)
    if as_json:
        emit_json(changes)
        return
    say(f"{len(changes)} alias change(s) made in MLflow")
    for c in changes:
        say(f"{c['mlflow_name']}: {c['alias']} {c['previous_version'] or '-'} -> {c['version'] or '(removed)'} "
            f"({c['model']}, {c['stage']})")


@command(mlflow_group, "check", auth=True)
def mlflow_check(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """Find governed MLflow aliases that are not where Countersign approved: exit 1 if any (each finding ledgered,
    the version it points at flagged for revalidation)."""
    cs = _service(state, db)
    result = cs.check_mlflow(_login(state, cs, as_user))
    findings = result["findings"]
    if as_json:
        emit_json(result)
    else:
        say(f"{result['models']} imported MLflow model(s): {len(result['in_order'])} governed alias(es) in order, "
            f"{len(findings)} not")
        for f in findings:
            if f["kind"] == "unreachable":
                say(f"unreachable: {f['mlflow_name']} at {f['tracking_uri']}: {f['reason']}")
                continue
            found = f"version {f['found_version']}" if f["found_version"] else "no version"
            expected = (f"version {f['expected_version']} ({f['expected_model']})" if f["expected_version"]
                        else "no version")
            flagged = f"; {f['model']} flagged for revalidation" if f["flagged"] else ""
            why = f" — {f['reason']}" if f.get("reason") else ""
            say(f"{f['kind']}: {f['mlflow_name']} alias {f['alias']} ({f['stage'] or 'no longer governed'}) is at "
                f"{found}; Countersign approved {expected} (ledger seq {f['recorded_seq']}){flagged}{why}")
    if findings:
        raise _Quiet(1)
