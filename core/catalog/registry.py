"""Lineage registry operations: datasets, models, their documentation, and provenance edges.

:class:`RegistryService`, composed into :class:`core.api.countersign.Countersign`. Every registration and edit is
authorised and ledgered in the same transaction as the change; slow work (hashing, profiling, loading artifacts) happens
before the transaction opens, so the database is never held while a large file is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from core.catalog import artifacts, datasets
from core.catalog.datasets import Ref, parse_ref
from core.catalog.documents import Datasheet, ModelCard, as_dict
from core.catalog.hashing import sha256_file
from core.catalog.prepared import ModelOptions, PreparedModel, with_feature_names
from core.errors import BadInput, NotFound
from core.evaluation import spark_tables
from core.identity.roles import Permission
from core.identity.users import Session
from core.inputs.yamlfile import load_model_file
from core.ledger.chain import Event
from core.storage.contract import Transaction as Tx
from core.tlog.canonical import canonical_bytes

if TYPE_CHECKING:
    from core.api.context import Context
    from core.releases.promotions import ReleaseService


T = TypeVar("T")
RISK_TIERS = ("high", "medium", "low")


def _sha(value: Any) -> str:  # noqa: ANN401
    import hashlib

    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def _spark_master(given: str | None) -> str:
    """The Spark master for a table: ``given``, else ``$COUNTERSIGN_SPARK_MASTER``, else ``local[*]`` (checked)."""
    from core.evaluation.engines import Engine

    master = Engine.of("spark", given).spark_master
    assert master is not None  # Engine.of sets it for Spark
    return master


def dataset_node(ref: Ref | str) -> str:
    return f"dataset:{ref}"


def model_node(ref: Ref | str) -> str:
    return f"model:{ref}"


class RegistryService:
    """Datasets, models and their documents (see :mod:`core.catalog.registry`)."""

    def __init__(self, ctx: Context, releases: ReleaseService) -> None:
        self._ctx = ctx
        self._releases = releases

    # ------------------------------------------------------------------------------------------- datasets
    def register_dataset(
        self,
        session: Session,
        path: str | Path,
        *,
        name: str,
        version: str,
        datasheet: str | Path | None = None,
        derived_from: Sequence[str] = (),
        source_uri: str | None = None,
        csv: datasets.CsvDialect | None = None,
        spark_master: str | None = None,
    ) -> dict[str, Any]:
        """Register ``path`` as ``name@version``; the same content again is a no-op, other content is refused.

        ``csv`` overrides DuckDB's dialect sniffing; it is recorded (ledger and dataset) and used at every later read.
        ``path`` ``spark-table:NAME`` registers a table of the Spark catalog by its content digest, read through Spark
        on ``spark_master`` (else ``$COUNTERSIGN_SPARK_MASTER``, else ``local[*]``).
        """
        ref = datasets.validate_name(name, version)
        parents = [parse_ref(r, "--derived-from reference") for r in derived_from]
        sheet = as_dict(load_model_file(Datasheet, datasheet)[0]) if datasheet else None
        options = csv.to_dict() if csv is not None and not csv.empty else None
        table = spark_tables.table_name(str(path))
        if table is None:
            if spark_master is not None:
                raise BadInput("--spark-master is for Spark tables (spark-table:NAME)")
            facts = datasets.inspect(path, csv)
        elif options is not None:
            raise BadInput(f"{path} is a Spark table: delimiter, header and column options apply to CSV files only")
        else:
            facts = spark_tables.inspect(table, _spark_master(spark_master))
        uri = source_uri or (f"{spark_tables.SCHEME}{table}" if table else facts.path.as_uri())

        return self._ctx.act(session, Permission.DATA_REGISTER, dataset_node(ref), lambda tx, role: (
            self.register_dataset_in(tx, session, role, ref, facts, uri=uri, sheet=sheet, parents=parents,
                                     options=options)))

    def register_dataset_in(self, tx: Tx, session: Session, role: str, ref: Ref, facts: datasets.DatasetFacts, *,
                            uri: str, sheet: dict[str, Any] | None = None, parents: Sequence[Ref] = (),
                            options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Register inspected ``facts`` as ``ref`` in the caller's transaction (ledgered there); the same content
        again is a no-op (``created`` false), other content under the reference is refused."""
        existing = tx.get_dataset(ref.name, ref.version)
        if existing is not None:
            if existing["digest"] != facts.digest:
                raise BadInput(
                    f"dataset {ref} is already registered with SHA-256 {existing['digest']}; {facts.path} has "
                    f"{facts.digest}. A reference is immutable: register the new content as a new version"
                )
            stored_sheet = tx.latest_document("datasheet", dataset_node(ref))
            if sheet is not None and (stored_sheet is None or json.loads(stored_sheet["content"]) != sheet):
                raise BadInput(f"dataset {ref} is already registered with another datasheet; change it with "
                               f"'countersign dataset datasheet {ref} FILE' (a ledgered edit)")
            parents_now = sorted(e["src"] for e in tx.lineage_edges_touching([dataset_node(ref)], "upstream")
                                 if e["kind"] == "derived_from")
            if parents and sorted(dataset_node(p) for p in parents) != parents_now:
                raise BadInput(f"dataset {ref} is already registered with other --derived-from parents")
            recorded = datasets.dialect_of(existing)
            if options is not None and options != (recorded.to_dict() if recorded else None):
                raise BadInput(f"dataset {ref} is already registered with other CSV options; register a new "
                               "version to read the same file differently")
            return {**_dataset_summary(existing), "created": False}
        for parent in parents:
            if tx.get_dataset(parent.name, parent.version) is None:
                raise NotFound(f"--derived-from {parent}: no such dataset")
        payload = {
            "name": ref.name, "version": ref.version, "digest": facts.digest, "format": facts.format,
            "rows": facts.row_count, "size_bytes": facts.size_bytes, "source_uri": uri,
            "schema": facts.schema, "profile_sha256": _sha(facts.profile),
            "derived_from": [str(p) for p in parents],
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in facts.files],
            "datasheet_sha256": _sha(sheet) if sheet is not None else None,
            **({"csv": options} if options is not None else {}),
        }
        row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
                                        event=Event("dataset.registered", dataset_node(ref), payload))
        record = {
            "name": ref.name, "version": ref.version, "digest": facts.digest, "format": facts.format,
            "path": str(facts.path), "source_uri": uri, "size_bytes": facts.size_bytes,
            "row_count": facts.row_count, "schema": json.dumps(facts.schema),
            "profile": json.dumps(facts.profile), "files": json.dumps(payload["files"]),
            "registered_by": session.name, "registered_at": row.ts, "registered_seq": row.seq,
            "read_options": json.dumps(options) if options is not None else None,
        }
        tx.insert_dataset(record)
        if sheet is not None:
            _store_document(tx, "datasheet", dataset_node(ref), sheet, session.name, row.ts, row.seq)
        tx.upsert_lineage_node({"id": dataset_node(ref), "kind": "dataset", "label": str(ref),
                                "digest": facts.digest, "attributes": json.dumps({"rows": facts.row_count,
                                                                                  "format": facts.format}),
                                "seq": row.seq})
        for parent in parents:
            tx.insert_lineage_edge(dataset_node(parent), dataset_node(ref), "derived_from", row.seq)
        return {**_dataset_summary(record), "created": True, "seq": row.seq}

    def dataset(self, session: Session, ref: str) -> dict[str, Any]:
        r = parse_ref(ref, "dataset reference")

        def show(tx: Tx, _role: str) -> dict[str, Any]:
            record = tx.get_dataset(r.name, r.version)
            if record is None:
                raise NotFound(f"no dataset {r}")
            history = tx.document_history("datasheet", dataset_node(r))
            return {
                **_dataset_summary(record),
                "path": record["path"], "source_uri": record["source_uri"],
                "schema": json.loads(record["schema"]), "profile": json.loads(record["profile"]),
                "files": json.loads(record["files"]),
                "derived_from": [e["src"].split(":", 1)[1] for e in tx.lineage_edges_touching(
                    [dataset_node(r)], "upstream") if e["kind"] == "derived_from"],
                "datasheet": json.loads(history[-1]["content"]) if history else None,
                "datasheet_history": [_doc_summary(d) for d in history],
            }

        return self._ctx.act(session, Permission.READ, dataset_node(r), show)

    def datasets(self, session: Session) -> list[dict[str, Any]]:
        return self._ctx.act(session, Permission.READ, "datasets",
                             lambda tx, _r: [_dataset_summary(d) for d in tx.list_datasets()])

    def use_dataset(self, session: Session, ref: str, spark_master: str | None = None) -> tuple[dict[str, Any], Path]:
        """The registered record and its file, after re-checking the file's digest (refused if it changed); a Spark
        table is re-digested through Spark on ``spark_master`` (default as for registration)."""
        r = parse_ref(ref, "dataset reference")

        def fetch(tx: Tx, _role: str) -> dict[str, Any]:
            record = tx.get_dataset(r.name, r.version)
            if record is None:
                raise NotFound(f"no dataset {r}")
            return record

        record = self._ctx.act(session, Permission.READ, dataset_node(r), fetch)
        if record["format"] != "spark-table" and spark_master is not None:
            raise BadInput(f"--spark-master is for Spark tables; dataset {r} is {record['format']} (its files are "
                           "re-hashed here)")
        master = _spark_master(spark_master) if record["format"] == "spark-table" else None
        return record, datasets.check_at_use(record, master)

    def edit_datasheet(self, session: Session, ref: str, datasheet: str | Path) -> dict[str, Any]:
        r = parse_ref(ref, "dataset reference")
        sheet = as_dict(load_model_file(Datasheet, datasheet)[0])
        return self._edit_document(session, Permission.DATASHEET_EDIT, "datasheet", dataset_node(r), sheet,
                                   lambda tx: tx.get_dataset(r.name, r.version), f"dataset {r}")

    # ------------------------------------------------------------------------------------------- models
    def register_model(self, session: Session, artifact: str | Path | None, *, name: str, version: str,
                       policy: str | None = None, **options: Unpack[ModelOptions]) -> dict[str, Any]:
        """Register a model version (an artifact, or ``external`` for a model known only by its predictions), under
        the governing ``policy`` if given; ``options`` as :class:`~core.catalog.prepared.ModelOptions`."""
        prepared = self.prepare_model(session, artifact, name=name, version=version, **options)
        return self._ctx.act(session, Permission.MODEL_REGISTER, model_node(prepared.ref),
                             lambda tx, role: self.register_model_in(tx, session, role, prepared, policy=policy))

    def prepare_model(self, session: Session, artifact: str | Path | None, *, name: str, version: str,
                      provenance: dict[str, Any] | None = None, **options: Unpack[ModelOptions]) -> PreparedModel:
        """Everything :meth:`register_model_in` needs, worked out before any transaction: the artifact checked,
        digested and loaded by a safe path (skops, or a pickle in the isolated process behind the acting user's own
        ledgered trust). ``trained_on`` may be empty only with ``provenance`` (an import whose training data is known
        to its source system only by reference)."""
        trained_on, card = options.get("trained_on", ()), options.get("card")
        code_ref, risk_tier = options.get("code_ref"), options.get("risk_tier")
        external, trust_pickle = options.get("external", False), options.get("trust_pickle", False)
        features = options.get("features", ())
        ref = datasets.validate_name(name, version)
        if risk_tier is not None and risk_tier not in RISK_TIERS:
            raise BadInput(f"--risk-tier must be one of {', '.join(RISK_TIERS)}")
        if code_ref is not None and "@" not in code_ref:
            raise BadInput(f"--code-ref {code_ref!r}: expected URL@COMMIT")
        training = [parse_ref(t, "--trained-on reference") for t in trained_on]
        if not training and provenance is None:
            raise BadInput("a model needs at least one --trained-on DATASET_REF")
        card_doc = as_dict(load_model_file(ModelCard, card)[0]) if card else None
        if external:
            if artifact is not None:
                raise BadInput("--external models have no artifact; drop the ARTIFACT argument")
            info: dict[str, Any] = {"framework": None, "estimator": None, "hyperparameters": {},
                                    "feature_names": list(features)}
            return PreparedModel(ref, True, None, None, None, info, card_doc, training, code_ref, risk_tier, False,
                                 provenance)
        if artifact is None:
            raise BadInput("ARTIFACT is required (or pass --external)")
        source = Path(artifact).expanduser()
        if not source.is_file():
            raise BadInput(f"no such artifact file: {source}")
        fmt = artifacts.detect_format(source)
        # Authorise before anything is loaded: a trusted pickle runs code when it is read.
        self._ctx.act(session, Permission.MODEL_REGISTER, model_node(ref), lambda _tx, _role: None)
        if fmt != "skops" and not trust_pickle:
            raise BadInput(
                f"{source} is a {fmt} file, which runs code when loaded: refused (nothing was loaded or "
                "written). Save the model with skops (skops.io.dump), or, if you trust this exact file, pass "
                "--trust-pickle (the trust is recorded in the ledger)")
        digest = sha256_file(source)
        if fmt != "skops":
            # The trust is recorded before the file is unpickled: whatever the file does, the ledger says who
            # vouched for exactly these bytes.
            self._vouch_for_pickle(session, str(ref), digest, fmt, Permission.MODEL_REGISTER)
        model = artifacts.load_artifact(source, fmt, trusted_pickle=trust_pickle)
        if fmt == "skops":
            info = artifacts.describe(model)
        else:  # unpickled only in the isolated process, which described the real object
            info = model.description
            model.close()
        info = with_feature_names(info, features, source)
        return PreparedModel(ref, False, digest, fmt, source, info, card_doc, training, code_ref, risk_tier,
                             bool(trust_pickle and fmt != "skops"), provenance)

    def register_model_in(self, tx: Tx, session: Session, role: str, prepared: PreparedModel, *,
                          policy: str | None = None, upstream: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """Register a prepared model in the caller's transaction (ledgered there), with lineage edges from
        ``upstream`` ``(node id, edge kind)`` pairs besides its ``trained_on`` datasets. The same artifact again is
        a no-op (``created`` false); other content under the reference is refused."""
        p = prepared
        ref, digest, fmt, info, card_doc = p.ref, p.digest, p.fmt, p.info, p.card_doc
        existing = tx.get_model(ref.name, ref.version)
        if existing is not None:
            if existing["artifact_digest"] == digest and bool(existing["external"]) == p.external:
                stored_card = tx.latest_document("model_card", model_node(ref))
                if card_doc is not None and (stored_card is None or json.loads(stored_card["content"]) != card_doc):
                    raise BadInput(f"model {ref} is already registered with another card; change it with "
                                   f"'countersign model card {ref} FILE' (a ledgered edit)")
                return {**_model_summary(existing), "created": False}
            raise BadInput(f"model {ref} is already registered (artifact SHA-256 {existing['artifact_digest']}); "
                           "a reference is immutable: register a new version")
        schemas: dict[str, str] = {}
        for t in p.training:
            record = tx.get_dataset(t.name, t.version)
            if record is None:
                raise NotFound(f"--trained-on {t}: no such dataset")
            for column in json.loads(record["schema"]):
                schemas.setdefault(column["name"], column["type"])
        feature_list = [{"name": f, "type": schemas.get(f, "unknown")} for f in info["feature_names"]]
        stored = (artifacts.store_copy(self._ctx.site, p.source, digest, fmt)
                  if p.source is not None and digest and fmt else None)
        payload = {
            "name": ref.name, "version": ref.version, "external": p.external, "artifact_sha256": digest,
            "artifact_format": fmt, "framework": info["framework"], "estimator": info["estimator"],
            "hyperparameters_sha256": _sha(info["hyperparameters"]), "features": feature_list,
            "trained_on": [str(t) for t in p.training], "code_ref": p.code_ref, "risk_tier": p.risk_tier,
            "card_sha256": _sha(card_doc) if card_doc is not None else None,
            "trusted_pickle": p.trusted_pickle,
            **({"imported_from": p.provenance} if p.provenance is not None else {}),
        }
        row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role,
                                        event=Event("model.registered", model_node(ref), payload))
        record = {
            "name": ref.name, "version": ref.version, "external": p.external, "artifact_digest": digest,
            "artifact_format": fmt, "artifact_file": stored.name if stored else None,
            "trusted_pickle": p.trusted_pickle, "framework": info["framework"],
            "estimator": info["estimator"], "hyperparameters": json.dumps(info["hyperparameters"]),
            "features": json.dumps(feature_list), "trained_on": json.dumps([str(t) for t in p.training]),
            "code_ref": p.code_ref, "risk_tier": p.risk_tier, "owner": session.name, "registered_at": row.ts,
            "registered_seq": row.seq,
        }
        tx.insert_model(record)
        if card_doc is not None:
            _store_document(tx, "model_card", model_node(ref), card_doc, session.name, row.ts, row.seq)
        tx.upsert_lineage_node({"id": model_node(ref), "kind": "model", "label": str(ref),
                                "digest": digest or _sha(payload), "attributes": json.dumps(
                                    {"estimator": info["estimator"], "external": p.external}), "seq": row.seq})
        for t in p.training:
            tx.insert_lineage_edge(dataset_node(t), model_node(ref), "trained_on", row.seq)
        for node, kind in upstream:
            tx.insert_lineage_edge(node, model_node(ref), kind, row.seq)
        if policy is not None:
            self._releases.assign_in(tx, session, role, ref.name, policy, override=False)
        return {**_model_summary(record), "created": True, "seq": row.seq, "policy": policy}

    def model(self, session: Session, ref: str) -> dict[str, Any]:
        """One model version: its summary, framework, hyperparameters, features, registered training data
        (``trained_on``, dataset references), card and card history, and ``upstream`` — the lineage edges into it
        beyond its registered training data, ``[{"kind", "node", "label"}]`` in ledger order (e.g. ``imported_as``
        from an ``mlflow-model-version:`` node, ``trained_on`` from a dataset known only by reference).
        :class:`NotFound` for an unknown version."""
        r = parse_ref(ref, "model reference")

        def show(tx: Tx, _role: str) -> dict[str, Any]:
            record = tx.get_model(r.name, r.version)
            if record is None:
                raise NotFound(f"no model {r}")
            history = tx.document_history("model_card", model_node(r))
            registered = {dataset_node(d) for d in json.loads(record["trained_on"])}
            edges = [e for e in tx.lineage_edges_touching([model_node(r)], "upstream") if e["src"] not in registered]
            labels = {n["id"]: n["label"] for n in tx.lineage_nodes([e["src"] for e in edges])}
            upstream = [{"kind": e["kind"], "node": e["src"], "label": labels.get(e["src"]) or e["src"]}
                        for e in edges]
            return {
                **_model_summary(record),
                "framework": record["framework"], "hyperparameters": json.loads(record["hyperparameters"]),
                "features": json.loads(record["features"]), "trained_on": json.loads(record["trained_on"]),
                "code_ref": record["code_ref"], "registered_at": record["registered_at"],
                "card": json.loads(history[-1]["content"]) if history else None,
                "card_history": [_doc_summary(d) for d in history],
                "upstream": upstream,  # lineage into the version beyond its registered training data
            }

        return self._ctx.act(session, Permission.READ, model_node(r), show)

    def models(self, session: Session) -> list[dict[str, Any]]:
        return self._ctx.act(session, Permission.READ, "models",
                             lambda tx, _r: [_model_summary(m) for m in tx.list_models()])

    def load_model(self, session: Session, ref: str) -> tuple[dict[str, Any], Any]:
        """A registered model object, loaded safely after re-checking the stored artifact's digest."""
        r = parse_ref(ref, "model reference")

        def fetch(tx: Tx, _role: str) -> dict[str, Any]:
            record = tx.get_model(r.name, r.version)
            if record is None:
                raise NotFound(f"no model {r}")
            return record

        record = self._ctx.act(session, Permission.READ, model_node(r), fetch)
        vouched = False  # only the acting user's own trust lets a pickle run for them (refused otherwise)
        if record["trusted_pickle"]:
            trusts = self.personal_trusts(session, record, Permission.READ, vouch=False)
            vouched = session.name in {t["name"] for t in trusts}
        return record, artifacts.load_stored(self._ctx.site, record, actor_vouched=vouched)

    def vouch_for_code(self, session: Session, ref: str, digest: str, what: str) -> dict[str, Any]:
        """Ledger the acting user's trust in code they register but Countersign never runs (``model.pickle_trusted``
        over ``digest``, ``what`` naming the kind: say a model another system serves by unpickling)."""
        return self._vouch_for_pickle(session, ref, digest, what, Permission.MODEL_REGISTER)

    def _vouch_for_pickle(self, session: Session, ref: str, digest: str, fmt: str,
                          permission: Permission) -> dict[str, Any]:
        """Ledger ``model.pickle_trusted``: the acting user vouches for running these exact bytes; returns the trust."""
        row = self._ctx.act(session, permission, model_node(ref), lambda tx, role: self._ctx.ledger().append(
            tx, signer=session.signer, actor=session.name, role=role, event=Event(
                "model.pickle_trusted", model_node(ref),
                {"artifact_sha256": digest, "format": fmt,
                 "statement": f"{session.name} trusts this {fmt} file to run code when loaded"})))
        return {"seq": row.seq, "ts": row.ts, "name": session.name}

    def personal_trusts(self, session: Session, record: dict[str, Any], permission: Permission, *, vouch: bool,
                        trusts: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Everyone who vouched for this pickle's bytes, the acting user included — or :class:`BadInput`.

        Trust in code is personal: another person's trust never lets a pickle run for this user. With ``vouch`` the
        acting user's own trust is ledgered now (before anything is loaded) if it is not there yet.
        """
        ref = f"{record['name']}@{record['version']}"
        if trusts is None:
            trusts = self._ctx.act(session, Permission.READ, model_node(ref),
                                   lambda tx, _role: tx.pickle_trusts(record["artifact_digest"]))
        if session.name in {t["name"] for t in trusts}:
            return trusts
        if not vouch:
            raise BadInput(pickle_trust_refusal(ref, record, trusts, session.name))
        return [*trusts, self._vouch_for_pickle(session, ref, record["artifact_digest"], record["artifact_format"],
                                                permission)]

    def edit_card(self, session: Session, ref: str, card: str | Path) -> dict[str, Any]:
        r = parse_ref(ref, "model reference")
        doc = as_dict(load_model_file(ModelCard, card)[0])
        return self._edit_document(session, Permission.CARD_EDIT, "model_card", model_node(r), doc,
                                   lambda tx: tx.get_model(r.name, r.version), f"model {r}")

    # ------------------------------------------------------------------------------------------- documents
    def _edit_document(
        self, session: Session, permission: Permission, kind: str, subject: str, content: dict[str, Any],
        lookup: Callable[[Tx], Any], what: str,
    ) -> dict[str, Any]:
        def edit(tx: Tx, role: str) -> dict[str, Any]:
            if lookup(tx) is None:
                raise NotFound(f"no {what}")
            previous = tx.latest_document(kind, subject)
            old = json.loads(previous["content"]) if previous else {}
            if old == content:
                raise BadInput(f"the {kind.replace('_', ' ')} of {what} already has exactly this content")
            changed = sorted(k for k in set(old) | set(content) if old.get(k) != content.get(k))
            revision = (previous["revision"] + 1) if previous else 1
            row = self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                f"{subject.split(':')[0]}.{kind}_edited", subject,
                {"revision": revision, "sha256": _sha(content), "previous_sha256": previous["digest"] if previous
                 else None, "sections_changed": changed}))
            _store_document(tx, kind, subject, content, session.name, row.ts, row.seq, revision)
            return {"subject": subject, "kind": kind, "revision": revision, "sections_changed": changed,
                    "seq": row.seq}

        return self._ctx.act(session, permission, subject, edit)


def _store_document(tx: Tx, kind: str, subject: str, content: dict[str, Any], author: str, ts: str, seq: int,
                    revision: int = 1) -> None:
    tx.insert_document({"kind": kind, "subject": subject, "revision": revision,
                        "content": json.dumps(content, sort_keys=True), "digest": _sha(content), "author": author,
                        "created_at": ts, "seq": seq})


def _doc_summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {"revision": doc["revision"], "sha256": doc["digest"], "author": doc["author"],
            "created_at": doc["created_at"], "seq": doc["seq"]}


def _dataset_summary(record: dict[str, Any]) -> dict[str, Any]:
    return {"ref": f"{record['name']}@{record['version']}", "name": record["name"], "version": record["version"],
            "digest": record["digest"], "format": record["format"], "rows": record["row_count"],
            "size_bytes": record["size_bytes"], "registered_by": record["registered_by"],
            "registered_at": record["registered_at"],
            **({"csv": json.loads(record["read_options"])} if record.get("read_options") else {})}


def _model_summary(record: dict[str, Any]) -> dict[str, Any]:
    return {"ref": f"{record['name']}@{record['version']}", "name": record["name"], "version": record["version"],
            "external": bool(record["external"]), "artifact_digest": record["artifact_digest"],
            "estimator": record["estimator"], "risk_tier": record["risk_tier"], "owner": record["owner"],
            "trusted_pickle": bool(record["trusted_pickle"]),
            "registered_at": record["registered_at"]}


def pickle_trust_refusal(ref: str, record: dict[str, Any], trusted: list[dict[str, Any]], name: str) -> str:
    """Why ``name`` may not cause this pickle to run: trust in code is personal."""
    by = ", ".join(f"{t['name']} (seq {t['seq']})" for t in trusted) or "nobody"
    return (f"model {ref} is a {record['artifact_format']} file (sha256 {record['artifact_digest']}), which runs code "
            f"when loaded; it was trusted by {by}, not by {name}. Trust in code is personal: pass --trust-pickle to "
            "vouch for these exact bytes yourself (recorded in the ledger; the file then runs only in an isolated "
            "process without your credentials), or ask for a skops artifact")
