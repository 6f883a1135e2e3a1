"""Regulator export: ``report.pdf``, ``report.html`` (self-contained), an ``evidence/`` bundle and ``verify.py``.

The bundle holds every ledger entry the report relies on with its RFC 6962 inclusion proof against a signed
checkpoint written for the export, the verifier keys, the DSSE/in-toto statements of evaluations and approval
decisions, an optional consistency proof from an earlier checkpoint, and a manifest of every file's SHA-256 that the
exporting user signs (DSSE, in-toto Statement whose subjects are the files). ``verify.py`` — stand-alone, standard
library plus ``cryptography`` — checks it all (see :mod:`core.evidence.bundle_verify`). Generating a report is a ledger
event,
and exports are all or nothing: the ``report.generated`` entry is committed only once every file is written, and a
failed export leaves neither a folder nor an entry (see :meth:`ReportAPI.report`).

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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.catalog.datasets import parse_ref
from core.display.words import (
    DECISION_WORDS,
    OPERATOR_WORDS,
    SEVERITY_WORDS,
    STAGE_WORDS,
    human,
    number,
    role_words,
    rule_words,
    when,
)
from core.errors import BadInput, CountersignError, NotFound
from core.evaluation.explanations import check_value, confusion_cells, metric_label, roc_points, rule_text
from core.evaluation.metrics import disparity, fairness_definition
from core.evidence import attest, bundle_verify
from core.evidence.card_export import NO_ARTIFACT
from core.evidence.regulatory import INDEX
from core.evidence.render import bar_chart, roc_chart, to_html, to_pdf
from core.identity.roles import Permission
from core.identity.users import Session
from core.ledger.chain import Event, Ledger
from core.storage.duckdb_store import Tx
from core.tlog.canonical import canonical_bytes
from core.tlog.merkle import MerkleTree
from core.tlog.signed_note import NoteError, open_note, parse_checkpoint, parse_verifier_key

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


class ReportAPI:
    """``countersign report`` (mixed into :class:`core.api.countersign.Countersign`)."""

    path: Path
    _act: Callable[..., Any]
    ledger: Callable[[], Ledger]
    store: Any

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
                return self.ledger().append(tx, signer=session.signer, actor=session.name, role=role, event=Event(
                    "report.generated", subject,
                    {"model": model, "versions": facts["versions"], "from": since, "to": until,
                     "evaluations": [e["id"] for e in facts["evaluations"]],
                     "since_checkpoint": bool(since_checkpoint), bundle_verify.ENTRY_SET_FIELD: entry_set}))

            event = self._act(session, Permission.REPORT, subject, append)
            checkpoint = self.checkpoint(session)
            evidence = self._act(session, Permission.REPORT, subject,
                                 lambda tx, _r: self._evidence(tx, facts, checkpoint, event))
            consistency = None
            if old_checkpoint is not None:
                consistency = self._consistency(old_checkpoint, evidence["tree"], checkpoint["size"])
            files = self._write_bundle(staging, session, facts, checkpoint, evidence, consistency, event)
            _check_target(out_dir)  # nobody has filled --out meanwhile: the rename below will succeed
            return facts, event, checkpoint, evidence, files  # returning commits: every file is written by now

        with self.store.held():
            # The permission check on its own first: a refusal is ledgered, which it would not be inside the
            # export's transaction (that rolls back with the error).
            self._act(session, Permission.REPORT, subject, lambda _tx, role: role)
            created = _make_parents(out_dir.parent)
            try:
                staging = _staging_dir(out_dir)
            except OSError as exc:
                _remove_parents(created)
                raise BadInput(f"cannot write the export next to {out_dir}: {exc.strerror}") from None
            try:
                facts, event, checkpoint, evidence, files = self._write(export)
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
        inventory = [r for r in self.inventory(session) if r["name"] == name and (version is None or
                                                                                 r["version"] == version)]
        if not inventory:
            raise NotFound(f"no model {name}{'@' + version if version else ''}")
        versions = [r["version"] for r in inventory]
        models = {v: self.model(session, f"{name}@{v}") for v in versions}
        evaluations = []
        for v in versions:
            for e in reversed(self.evaluations(session, f"{name}@{v}")):
                if _in_range(e["evaluated_at"], since, until):
                    # the bundle proves results through the ledger and the signed statements; no re-canonicalising
                    evaluations.append(self.evaluation(session, e["id"], check_digest=False))
        requests = [r for r in self.requests(session) if r["model_name"] == name and r["model_version"] in versions
                    and _in_range(r["requested_at"], since, until)]
        waivers = [w for w in self.waivers(session, name) if w["model_version"] in versions]
        history = self.history(session, name)
        timeline = [t for t in history["timeline"] if _in_range(t["ts"], since, until)]
        lineage = {v: self.lineage(session, f"model:{name}@{v}", "upstream") for v in versions}
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
            verifiers = [parse_verifier_key(self.keys()["service"]["verifier_key"])]
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
        service = self.keys()["service"]
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
        b += _summary(facts)
        b.append(("pagebreak",))
        b += [("h2", "Regulatory index"),
              ("p", "Each section below, and the requirements it provides evidence for. The section names link to "
                    "the sections."),
              ("table", ["Section", "Evidence for"], [[k, "; ".join(v)] for k, v in INDEX.items()], list(INDEX))]
        b += [("h2", "Inventory entry"), ("table", ["Version", "Stage", "Risk tier", "Owner", "Policy",
                                                    "Latest verdict", "Pending requests", "Active waivers",
                                                    "Revalidation required"],
                                          [[r["version"], r["stage"], r["risk_tier"], r["owner"], r["policy"],
                                            _verdict(r["verdict"]), r["pending_requests"], r["active_waivers"],
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
        waived = _waived(facts)
        b += _evaluations(facts, waived)
        b += _fairness(facts)
        b += _drift(facts)
        b += _explanations(facts)
        b += _risk(facts)
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
              ("p", f"Service verifier key: {self.keys()['service']['verifier_key']}")]
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



def _sentence(text: object) -> str:
    """User text ending a sentence: one full stop, not two."""
    shown = human(text).rstrip()
    return shown if shown.endswith((".", "!", "?")) else shown + "."


def _verdict(verdict: str | None) -> str:
    return {"pass": "pass", "fail": "FAIL"}.get(verdict or "", verdict or "not evaluated")


def _check_value(check: dict[str, Any]) -> str:
    """A check's measured value in words (the documentation check names what is missing)."""
    if check["kind"] == "documentation":
        details = check.get("details") or {}
        if not details.get("card_present", True):
            return "no model card"
        missing = details.get("missing") or []
        if missing:
            return "missing: " + human([str(m).replace("_", " ") for m in missing])
        return f"all {len(details.get('required') or [])} required sections present"
    return check_value(check)  # the model card's wording: forbidden features ranked, columns drifted, "undefined"


