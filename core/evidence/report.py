"""Regulator export: ``report.pdf``, ``report.html`` (self-contained), an ``evidence/`` bundle and ``verify.py``.

The bundle holds every ledger entry the report relies on with its RFC 6962 inclusion proof against a signed
checkpoint written for the export, the verifier keys, the DSSE/in-toto statements of evaluations and approval
decisions, an optional consistency proof from an earlier checkpoint, and a manifest of every file's SHA-256 that the
exporting user signs (DSSE, in-toto Statement whose subjects are the files). ``verify.py`` — stand-alone, standard
library plus ``cryptography`` — checks it all (see :mod:`core.evidence.bundle_verify`). Generating a report is a ledger
event,
and exports are all or nothing: the ``report.generated`` entry is committed only once every file is written, and a
failed export leaves neither a folder nor an entry (see :meth:`ReportService.report`).

The ``report.generated`` entry commits to the evidence set (``entry_set``: count, seqs and SHA-256 of the
``[seq, leaf hash]`` list of every entry the bundle carries before it; the entries from it to the checkpoint are
all carried anyway), so nobody — the exporter included — can drop an entry from the bundle, or add one, and re-sign
the manifest unnoticed. The bundle's own ``verify.py`` could be replaced along with the bundle: the report tells its
reader to verify with an independent copy and prints the SHA-256 of the one it ships.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.catalog.datasets import parse_ref
from core.display.words import (
    DECISION_WORDS,
    human,
    role_words,
    when,
)
from core.errors import BadInput, CountersignError, NotFound
from core.evidence import attest, bundle_verify
from core.evidence.card_export import NO_ARTIFACT
from core.evidence.regulatory import INDEX
from core.evidence.render import to_html, to_pdf
from core.evidence.report_sections import (
    drift_section,
    evaluations_section,
    explanations_section,
    fairness_section,
    risk_section,
    summary_section,
    verdict_sentence,
    waived_checks,
)
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import Event
from core.storage.contract import Transaction as Tx
from core.tlog.canonical import canonical_bytes
from core.tlog.merkle import MerkleTree
from core.tlog.signed_note import NoteError, open_note, parse_checkpoint, parse_verifier_key

if TYPE_CHECKING:
    from core.api.audit import AuditService
    from core.api.context import Context
    from core.api.inventory import InventoryService
    from core.catalog.lineage import LineageService
    from core.catalog.registry import RegistryService
    from core.policy.governance import GovernanceService
    from core.releases.history import HistoryService
    from core.releases.inbox import InboxService
    from core.releases.waivers import WaiverService


KEY_ACTIONS = ("ledger.initialized", "user.added", "user.enrolled", "user.key_rotated", "user.deactivated")
MANIFEST_PREDICATE = "https://countersign.dev/attestations/report-manifest/v1"


def standalone_verifier() -> str:
    """The source of ``verify.py``: the offline verifier in one file (built by :mod:`core.evidence.standalone`)."""
    from core.evidence.standalone import standalone_verifier as build

    return build()


def _in_range(ts: str | None, since: str | None, until: str | None) -> bool:
    if ts is None:
        return True
    return (since is None or ts >= since) and (until is None or ts <= until)


def _day(text: str | None, end: bool) -> str | None:
    if not text:
        return None
    if "T" in text:
        return text
    return f"{text}T23:59:59.999999Z" if end else f"{text}T00:00:00.000000Z"


class ReportService:
    """``countersign report``: the regulator export (see :mod:`core.evidence.report`)."""

    def __init__(self, ctx: Context, audit: AuditService, inventory: InventoryService, registry: RegistryService,
                 governance: GovernanceService, inbox: InboxService, waivers: WaiverService, history: HistoryService,
                 lineage: LineageService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._inventory = inventory
        self._registry = registry
        self._governance = governance
        self._inbox = inbox
        self._waivers = waivers
        self._history = history
        self._lineage = lineage

    def report(self, session: Session, model: str, *, out: str | Path, since: str | None = None,
               until: str | None = None, since_checkpoint: str | None = None) -> dict[str, Any]:
        """Export the report and its evidence bundle to ``out`` (absent or empty), all or nothing.

        Everything is written into a fresh sibling folder (``.<name>.partial-<random>``) inside one ledger
        transaction: the ``report.generated`` entry and the checkpoint the evidence is proven against are appended
        in it, uncommitted, then every file is rendered and written; only then does the transaction commit and the
        folder get renamed to ``out`` (one atomic rename). If anything fails before the commit (a rendering error,
        a full disk, the ledger append itself), the transaction rolls back and the partial folder is removed: no
        ledger entry, no folder, and the same export can simply be retried.
        """
        name, _, only_version = model.partition("@")
        if only_version:
            parse_ref(model, "model reference")
        since, until = _day(since, False), _day(until, True)
        out_dir = Path(os.path.abspath(out))  # normalised (".", "x/..") but links not followed
        if out_dir == Path.cwd() or out_dir.parent == out_dir:
            raise BadInput(f"--out {out} must name a new or empty folder other than the current one (the export is "
                           "written beside it and then renamed into place)")
        _check_target(out_dir)
        old_checkpoint = None
        if since_checkpoint is not None:
            try:
                old_text = Path(since_checkpoint).read_text(encoding="utf-8")
            except OSError as exc:
                raise BadInput(f"cannot read --since-checkpoint {since_checkpoint}: {exc.strerror}") from None
            old_checkpoint = old_text
        subject = f"model:{model}"

        def export(_tx: Tx) -> tuple[dict[str, Any], Any, dict[str, Any], dict[str, Any], list[str]]:
            facts = self._gather(session, name, only_version or None, since, until)

            def append(tx: Tx, role: str) -> Any:  # noqa: ANN401
                # The entries the bundle will carry before this one, committed to in it (same transaction: the
                # ledger cannot grow in between, and _evidence checks that it selects exactly these).
                head = tx.ledger_head()
                rows = tx.ledger_rows_for(_subjects(facts), KEY_ACTIONS, 0 if head is None else head[0] + 1)
                entry_set = bundle_verify.entry_set_commitment([(r.seq, r.leaf_hash) for r in rows])
                return self._ctx.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                    "report.generated", subject,
                    {"model": model, "versions": facts["versions"], "from": since, "to": until,
                     "evaluations": [e["id"] for e in facts["evaluations"]],
                     "since_checkpoint": bool(since_checkpoint), bundle_verify.ENTRY_SET_FIELD: entry_set}))

            event = self._ctx.act(session, Permission.REPORT, subject, append)
            checkpoint = self._audit.checkpoint(session)
            evidence = self._ctx.act(session, Permission.REPORT, subject,
                                     lambda tx, _r: self._evidence(tx, facts, checkpoint, event))
            consistency = None
            if old_checkpoint is not None:
                consistency = self._consistency(old_checkpoint, evidence["tree"], checkpoint["size"])
            files = self._write_bundle(staging, session, facts, checkpoint, evidence, consistency, event)
            _check_target(out_dir)  # nobody has filled --out meanwhile: the rename below will succeed
            return facts, event, checkpoint, evidence, files  # returning commits: every file is written by now

        with self._ctx.store.held():
            # The permission check on its own first: a refusal is ledgered, which it would not be inside the
            # export's transaction (that rolls back with the error).
            self._ctx.act(session, Permission.REPORT, subject, lambda _tx, role: role)
            created = _make_parents(out_dir.parent)
            try:
                staging = _staging_dir(out_dir)
            except OSError as exc:
                _remove_parents(created)
                raise BadInput(f"cannot write the export next to {out_dir}: {exc.strerror}") from None
            try:
                facts, event, checkpoint, evidence, files = self._ctx.write(export)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                _remove_parents(created)
                raise
        try:
            if out_dir.exists():
                out_dir.rmdir()  # empty (checked in the transaction); rename() cannot replace it everywhere
            staging.rename(out_dir)
        except OSError as exc:
            raise CountersignError(
                f"the export is complete and recorded (ledger entry {event.seq}) but could not be moved to "
                f"{out_dir} ({exc.strerror}); it is in {staging}, which verify.py accepts as it is") from None
        return {"out": str(out), "model": model, "versions": facts["versions"], "files": sorted(files),
                "entries": len(evidence["entries"]), "statements": len(evidence["statements"]),
                "checkpoint_size": checkpoint["size"], "report_seq": event.seq}

    # ------------------------------------------------------------------------------------------- gather
    def _gather(self, session: Session, name: str, version: str | None, since: str | None,
                until: str | None) -> dict[str, Any]:
        inventory = [r for r in self._inventory.inventory(session) if r["name"] == name and (version is None or
                                                                                             r["version"] == version)]
        if not inventory:
            raise NotFound(f"no model {name}{'@' + version if version else ''}")
        versions = [r["version"] for r in inventory]
        models = {v: self._registry.model(session, f"{name}@{v}") for v in versions}
        evaluations = []
        for v in versions:
            for e in reversed(self._governance.evaluations(session, f"{name}@{v}")):
                if _in_range(e["evaluated_at"], since, until):
                    # the bundle proves results through the ledger and the signed statements; no re-canonicalising
                    evaluations.append(self._governance.evaluation(session, e["id"], check_digest=False))
        requests = [r for r in self._inbox.requests(session)
                    if r["model_name"] == name and r["model_version"] in versions
                    and _in_range(r["requested_at"], since, until)]
        waivers = [w for w in self._waivers.waivers(session, name) if w["model_version"] in versions]
        history = self._history.history(session, name)
        timeline = [t for t in history["timeline"] if _in_range(t["ts"], since, until)]
        lineage = {v: self._lineage.lineage(session, f"model:{name}@{v}", "upstream") for v in versions}
        datasets = sorted({n["label"] for g in lineage.values() for n in g["nodes"] if n["kind"] == "dataset"} |
                          {e["data"]["ref"] for e in evaluations})
        return {"name": name, "versions": versions, "inventory": inventory, "models": models,
                "evaluations": evaluations, "requests": requests, "waivers": waivers, "timeline": timeline,
                "lineage": lineage, "datasets": datasets, "since": since, "until": until,
                "generated_by": session.name, "generated_at": datetime.now(UTC).isoformat()}

    def _evidence(self, tx: Tx, facts: dict[str, Any], checkpoint: dict[str, Any], event: Any) -> dict[str, Any]:  # noqa: ANN401
        name = facts["name"]
        size = int(checkpoint["size"])
        rows = tx.ledger_rows_for(_subjects(facts), KEY_ACTIONS, size)
        leaves = [bytes.fromhex(h) for h in tx.ledger_leaf_hashes(0, size)]
        tree = MerkleTree(leaves)
        if tree.root().hex() != checkpoint["root"]:
            raise BadInput("the ledger does not match the checkpoint just written; run 'countersign verify'")
        committed = json.loads(event.payload).get(bundle_verify.ENTRY_SET_FIELD)
        carried = bundle_verify.entry_set_commitment([(r.seq, r.leaf_hash) for r in rows if r.seq < event.seq])
        if committed != carried:
            raise CountersignError(f"the export's entries before its report entry (seq {event.seq}) are not the "
                                   "ones that entry commits to; nothing was exported")
        entries = [{"seq": r.seq, "entry": r.entry, "leaf_hash": r.leaf_hash, "key_id": r.key_id,
                    "signature": r.signature, "tree_size": size,
                    "inclusion_proof": [base64.b64encode(h).decode() for h in tree.inclusion_proof(r.seq, size)]}
                   for r in rows]
        evaluation_ids = {e["id"] for e in facts["evaluations"]}
        request_ids = {r["id"] for r in facts["requests"]}
        statements = []
        for version in facts["versions"]:
            for a in tx.attestations_for(name, version):
                keep = (a["kind"] == "evaluation" and a["id"].removeprefix("at-") in evaluation_ids) or (
                    a["kind"] == "decision" and any(a["id"].startswith(f"at-{rid}-") for rid in request_ids))
                if keep:
                    statements.append(a)
        keys = {"origin": tx.get_setting("origin"), "users": [
            {"owner": k["owner"], "key_id": k["key_id"], "public_key": base64.b64encode(k["public_key"]).decode()}
            for k in tx.public_keys()]}
        return {"entries": entries, "statements": statements, "tree": tree, "keys": keys}

    def _consistency(self, old_note: str, tree: MerkleTree, size: int) -> dict[str, Any]:
        try:
            verifiers = [parse_verifier_key(self._audit.keys()["service"]["verifier_key"])]
            old = parse_checkpoint(open_note(old_note, verifiers)[0])
        except (NoteError, ValueError) as exc:
            raise BadInput(f"--since-checkpoint is not a checkpoint signed by this ledger ({exc})") from None
        if old.size > size or tree.root_at(old.size) != old.root:
            raise BadInput("the ledger is not an append-only extension of --since-checkpoint: run 'countersign verify "
                           "--checkpoint' to find where it differs")
        proof = tree.consistency_proof(old.size, size) if 0 < old.size < size else []
        return {"old_checkpoint": old_note, "from_size": old.size, "to_size": size,
                "proof": [base64.b64encode(h).decode() for h in proof]}

    # ------------------------------------------------------------------------------------------- write
    def _write_bundle(self, out: Path, session: Session, facts: dict[str, Any], checkpoint: dict[str, Any],
                      evidence: dict[str, Any], consistency: dict[str, Any] | None, event: Any) -> list[str]:  # noqa: ANN401
        ev = out / "evidence"
        (ev / "statements").mkdir(parents=True, exist_ok=True)
        (ev / "checkpoint.txt").write_text(checkpoint["note"], encoding="utf-8")
        service = self._audit.keys()["service"]
        (ev / "keys.json").write_text(json.dumps({"service": service, **evidence["keys"]}, indent=2),
                                      encoding="utf-8")
        (ev / "entries.jsonl").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in evidence["entries"]),
                                          encoding="utf-8")
        for statement in evidence["statements"]:
            (ev / "statements" / f"{statement['id']}.json").write_text(statement["envelope"], encoding="utf-8")
        if consistency is not None:
            (ev / "consistency.json").write_text(json.dumps(consistency, indent=2), encoding="utf-8")
        verifier = standalone_verifier().encode("utf-8")
        (out / bundle_verify.BUNDLED_VERIFIER).write_bytes(verifier)  # bytes: the same SHA-256 on every platform
        title = f"Countersign audit report — {facts['name']}"
        blocks = self._blocks(facts, checkpoint, evidence, consistency, event, _sha(verifier))
        (out / "report.html").write_text(to_html(title, blocks, fit=True), encoding="utf-8")
        (out / "report.pdf").write_bytes(to_pdf(title, blocks))
        files = {p.relative_to(out).as_posix(): _sha(p.read_bytes()) for p in sorted(out.rglob("*")) if p.is_file()}
        manifest = attest.statement(f"report:{facts['name']}", _sha(canonical_bytes(files)), MANIFEST_PREDICATE, {
            "files": files, "model": facts["name"], "versions": facts["versions"], "exported_by": session.name,
            "report_seq": event.seq, "checkpoint_size": checkpoint["size"]})
        manifest["subject"] = [{"name": n, "digest": {"sha256": d}} for n, d in files.items()]
        body = canonical_bytes(manifest)
        (ev / "manifest.json").write_bytes(body)
        envelope = attest.envelope(manifest, session.signer)
        (ev / "manifest.dsse.json").write_text(json.dumps(envelope, indent=2), encoding="utf-8")
        return [*files, "evidence/manifest.json", "evidence/manifest.dsse.json"]

    def _blocks(self, facts: dict[str, Any], checkpoint: dict[str, Any], evidence: dict[str, Any],
                consistency: dict[str, Any] | None, event: Any, verifier_sha: str) -> list[tuple[Any, ...]]:  # noqa: ANN401
        """The report as blocks (see :mod:`core.evidence.render`): an executive summary page, then the regulatory index
        (linked to its sections) and the sections it names. Every value in words: yes/no, dashes, lists joined,
        numbers to 4 decimals, times to the second in UTC, operators as "at least"/"at most"."""
        name = facts["name"]
        b: list[tuple[Any, ...]] = [("h1", f"Audit report: {name}"), ("p", (
            f"Generated by {facts['generated_by']} at {when(facts['generated_at'])} (ledger entry {event.seq}). "
            f"Period: {when(facts['since']) if facts['since'] else 'the beginning'} to "
            f"{when(facts['until']) if facts['until'] else 'now'}. Every statement below is backed by a ledger entry "
            "in evidence/entries.jsonl with its inclusion proof. Verify this folder with a verifier you obtained "
            f"independently of it: {bundle_verify.INDEPENDENT_COPY}. The verify.py in this folder travels with the "
            f"export and could have been replaced along with it; its SHA-256 is {verifier_sha}."))]
        b += summary_section(facts)
        b.append(("pagebreak",))
        b += [("h2", "Regulatory index"),
              ("p", "Each section below, and the requirements it provides evidence for. The section names link to "
                    "the sections."),
              ("table", ["Section", "Evidence for"], [[k, "; ".join(v)] for k, v in INDEX.items()], list(INDEX))]
        b += [("h2", "Inventory entry"), ("table", ["Version", "Stage", "Risk tier", "Owner", "Policy",
                                                    "Latest verdict", "Pending requests", "Active waivers",
                                                    "Revalidation required"],
                                          [[r["version"], r["stage"], r["risk_tier"], r["owner"], r["policy"],
                                            verdict_sentence(r["verdict"]), r["pending_requests"], r["active_waivers"],
                                            human(r["revalidation_required"])] for r in facts["inventory"]])]
        b.append(("h2", "Model card"))
        for version, model in facts["models"].items():
            b.append(("h3", f"{name}@{version}"))
            b.append(("table", ["Field", "Value"], [
                ["Estimator", model["estimator"] or "external model"], ["Framework", model["framework"] or "—"],
                ["Artifact SHA-256", model["artifact_digest"] or NO_ARTIFACT],
                ["Trusted pickle", human(bool(model["trusted_pickle"]))],
                ["Code", model["code_ref"] or "—"], ["Trained on", model["trained_on"] or "—"],
                ["Features", human([f["name"] for f in model["features"]])]]
                + [[k.replace("_", " ").capitalize(), human(v)] for k, v in (model["card"] or {}).items()]))
        b.append(("h2", "Lineage and data"))
        nodes = {n["id"]: n for g in facts["lineage"].values() for n in g["nodes"]}
        edges = {(e["from"], e["kind"], e["to"]) for g in facts["lineage"].values() for e in g["edges"]}
        b.append(("table", ["Node", "Kind", "SHA-256"], [[n["id"], n["kind"], human(n["digest"])]
                                                         for n in nodes.values()]))
        b.append(("table", ["From", "Relation", "To"], sorted([f, k.replace("_", " "), t] for f, k, t in edges)))
        waived = waived_checks(facts)
        b += evaluations_section(facts, waived)
        b += fairness_section(facts)
        b += drift_section(facts)
        b += explanations_section(facts)
        b += risk_section(facts)
        b += self._approvals(facts, evidence)
        b += [("h2", "Waivers"), ("table", ["Waiver", "Version", "Check", "Until", "Granted by", "Granted at",
                                            "Justification", "Revoked"],
                                  [[w["id"], w["model_version"], w["check_id"], human(w["until"]), w["granted_by"],
                                    when(w.get("granted_at")),
                                    w["justification"],
                                    f"{when(w['revoked_at'])} by {w.get('revoked_by') or '—'}" if w["revoked_at"]
                                    else "no"] for w in facts["waivers"]])]
        suspensions = [t for t in facts["timeline"] if t["to_stage"] == "suspended"]
        b.append(("h2", "Suspensions"))
        b.append(("table", ["When", "Version", "By", "Reason"],
                  [[when(t["ts"]), t["version"], t["actor"], human(t.get("reason"))] for t in suspensions])
                 if suspensions else ("p", "No version was suspended in the period."))
        b += [("h2", "Production history"), ("table", ["Seq", "When", "Version", "From", "To", "Requested by",
                                                       "Approved by", "Evaluation", "Policy"],
                                             [[t["seq"], when(t["ts"]), t["version"], t["from_stage"], t["to_stage"],
                                               human(t.get("requested_by")),
                                               human([f"{a['name']} ({role_words(a['role'])})"
                                                      for a in t.get("approvers", [])]),
                                               human(t.get("evaluation_id")),
                                               human((t.get("policy") or {}).get("name"))]
                                              for t in facts["timeline"]])]
        statement = (f"This report rests on {len(evidence['entries'])} entries of the append-only Countersign "
                     f"ledger '{evidence['keys']['origin']}', each included (RFC 6962 inclusion proof) in the signed "
                     f"checkpoint below, of tree size {checkpoint['size']} and root {checkpoint['root']}.")
        entry_set = json.loads(event.payload)[bundle_verify.ENTRY_SET_FIELD]
        statement += (f" The signed report entry (seq {event.seq}) commits to the {entry_set['entries']} entries "
                      f"before it that the export carries (SHA-256 {entry_set['sha256']} of their seqs and leaf "
                      "hashes); the entries from it up to the checkpoint are all included. An entry left out of the "
                      "export, or added to it, fails verification.")
        if consistency:
            statement += (f" The ledger at that size is a proven append-only extension of the earlier checkpoint of "
                          f"size {consistency['from_size']} (RFC 9162 consistency proof in evidence/consistency.json).")
        b += [("h2", "Ledger integrity"), ("p", statement), ("pre", checkpoint["note"]),
              ("p", f"Service verifier key: {self._audit.keys()['service']['verifier_key']}")]
        return b

    def _approvals(self, facts: dict[str, Any], evidence: dict[str, Any]) -> list[tuple[Any, ...]]:
        keys = {k["key_id"]: base64.b64decode(k["public_key"]) for k in evidence["keys"]["users"]}
        status = {}
        for s in evidence["statements"]:
            try:
                attest.open_envelope(json.loads(s["envelope"]), keys)
                status[s["id"]] = "signature verified"
            except ValueError as exc:
                status[s["id"]] = f"INVALID: {exc}"
        rows = []
        for r in facts["requests"]:
            promotion = f"{r['model_name']}@{r['model_version']} → {r['target_stage']}"
            for d in r["decisions"]:
                rows.append([r["id"], promotion, d["approver"], role_words(d["role"]), when(d["decided_at"]),
                             DECISION_WORDS.get(d["decision"], d["decision"]), d["comment"],
                             status.get(f"at-{r['id']}-{d['approver']}", "no statement")])
            if not r["decisions"]:
                rows.append([r["id"], promotion, "—", "—", when(r["requested_at"]), f"request {r['status']}",
                             r["reason"], "—"])
        return [("h2", "Approvals"), ("table", ["Request", "Promotion", "Who", "Role", "When", "Decision", "Comment",
                                                "Signature"], rows)
                if rows else ("p", "No promotion request in the period.")]



def export_zip(folder: str | Path, top: str) -> bytes:
    """The export folder as a zip whose members all sit in one top-level folder named after ``top`` (letters,
    digits, ``.``, ``_`` and ``-``; anything else becomes ``-``), so that unpacking it makes one folder."""
    import io
    import zipfile

    root = Path(folder)
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", top).strip(".-") or "export"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, f"{prefix}/{path.relative_to(root).as_posix()}")
    return buffer.getvalue()


def _subjects(facts: dict[str, Any]) -> list[str]:
    """The ledger subjects whose entries the export carries (besides every key event)."""
    name = facts["name"]
    subjects = {f"model:{name}"} | {f"model:{name}@{v}" for v in facts["versions"]}
    subjects |= {f"evaluation:{e['id']}" for e in facts["evaluations"]}
    subjects |= {f"dataset:{d}" for d in facts["datasets"]}
    subjects |= {f"policy:{e['policy']['name']}@{e['policy']['version']}" for e in facts["evaluations"]
                 if e["policy"].get("registered")}
    return sorted(subjects)


def _check_target(out_dir: Path) -> None:
    """``--out`` must be absent or an empty folder."""
    if out_dir.is_symlink():
        raise BadInput(f"--out {out_dir} is a symbolic link: name the folder itself")
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out {out_dir} exists and is not a folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BadInput(f"--out {out_dir} exists and is not empty")


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing ancestors; return those created, deepest first (to undo on failure)."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_parents(missing)
        raise BadInput(f"cannot create {folder}: {exc.strerror}") from None
    return missing


def _remove_parents(created: list[Path]) -> None:
    for folder in created:  # deepest first; only if still empty
        try:
            folder.rmdir()
        except OSError:
            return


def _staging_dir(out_dir: Path) -> Path:
    """A new, empty sibling of ``out_dir`` (same file system, so the final rename is atomic)."""
    while True:
        staging = out_dir.parent / f".{out_dir.name}.partial-{secrets.token_hex(6)}"
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        return staging


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
