"""Policies and evaluations through the service: policy versions, evaluating a model, showing a result.

:class:`GovernanceService`, composed into :class:`core.api.countersign.Countersign`. An evaluation reads everything
first (authorising the caller, then re-checking every dataset's digest and the model artifact's), runs the engine
outside any database lock, and then stores the full result and its RFC 8785 digest with one ``evaluation.recorded``
ledger entry — whether it passed or failed: a failed evaluation is evidence too.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.catalog import artifacts, datasets
from core.catalog.datasets import parse_ref
from core.catalog.registry import dataset_node, model_node
from core.errors import BadInput, NotFound
from core.evaluation.engine import EvalInputs, Evaluator
from core.evaluation.engines import Engine
from core.evidence import attest
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import Event
from core.policy.rules import Policy, load_policy_file, parse_policy
from core.storage.contract import Transaction as Tx
from core.tlog.canonical import canonical_bytes

if TYPE_CHECKING:
    from core.api.context import Context
    from core.catalog.registry import RegistryService
    from core.releases.promotions import ReleaseService



def result_digest(result: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(result)).hexdigest()


def policy_node(name: str, version: int) -> str:
    return f"policy:{name}@{version}"


class GovernanceService:
    """Policies and evaluations (see :mod:`core.policy.governance`)."""

    def __init__(self, ctx: Context, releases: ReleaseService, registry: RegistryService) -> None:
        self._ctx = ctx
        self._releases = releases
        self._registry = registry

    # ------------------------------------------------------------------------------------------- policies
    def add_policy(self, session: Session, file: str | Path) -> dict[str, Any]:
        """Store an immutable policy version (compliance officers)."""
        policy, text, sha = load_policy_file(file)

        def add(tx: Tx, role: str) -> dict[str, Any]:
            existing = tx.get_policy(policy.policy, policy.version)
            if existing is not None:
                if existing["sha256"] == sha:
                    return {"name": policy.policy, "version": policy.version, "sha256": sha, "created": False}
                raise BadInput(f"policy {policy.ref} already exists with SHA-256 {existing['sha256']} (this file: "
                               f"{sha}); policy versions are immutable: bump 'version'")
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "policy.added", policy_node(policy.policy, policy.version),
                {"name": policy.policy, "version": policy.version, "sha256": sha,
                 "checks": [c.id for c in policy.checks], "approvals": policy.approvals.model_dump(exclude_none=True)}))
            tx.insert_policy({"name": policy.policy, "version": policy.version, "sha256": sha, "text": text,
                              "description": policy.description, "added_by": session.name, "added_at": row.ts,
                              "seq": row.seq})
            flagged = self._releases.flag_after_policy_activation(tx, session, role, policy.policy, policy.version)
            tx.upsert_lineage_node({"id": policy_node(policy.policy, policy.version), "kind": "policy",
                                    "label": policy.ref, "digest": sha, "attributes": json.dumps(
                                        {"checks": len(policy.checks)}), "seq": row.seq})
            return {"name": policy.policy, "version": policy.version, "sha256": sha, "created": True, "seq": row.seq,
                    "flagged_for_revalidation": flagged}

        result = self._ctx.act(session, Permission.POLICY_MANAGE, f"policy:{policy.ref}", add)
        if result.get("flagged_for_revalidation"):
            self._releases.flush_webhooks()
        return result

    def policies(self, session: Session) -> list[dict[str, Any]]:
        return self._ctx.act(session, Permission.READ, "policies", lambda tx, _r: tx.list_policies())

    def policy(self, session: Session, spec: str) -> dict[str, Any]:
        name, version = _policy_spec(spec)

        def show(tx: Tx, _role: str) -> dict[str, Any]:
            record = tx.get_policy(name, version)
            if record is None:
                raise NotFound(f"no policy {spec}")
            parsed = parse_policy(record["text"], f"{name}@{record['version']}")
            return {**record, "parsed": parsed.model_dump(mode="json", exclude_none=True)}

        return self._ctx.act(session, Permission.READ, f"policy:{spec}", show)

    def policy_diff(self, session: Session, a: str, b: str) -> str:
        left, right = self.policy(session, a), self.policy(session, b)
        return "".join(difflib.unified_diff(
            left["text"].splitlines(keepends=True), right["text"].splitlines(keepends=True),
            fromfile=f"{left['name']}@{left['version']}", tofile=f"{right['name']}@{right['version']}"))

    # ------------------------------------------------------------------------------------------- evaluations
    def evaluate(
        self,
        session: Session,
        model_ref: str,
        *,
        data: str,
        policy: str,
        reference: str | None = None,
        label: str | None = None,
        prediction_column: str | None = None,
        score_column: str | None = None,
        positive_label: str | None = None,
        purpose: str = "evaluation",
        kinds: tuple[str, ...] | None = None,
        permission: Permission = Permission.EVALUATE,
        after_store: Callable[[Tx, str, dict[str, Any]], None] | None = None,
        trust_pickle: bool = False,
        engine: Engine | None = None,
    ) -> dict[str, Any]:
        """Evaluate a model version against a policy on a registered dataset; store and ledger the result.

        ``purpose="monitoring"`` (with ``kinds`` restricting the policy to some check kinds) records a monitoring run
        on production data instead; monitoring results never satisfy the promotion gate.

        A pickle/joblib artifact runs only if the acting user has vouched for its exact bytes — earlier, or now with
        ``trust_pickle`` (ledgered before anything is loaded) — and then only in an isolated process
        (:mod:`core.evaluation.sandbox`); the result records who trusted it.

        ``engine``: where the statistics are computed (:class:`core.evaluation.engines.Engine`; DuckDB by default).
        The Spark engine reads Parquet datasets and evaluates predictions already in the data; a model with an
        artifact is refused there before anything is loaded.
        """
        engine = engine or Engine()
        mref = parse_ref(model_ref, "model reference")
        dref = parse_ref(data, "--data dataset reference")
        rref = parse_ref(reference, "--reference dataset reference") if reference else None
        policy_obj, policy_text, policy_sha, registered = self._resolve_policy(session, policy)
        if kinds is not None:
            from core.policy.rules import kind_of

            selected = [c for c in policy_obj.checks if kind_of(c) in kinds]
            if not selected:
                raise BadInput(f"policy {policy_obj.ref} has no {' or '.join(kinds)} checks to run")
            policy_obj = policy_obj.model_copy(update={"checks": selected})

        def gather(tx: Tx, _role: str) -> dict[str, Any]:
            model = tx.get_model(mref.name, mref.version)
            if model is None:
                raise NotFound(f"no model {mref}")
            data_record = tx.get_dataset(dref.name, dref.version)
            if data_record is None:
                raise NotFound(f"no dataset {dref}")
            trained_on = json.loads(model["trained_on"])
            ref_spec = rref or (parse_ref(trained_on[0]) if trained_on else None)
            ref_record = tx.get_dataset(ref_spec.name, ref_spec.version) if ref_spec else None
            if rref is not None and ref_record is None:
                raise NotFound(f"no dataset {rref}")
            card = tx.latest_document("model_card", model_node(mref))
            first = parse_ref(trained_on[0]) if trained_on else None
            training = tx.get_dataset(first.name, first.version) if first else None
            trusts = tx.pickle_trusts(model["artifact_digest"]) if model["trusted_pickle"] else []
            return {"model": model, "data": data_record, "reference": ref_record,
                    "card": json.loads(card["content"]) if card else None,
                    "training_schema": json.loads(training["schema"]) if training else None, "trusts": trusts}

        found = self._ctx.act(session, permission, model_node(mref), gather)
        model_record, data_record, ref_record = found["model"], found["data"], found["reference"]
        if purpose == "evaluation" and not model_record["external"] and (prediction_column or score_column):
            # A gate evaluation of a model with an artifact runs that artifact: predictions written into the data
            # would let anyone "evaluate" a model that never ran (perfect answers in a column).
            given = " and ".join(f"{flag} {col!r}" for flag, col in (("--prediction-column", prediction_column),
                                                                     ("--score-column", score_column)) if col)
            raise BadInput(f"{mref} has an artifact, so its evaluation runs it on {dref}; {given} would take the "
                           "answers from the data instead. Supplied predictions are for external models (registered "
                           "with --external) and for 'countersign monitor' on logged production predictions")
        if engine.name == "spark" and not model_record["external"] and not (prediction_column or score_column):
            raise BadInput(f"{mref} has an artifact: scoring it runs its code, which the Spark engine would do on "
                           "the cluster, outside Countersign's sandbox. Evaluate it with --engine duckdb; the Spark "
                           "engine evaluates predictions already in the data (external models, and 'countersign "
                           "monitor' on logged production predictions)")
        data_path = datasets.check_at_use(data_record, engine.spark_master)
        ref_path = datasets.check_at_use(ref_record, engine.spark_master) if ref_record else None
        loading: dict[str, Any] | None = None
        if model_record["trusted_pickle"]:
            trusts = self._registry.personal_trusts(session, model_record, permission, vouch=trust_pickle,
                                                    trusts=found["trusts"])
            loading = {"format": model_record["artifact_format"], "isolated_process": True,
                       "loaded_by": session.name, "trusted_by": trusts}
        model_obj = None if model_record["external"] else artifacts.load_stored(
            self._ctx.site, model_record, actor_vouched=loading is not None)
        features = [f["name"] for f in json.loads(model_record["features"])]
        label = label or _default_label(data_record)
        evaluator = Evaluator(EvalInputs(
            policy=policy_obj, data_path=data_path, data_format=data_record["format"], label=label,
            data_dialect=datasets.dialect_of(data_record),
            reference_path=ref_path, reference_format=ref_record["format"] if ref_record else None,
            reference_dialect=datasets.dialect_of(ref_record) if ref_record else None,
            model=model_obj, feature_names=features, card=found["card"], training_schema=found["training_schema"],
            prediction_column=prediction_column, score_column=score_column, positive_label=positive_label,
            engine=engine))
        try:
            outcome = evaluator.run()
        finally:
            close = getattr(model_obj, "close", None)
            if close is not None:
                close()
        evaluation_id = f"ev-{uuid.uuid4().hex[:12]}"
        result = {
            "id": evaluation_id,
            "purpose": purpose,
            "policy": {"name": policy_obj.policy, "version": policy_obj.version, "sha256": policy_sha,
                       "registered": registered, "text": policy_text},
            "model": {"ref": str(mref), "artifact_sha256": model_record["artifact_digest"],
                      "external": bool(model_record["external"]),
                      **({"pickle_loading": loading} if loading else {})},
            "data": {"ref": str(dref), "sha256": data_record["digest"], "rows": outcome["rows"]},
            "reference": ({"ref": f"{ref_record['name']}@{ref_record['version']}", "sha256": ref_record["digest"]}
                          if ref_record else None),
            "label": label, "prediction_column": prediction_column, "score_column": score_column,
            "positive_label": positive_label if positive_label is not None else policy_obj.positive_label,
            "checks": outcome["checks"],
            "passed": outcome["passed"],
            "verdict": "pass" if outcome["passed"] else "fail",
            "failed_block_checks": outcome["failed_block_checks"],
            "failed_warn_checks": outcome["failed_warn_checks"],
            "seconds": outcome["seconds"],
            **({"engine": outcome["engine"]} if "engine" in outcome else {}),
        }

        subject_sha = model_record["artifact_digest"] or hashlib.sha256(
            canonical_bytes({"external_model": str(mref)})).hexdigest()
        predicate = {
            "evaluation_id": evaluation_id, "purpose": purpose, "verdict": result["verdict"],
            "policy": {k: result["policy"][k] for k in ("name", "version", "sha256", "registered")},
            "data": result["data"], "reference": result["reference"], "result_sha256": None,
            "checks": [{k: c[k] for k in ("id", "kind", "metric", "value", "operator", "threshold", "severity",
                                          "passed")} for c in result["checks"]],
        }

        def store(tx: Tx, role: str) -> dict[str, Any]:
            predicate["result_sha256"] = digest
            env = attest.envelope(attest.statement(f"model:{mref}", subject_sha, attest.EVALUATION_PREDICATE,
                                                   predicate), session.signer)
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "evaluation.recorded" if purpose == "evaluation" else "monitoring.recorded",
                f"evaluation:{evaluation_id}",
                {"id": evaluation_id, "model": str(mref), "artifact_sha256": model_record["artifact_digest"],
                 "data": {"ref": str(dref), "sha256": data_record["digest"]},
                 "reference": result["reference"],
                 "policy": {"name": policy_obj.policy, "version": policy_obj.version, "sha256": policy_sha,
                            "registered": registered},
                 "verdict": result["verdict"], "failed_block_checks": result["failed_block_checks"],
                 "failed_warn_checks": result["failed_warn_checks"], "result_sha256": digest,
                 "attestation_sha256": hashlib.sha256(base64.b64decode(env["payload"])).hexdigest()}))
            tx.insert_attestation({"id": f"at-{evaluation_id}", "kind": "evaluation", "model_name": mref.name,
                                   "model_version": mref.version, "envelope": json.dumps(env),
                                   "signer": session.name, "seq": row.seq})
            result["evaluated_at"], result["evaluated_by"], result["seq"] = row.ts, session.name, row.seq
            tx.insert_evaluation({
                "id": evaluation_id, "model_name": mref.name, "model_version": mref.version,
                "artifact_digest": model_record["artifact_digest"], "dataset_ref": str(dref),
                "dataset_digest": data_record["digest"],
                "reference_ref": result["reference"]["ref"] if result["reference"] else None,
                "reference_digest": result["reference"]["sha256"] if result["reference"] else None,
                "policy_name": policy_obj.policy, "policy_version": policy_obj.version, "policy_sha256": policy_sha,
                "policy_registered": registered, "passed": result["passed"], "result": stored_json,
                "result_sha256": digest, "evaluated_by": session.name, "evaluated_at": row.ts, "seq": row.seq,
                "purpose": purpose})
            node = f"evaluation:{evaluation_id}"
            tx.upsert_lineage_node({"id": node, "kind": "evaluation", "label": f"{evaluation_id} ({result['verdict']})",
                                    "digest": digest, "attributes": json.dumps(
                                        {"verdict": result["verdict"], "policy": f"{policy_obj.ref}"}), "seq": row.seq})
            tx.insert_lineage_edge(model_node(mref), node, "evaluated" if purpose == "evaluation" else "monitored",
                                   row.seq)
            tx.insert_lineage_edge(dataset_node(dref), node, "evaluated_on", row.seq)
            if registered:
                tx.insert_lineage_edge(policy_node(policy_obj.policy, policy_obj.version), node,
                                       "evaluated_under_policy", row.seq)
            if after_store is not None:
                after_store(tx, role, result)
            return result

        digest = result_digest(result)
        stored_json = json.dumps(result, sort_keys=True)
        return self._ctx.act(session, permission, f"evaluation:{evaluation_id}", store)

    def monitor(self, session: Session, model_ref: str, *, data: str, label: str | None = None,
                prediction_column: str | None = None, score_column: str | None = None,
                reference: str | None = None, trust_pickle: bool = False,
                engine: Engine | None = None) -> dict[str, Any]:
        """Run the governing policy's drift and performance checks on production data; a failing block check flags
        the version ``revalidation_required`` (ledgered)."""
        mref = parse_ref(model_ref, "model reference")
        assignment = self._ctx.act(session, Permission.MONITOR, model_node(mref),
                                   lambda tx, _r: tx.governing_policy(mref.name))
        if assignment is None:
            raise BadInput(f"model {mref.name} has no governing policy to monitor against")

        def flag(tx: Tx, role: str, result: dict[str, Any]) -> None:
            stage = tx.stage_of(mref.name, mref.version)
            if result["failed_block_checks"] and stage is not None and stage["stage"] in ("production", "staging"):
                failed = ", ".join(result["failed_block_checks"])
                seq = self._releases.flag(tx, session, role, mref.name, mref.version,
                                          f"monitoring {result['id']} failed {failed}")
                result["revalidation_required"] = True
                result["revalidation_seq"] = seq

        result = self.evaluate(session, model_ref, data=data, policy=assignment["policy_name"], reference=reference,
                               label=label, prediction_column=prediction_column, score_column=score_column,
                               purpose="monitoring", kinds=("metric", "drift"), permission=Permission.MONITOR,
                               after_store=flag, trust_pickle=trust_pickle, engine=engine)
        if result.get("revalidation_required"):
            self._releases.flush_webhooks()
        return result

    def evaluation(self, session: Session, evaluation_id: str, *, check_digest: bool = True) -> dict[str, Any]:
        """A stored result; ``result_intact`` re-checks it against its ledgered RFC 8785 digest (skippable)."""

        def show(tx: Tx, _role: str) -> dict[str, Any]:
            record = tx.get_evaluation(evaluation_id)
            if record is None:
                raise NotFound(f"no evaluation {evaluation_id}")
            result = json.loads(record["result"])
            intact = result_digest(result) == record["result_sha256"] if check_digest else None
            return {**result, "evaluated_at": record["evaluated_at"], "evaluated_by": record["evaluated_by"],
                    "seq": record["seq"], "result_sha256": record["result_sha256"], "result_intact": intact}

        return self._ctx.act(session, Permission.READ, f"evaluation:{evaluation_id}", show)

    def evaluations(self, session: Session, model_ref: str | None = None) -> list[dict[str, Any]]:
        name = version = None
        if model_ref:
            if "@" in model_ref:
                r = parse_ref(model_ref, "model reference")
                name, version = r.name, r.version
            else:
                name = model_ref
        return self._ctx.act(session, Permission.READ, "evaluations",
                             lambda tx, _r: tx.list_evaluations(name, version))

    def _resolve_policy(self, session: Session, spec: str) -> tuple[Policy, str, str, bool]:
        """A registered ``NAME[@V]`` or a policy file path (its hash and text are recorded)."""
        if os.path.exists(spec) or spec.endswith((".yaml", ".yml")):
            policy, text, sha = load_policy_file(spec)
            return policy, text, sha, False
        record = self.policy(session, spec)
        return parse_policy(record["text"], spec), record["text"], record["sha256"], True


def _policy_spec(spec: str) -> tuple[str, int | None]:
    name, _, version = spec.partition("@")
    if not version:
        return name, None
    if not version.isdigit():
        raise BadInput(f"policy version must be a number: {spec!r}")
    return name, int(version)


def _default_label(record: dict[str, Any]) -> str:
    names = [c["name"] for c in json.loads(record["schema"])]
    for candidate in ("label", "target", "y"):
        if candidate in names:
            return candidate
    raise BadInput(f"which column is the label? pass --label (columns: {', '.join(names)})")