def _rule(check: dict[str, Any]) -> str:
    """A check's rule in words: "at least 0.8000" for a number, else what it must do ("must rank none of sex, race
    among the 5 most important features") — never an operator id or a Python list."""
    if check.get("operator") in OPERATOR_WORDS:
        return rule_words(check["operator"], check["threshold"])
    return f"must {rule_text(check)}"


def _result(check: dict[str, Any], waiver: dict[str, Any] | None) -> str:
    if check["passed"]:
        return "pass"
    if waiver is not None:
        return f"FAIL, waived ({waiver['id']} until {waiver['until']})"
    return "FAIL"


def _waived(facts: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(version, check id) -> its active waiver."""
    return {(w["model_version"], w["check_id"]): w for w in facts["waivers"] if w.get("active", not w["revoked_at"])}


def _latest(facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Version -> its latest evaluation in the period: under the policy that governs it when there is one (the gate
    judges that policy), else under any policy (the summary then says which)."""
    governing = {r["version"]: r.get("policy") for r in facts["inventory"]}
    latest: dict[str, dict[str, Any]] = {}
    for e in sorted(facts["evaluations"], key=lambda e: e["evaluated_at"]):
        version = e["model"]["ref"].rpartition("@")[2]
        held = e["policy"]["name"] == governing.get(version)
        if version not in latest or held or latest[version]["policy"]["name"] != governing.get(version):
            latest[version] = e
    return latest


def _summary(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The executive summary: one table, then each version in plain sentences."""
    name = facts["name"]
    latest, waived = _latest(facts), _waived(facts)
    rows, text = [], []
    for r in facts["inventory"]:
        version = r["version"]
        ev = latest.get(version)
        failing = [c for c in ev["checks"] if not c["passed"]] if ev else []
        pending = [q for q in facts["requests"] if q["model_version"] == version and q["status"] == "pending"]
        suspensions = [t for t in facts["timeline"] if t["version"] == version and t["to_stage"] == "suspended"]
        changes = [t for t in facts["timeline"] if t["version"] == version and t["to_stage"] != "suspended"]
        rows.append([version, r["stage"], _verdict(r["verdict"]),
                     human([c["id"] for c in failing if (version, c["id"]) not in waived]),
                     human([c["id"] for c in failing if (version, c["id"]) in waived]),
                     human([f"{q['id']} to {q['target_stage']}" for q in pending]),
                     human([f"{when(t['ts'])}" for t in suspensions])])
        stage = STAGE_WORDS.get(r["stage"], f"is in {r['stage']}")
        lines = [f"{name}@{version} {stage}; risk tier {r['risk_tier']}, owned by {r['owner']}, held to "
                 f"policy {r['policy']}."]
        if ev is None:
            lines.append("It has no evaluation in the period" + (
                f" (its latest, {r['latest_evaluation']}, is outside it: {_verdict(r['verdict'])})."
                if r.get("latest_evaluation") else "."))
        else:
            lines.append(f"Its latest evaluation, {ev['id']} on {when(ev['evaluated_at'])} by {ev['evaluated_by']} "
                         f"on {ev['data']['ref']} under policy {ev['policy']['name']}@{ev['policy']['version']}, "
                         f"gives the verdict {_verdict(ev['verdict'])}."
                         + (f" That policy does not govern it ({r['policy']} does, with no evaluation in the period): "
                            "the gate judges the governing policy." if r.get("policy") and
                            ev["policy"]["name"] != r["policy"] else ""))
            if not failing:
                lines.append(f"All {len(ev['checks'])} checks pass.")
            for c in failing:
                waiver = waived.get((version, c["id"]))
                lines.append(f"Check {c['id']} fails: {metric_label(c['metric'])} is {_check_value(c)}, the rule "
                             f"is {_rule(c)} "
                             f"({SEVERITY_WORDS.get(c['severity'], c['severity'])})"
                             + (f"; waived by {waiver['granted_by']} until {waiver['until']} ({waiver['id']}): "
                                f"{_sentence(waiver['justification'])[:-1]}" if waiver else "; not waived") + ".")
        for q in pending:
            decided = "; ".join(f"{DECISION_WORDS.get(d['decision'], d['decision'])} by {d['approver']} "
                                f"({role_words(d['role'])})" for d in q["decisions"]) or "no decision yet"
            still = human([role_words(x) for x in q.get("open_roles") or []])
            lines.append(f"Request {q['id']} to move it from {q['from_stage']} to {q['target_stage']}, by "
                         f"{q['requested_by']} on {when(q['requested_at'])}, is pending: {decided}; still to "
                         f"decide: {still}.")
        for t in sorted(suspensions + changes, key=lambda t: t["seq"]):
            if t["to_stage"] == "suspended":
                lines.append(f"Suspended on {when(t['ts'])} by {t['actor']}: {_sentence(t.get('reason'))}")
            elif not t.get("approvers"):
                lines.append(f"Moved from {t['from_stage']} to {t['to_stage']} on {when(t['ts'])} by {t['actor']}: "
                             f"{_sentence(t.get('reason'))}")
            else:
                who = " and ".join(f"{a['name']} ({role_words(a['role'])})" for a in t["approvers"])
                lines.append(f"Moved from {t['from_stage']} to {t['to_stage']} on {when(t['ts'])}, approved by "
                             f"{who}.")
        text.append((version, lines))
    blocks: list[tuple[Any, ...]] = [
        ("h2", "Executive summary"),
        ("p", f"{len(facts['inventory'])} version(s) of {name}; {len(facts['evaluations'])} evaluation(s), "
              f"{len(facts['requests'])} promotion request(s) and {len(facts['timeline'])} stage change(s) in the "
              "period. Details follow in the sections named in the regulatory index."),
        ("table", ["Version", "Stage", "Latest verdict", "Failing checks", "Waived checks", "Pending requests",
                   "Suspended"], rows)]
    for version, lines in text:
        blocks += [("h3", f"Version {version}"), ("p", " ".join(lines))]
    return blocks


def _evaluations(facts: dict[str, Any], waived: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[Any, ...]]:
    b: list[tuple[Any, ...]] = [("h2", "Evaluations")]
    if not facts["evaluations"]:
        b.append(("p", "No evaluation in the period."))
    for result in facts["evaluations"]:
        policy, version = result["policy"], result["model"]["ref"].rpartition("@")[2]
        b.append(("h3", f"{result['id']} — {result['model']['ref']} — {_verdict(result['verdict'])}"))
        b.append(("p", f"{result.get('purpose', 'evaluation').capitalize()} by {result['evaluated_by']} at "
                       f"{when(result['evaluated_at'])} on {result['data']['ref']} (SHA-256 "
                       f"{result['data']['sha256']}, {result['data']['rows']:,} rows) under policy "
                       f"{policy['name']}@{policy['version']} (SHA-256 {policy['sha256']}; its text is under Risk "
                       f"management). Result SHA-256 {result['result_sha256']}."))
        b.append(("table", ["Check", "Kind", "Metric", "Value", "Rule", "Severity", "Result", "References"],
                  [[c["id"], c["kind"], metric_label(c["metric"]), _check_value(c), _rule(c),
                    SEVERITY_WORDS.get(c["severity"], c["severity"]), _result(c, waived.get((version, c["id"]))),
                    human(c["references"])] for c in result["checks"]]))
        b += _curves(result)
    return b


def _curves(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ROC curve and the confusion matrix an evaluation stored, as the model card shows them."""
    b: list[tuple[Any, ...]] = []
    ref = result["model"]["ref"]
    for c in result["checks"]:
        details = c.get("details") or {}
        points = roc_points(details)
        if points and c.get("metric") == "roc_auc":
            chart = roc_chart([p["false-positive rate"] for p in points], [p["true-positive rate"] for p in points],
                              f"{ref}: ROC curve")
            b.append(("image", chart, f"{ref} ({result['id']}): ROC curve from {len(points)} points; ROC AUC "
                                      f"{check_value(c)}, rule {_rule(c)}. The dotted diagonal is a model without "
                                      "skill."))
    cells = next((cells for c in result["checks"] if (cells := confusion_cells(c.get("details") or {}))), [])
    if cells:
        b.append(("table", ["Actual class", "Predicted class", "Rows"],
                  [[cell["actual"], cell["predicted"], f"{cell['rows']:,}"] for cell in cells]))
    return b


def rate_limit(rates: list[float], kind: str, operator: str | None,
               threshold: object) -> tuple[float, str] | None:
    """The lowest group rate a fairness rule allows, given the groups' rates, and how it is reached.

    A difference rule "at most t" lets no group fall more than t below the highest rate; a ratio rule "at least t"
    lets none fall below t times the highest. Other rules have no such per-group line (``None``)."""
    if not rates or not isinstance(threshold, int | float) or isinstance(threshold, bool):
        return None
    top = max(rates)
    if kind == "difference" and operator in ("lte", "lt"):
        if top - threshold <= 0:  # no rate is below 0: the rule allows every rate, there is no line to draw
            return None
        return top - threshold, f"highest rate {number(top)} − {number(threshold)}"
    if kind == "ratio" and operator in ("gte", "gt"):
        return top * threshold, f"highest rate {number(top)} × {number(threshold)}"
    return None


def _fairness(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per fairness check: every rate the metric compares (both for equalized odds), per group, charted with the
    lowest rate the rule allows, and which rate binds (sets the metric's value)."""
    b: list[tuple[Any, ...]] = [("h2", "Fairness")]
    found = False
    for result in facts["evaluations"]:
        for c in result["checks"]:
            d = c.get("details") or {}
            if c["kind"] != "fairness" or not d.get("groups"):
                continue
            found = True
            rates, kind = fairness_definition(c["metric"])
            rates = tuple(d.get("rates") or rates)
            groups = d["groups"]
            included = {g: v for g, v in groups.items() if v.get("included", True)}
            parts = {r: disparity(vals, kind) for r in rates
                     if (vals := [v[r] for v in included.values() if isinstance(v.get(r), int | float)])}
            binding = (max if kind == "difference" else min)(parts, key=lambda r: parts[r]) if parts else None
            b.append(("h3", f"{c['id']} — {result['model']['ref']} ({result['id']})"))
            rule = rule_words(c["operator"], c["threshold"])
            named = " and ".join(r.replace("_", " ") for r in rates)
            if len(rates) == 1:
                measure = (f"the gap between the highest and the lowest group's {named}" if kind == "difference"
                           else f"the lowest group's {named} divided by the highest group's")
            else:
                measure = (f"the larger of the gaps between the highest and the lowest group in {named}"
                           if kind == "difference" else f"the smaller of the lowest-to-highest ratios in {named}")
            b.append(("p", f"{metric_label(c['metric'])} is {_check_value(c)}; the rule is {rule}: "
                           f"{'pass' if c['passed'] else 'FAIL'}. It is {measure}"
                           + (f"; the binding rate is the {binding.replace('_', ' ')} ({number(parts[binding])})"
                              if binding and len(rates) > 1 else "")
                           + (f". Groups left out (too few rows): {human(sorted(set(groups) - set(included)))}"
                              if len(included) < len(groups) else "") + "."))
            b.append(("table", ["Group", "Rows", "Included", *[r.replace("_", " ") for r in rates]],
                      [[g, v["count"], human(v.get("included", True)), *[number(v.get(r)) for r in rates]]
                       for g, v in groups.items()]))
            for r in rates:
                values = [float(v[r]) for v in included.values() if isinstance(v.get(r), int | float)]
                limit = rate_limit(values, kind, c["operator"], c["threshold"])
                label = f"lowest allowed {number(limit[0])}" if limit else None
                chart = bar_chart([g for g, v in included.items() if isinstance(v.get(r), int | float)], values,
                                  f"{c['id']}: {r.replace('_', ' ')} by group", threshold=limit[0] if limit else None,
                                  xlabel=r.replace("_", " "), threshold_label=label)
                part = f"{'gap' if kind == 'difference' else 'ratio'} {number(parts[r])}" if r in parts else \
                    "undefined"
                caption = (f"{c['id']} ({result['model']['ref']}): {r.replace('_', ' ')} per group, {part}"
                           + (" — the binding rate, which sets the metric" if r == binding and len(rates) > 1 else "")
                           + (f". Dashed red line: the lowest rate the rule allows, {number(limit[0])} "
                              f"({limit[1]}); a bar left of it breaks the rule." if limit else
                              (". No limit line: every rate is allowed, since the highest rate minus the limit is "
                               "below 0" if kind == "difference" and values and c["operator"] in ("lte", "lt")
                               else ". This rule sets no per-group limit line."))
                           + f" {metric_label(c['metric'])} {_check_value(c)}, rule {_rule(c)}.")
                b.append(("image", chart, caption))
    if not found:
        b.append(("p", "No fairness check in the period."))
    return b


def _drift(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    b: list[tuple[Any, ...]] = [("h2", "Drift and monitoring")]
    found = False
    for result in facts["evaluations"]:
        for c in result["checks"]:
            if c["kind"] != "drift":
                continue
            found = True
            columns = (c.get("details") or {}).get("columns") or {}
            b.append(("h3", f"{c['id']} — {result['model']['ref']} ({result['id']})"))
            b.append(("p", f"Reference {(result.get('reference') or {}).get('ref') or '—'} against current "
                           f"{result['data']['ref']}: {_check_value(c)}; the rule on the share of drifted columns is "
                           f"{rule_words(c['operator'], c['threshold'])}: {'pass' if c['passed'] else 'FAIL'}."))
            b.append(("table", ["Column", "Method", "Statistic", "p-value", "Rule", "Drifted"],
                      [[k, human(v.get("method")), number(v.get("statistic")), number(v.get("p_value")),
                        _column_rule(v),
                        human(v.get("drifted"))]
                       for k, v in columns.items()]))
            b += _drift_charts(c, result, columns)
    if not found:
        b.append(("p", "No drift check in the period."))
    return b


def _drift_charts(check: dict[str, Any], result: dict[str, Any],
                  columns: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    """One chart per rule the columns share (what is compared, operator, threshold): each column's value with the
    rule's line."""
    rules: dict[tuple[str, str, float], list[tuple[str, float]]] = {}
    for name, column in columns.items():
        compared, op, threshold = column.get("compared"), column.get("operator"), column.get("threshold")
        value = column.get(compared) if isinstance(compared, str) else None
        if isinstance(value, int | float) and isinstance(threshold, int | float) and op in OPERATOR_WORDS:
            rules.setdefault((compared, op, float(threshold)), []).append((name, float(value)))
    b: list[tuple[Any, ...]] = []
    for (compared, op, threshold), values in rules.items():
        what = compared.replace("_", "-")
        rule = rule_words(op, threshold)
        chart = bar_chart([n for n, _ in values], [v for _, v in values],
                          f"{check['id']}: {what} per column", threshold=threshold, xlabel=what,
                          threshold_label=f"{rule}")
        b.append(("image", chart, f"{check['id']} ({result['model']['ref']}): {what} per column. Dashed red line: "
                                  f"the rule, {what} {rule}; a column on the wrong side of it has drifted."))
    return b


def _column_rule(column: dict[str, Any]) -> str:
    """A drift column's rule in words: "p-value at least 0.0500" (what is compared, then the rule)."""
    compared = str(column.get("compared") or "").replace("_", "-")
    return f"{compared} {rule_words(column.get('operator'), column.get('threshold'))}".strip()


def _explanations(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    b: list[tuple[Any, ...]] = [("h2", "Explanations")]
    found = False
    for result in facts["evaluations"]:
        for c in result["checks"]:
            d = c.get("details") or {}
            if c["kind"] != "explain" or not d.get("importance"):
                continue
            found = True
            imp = d["importance"]
            b.append(("image", bar_chart(list(imp)[:15], [float(v or 0) for v in list(imp.values())[:15]],
                                         f"{c['id']}: mean |SHAP| ({d.get('explainer')})"),
                      f"{c['id']} ({result['model']['ref']}): mean absolute SHAP value per input column, "
                      f"{d.get('sample_size')} rows, {d.get('explainer')} explainer (no threshold: importance is "
                      "reported, not judged)."))
            b.append(("table", ["Column", "Mean |SHAP|"], [[k, number(v)] for k, v in imp.items()]))
    if not found:
        b.append(("p", "No explanation in the period."))
    return b


def _risk(facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Risk tier and owner of each version, and the text of every policy the evaluations applied."""
    b: list[tuple[Any, ...]] = [("h2", "Risk management"), ("table", ["Version", "Risk tier", "Owner", "Policy"], [
        [r["version"], r["risk_tier"], r["owner"], r["policy"]] for r in facts["inventory"]])]
    seen = set()
    for result in facts["evaluations"]:
        policy = result["policy"]
        if policy["sha256"] in seen:
            continue
        seen.add(policy["sha256"])
        b += [("h3", f"Policy {policy['name']}@{policy['version']}"),
              ("p", f"SHA-256 {policy['sha256']}; applied by "
                    f"{human([e['id'] for e in facts['evaluations'] if e['policy']['sha256'] == policy['sha256']])}."),
              ("pre", policy.get("text", ""))]
    return b


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
