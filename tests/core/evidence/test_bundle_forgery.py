"""Issue 12 (d): an exported bundle binds every signature to the identity the evidence names, at that time.

One real export (users, a key rotated with the real API by three of them, a model evaluated and approved to
production, earlier exports by two users), then every forgery an insider holding some other key of the ledger could
try: delete an entry or edit ``report.html``, rebuild the manifest and sign it with each key the ledger ever
registered — each user's, current and retired, and the service's — naming the real exporter or the key's owner.
Each must fail, in :mod:`core.evidence.bundle_verify` and in the exported ``verify.py`` run as a regulator would (with
and
without ``--trusted-key``). Statements re-signed by anyone but the approver, and ledger entries signed by a key not
the actor's or no longer valid, fail the same way; the intact bundle verifies and its OK line names every signer.

The exporter themself cannot thin or pad their own export either: the ``report.generated`` entry commits to the
entries the bundle carries before it, so dropping a suspension, an approval or an evaluation (with its statement),
or adding an entry the export did not select, and re-signing the manifest with the exporter's own key, fails and
names the seqs. The OK line states the commitment (or, for an export made before it, that there is none) and the
bundled ``verify.py``'s SHA-256, telling a regulator running that very file to use an independent copy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from core.api.countersign import Countersign
from core.catalog.artifacts import store_dir
from core.demo import data as demo_data
from core.errors import NotAuthenticated
from core.evidence import attest, bundle_verify, report
from core.evidence.bundle_verify import BundleError, verify_bundle
from core.identity import users as identity
from core.identity.users import Session
from core.ledger import chain as ledger
from core.ledger.chain import Signer
from core.ledger.service_key import load_service_signer
from core.tlog.canonical import canonical_bytes
from core.tlog.merkle import MerkleTree, leaf_hash
from tests.conftest import ADMIN, ADMIN_PW, USERS, _copy_db

ROOT = Path(__file__).resolve().parents[3]
GERMAN_CARD = demo_data.DATA_DIR / "cards" / "german-credit.yaml"
GERMAN_SHEET = demo_data.DATA_DIR / "datasheets" / "german-credit.yaml"
POLICY = """\
policy: house
version: 1
description: Performance only, so the evaluation is fast.
max_evaluation_age_days: 30
checks:
  - id: auc
    metric: roc_auc
    gte: 0.70
approvals:
  staging: {roles: [ml_lead]}
  production: {roles: [ml_lead, compliance_officer]}
"""
PASSWORDS = {ADMIN: ADMIN_PW, **{name: password for name, (_roles, password) in USERS.items()}}
TAMPERS = ("entry-deleted", "html-edited")


@dataclass(frozen=True)
class Key:
    """A key the ledger registered, with its private half (as an insider holding it would have it)."""

    label: str
    owner: str
    signer: Signer


@dataclass
class World:
    db: Path
    bundle: Path
    keys: list[Key]  # every key the ledger ever registered, the exporter's current one last
    exporter: Key
    retired: dict[str, Key]  # user -> their rotated-out key
    service_vkey: str
    folder: Path
    rotated_checkpoint: int


@pytest.fixture(autouse=True)
def _no_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("COUNTERSIGN_WEBHOOK_URL", "COUNTERSIGN_WEBHOOK_SECRET", "COUNTERSIGN_WEBHOOK_WAIT"):
        monkeypatch.delenv(var, raising=False)


def _train(data: Path, target: Path) -> Path:
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv(data)
    features = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL
    model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                LogisticRegression(max_iter=2000))
    model.fit(frame[features], frame[demo_data.GERMAN_LABEL])
    sio.dump(model, target)
    return target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _populated_template: Path) -> World:
    folder = tmp_path_factory.mktemp("forgery")
    db = folder / "ledger.duckdb"
    cs = _copy_db(_populated_template, db)
    s: dict[str, Session] = {name: cs.login(name, password) for name, password in PASSWORDS.items()}
    keys = {name: Key(name, name, session.signer) for name, session in s.items()}
    retired: dict[str, Key] = {}

    def rotate(name: str) -> None:
        retired[name] = Key(f"{name} (rotated out)", name, s[name].signer)
        s[name], _ = cs.rotate_key(s[name], PASSWORDS[name])
        keys[name] = Key(name, name, s[name].signer)

    data = folder / "german.csv"
    demo_data.prepare_german(demo_data.DATA_DIR / "german-credit" / "german.data",
                             demo_data.DATA_DIR / "german-credit" / "values_maps.json", data)
    artifact = _train(data, folder / "german.skops")
    (folder / "house.yaml").write_text(POLICY, encoding="utf-8")
    with cs.store.held():
        cs.register_dataset(s["dana"], data, name="german-credit", version="1", datasheet=GERMAN_SHEET)
        cs.add_policy(s["chloe"], folder / "house.yaml")
        cs.register_model(s["dana"], artifact, name="scorer", version="1", trained_on=["german-credit@1"],
                          card=GERMAN_CARD, policy="house")
        cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=demo_data.GERMAN_LABEL)
        request = cs.promote(s["dana"], "scorer@1", to="staging", reason="Passes the house gate.")
        cs.approve(s["lee"], request["request_id"], comment="Evaluation reviewed.")
        rotate("lee")  # lee's staging approval stays signed by the key he has since retired
        rotate("dana")
        request = cs.promote(s["dana"], "scorer@1", to="production", reason="Staging went well.")
        cs.approve(s["lee"], request["request_id"], comment="Still good.")
        cs.approve(s["chloe"], request["request_id"], comment="Compliant.")
        cs.suspend(s["chloe"], "scorer@1", reason="Complaint investigation.")  # an entry an exporter might omit
        with pytest.raises(NotAuthenticated):
            cs.login("lee", "not-lee's-password")  # an auth.failed entry no export of scorer selects
        cs.report(s["chloe"], "scorer", out=folder / "chloe-export")  # chloe, too, has a report entry
        cs.report(s["aude"], "scorer", out=folder / "aude-first-export")
        rotate("aude")  # the exporter's earlier key
        rotated_checkpoint = cs.checkpoint(s["aude"])["size"]  # a signed checkpoint between her two exports
    bundle = folder / "export"
    cs.report(s["aude"], "scorer", out=bundle)
    service = Key("service", bundle_verify.SERVICE_OWNER, _service_signer(cs))
    ordered = [service, keys[ADMIN], keys["dana"], retired["dana"], keys["lee"], retired["lee"], keys["chloe"],
               retired["aude"], keys["aude"]]
    return World(db, bundle, ordered, keys["aude"], retired, cs.keys()["service"]["verifier_key"], folder,
                 rotated_checkpoint)


def _service_signer(cs: Countersign) -> Signer:
    with cs.store.reader() as tx:
        return load_service_signer(tx, cs.path)


# ----------------------------------------------------------------------------------------------- forging
def _copy(world: World, target: Path) -> Path:
    shutil.copytree(world.bundle, target)
    return target


def _entries(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "evidence" / "entries.jsonl").read_text().splitlines() if line]


def _write_entries(bundle: Path, items: list[dict[str, Any]]) -> None:
    (bundle / "evidence" / "entries.jsonl").write_text("".join(json.dumps(i, sort_keys=True) + "\n" for i in items))


def _signed(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["entry"])


def _delete_entry(bundle: Path, action: str) -> int:
    items = _entries(bundle)
    victim = next(i for i in items if _signed(i)["action"] == action)
    _write_entries(bundle, [i for i in items if i is not victim])
    return victim["seq"]


def _tamper(bundle: Path, how: str) -> None:
    if how == "entry-deleted":
        _delete_entry(bundle, "promotion.requested")
    else:
        html = bundle / "report.html"
        html.write_text(html.read_text().replace("Compliant.", "Not reviewed; approved under pressure."))


def _resign_manifest(bundle: Path, key: Key, *, exported_by: str | None = None, report_seq: int | None = None) -> None:
    """Rebuild the manifest over the files as they now are (as report.py does) and sign it with ``key``."""
    old = json.loads((bundle / bundle_verify.MANIFEST).read_bytes())
    files = {p.relative_to(bundle).as_posix(): bundle_verify._hex_sha256(p.read_bytes())
             for p in sorted(bundle.rglob("*")) if p.is_file()
             and p.relative_to(bundle).as_posix() not in (bundle_verify.MANIFEST, bundle_verify.MANIFEST_ENVELOPE)}
    predicate = dict(old["predicate"], files=files)
    if exported_by is not None:
        predicate["exported_by"] = exported_by
    if report_seq is not None:
        predicate["report_seq"] = report_seq
    manifest = attest.statement(f"report:{predicate['model']}",
                                bundle_verify._hex_sha256(canonical_bytes(files)), report.MANIFEST_PREDICATE,
                                predicate)
    manifest["subject"] = [{"name": n, "digest": {"sha256": d}} for n, d in files.items()]
    (bundle / bundle_verify.MANIFEST).write_bytes(canonical_bytes(manifest))
    (bundle / bundle_verify.MANIFEST_ENVELOPE).write_text(json.dumps(attest.envelope(manifest, key.signer)))


def _claim_for(bundle: Path, key: Key) -> tuple[str, int | None]:
    """The boldest claim for ``key``'s holder: its owner as the exporter, through their own latest report entry."""
    own = [i["seq"] for i in _entries(bundle) if _signed(i)["action"] == "report.generated"
           and _signed(i)["actor"] == key.owner]
    return key.owner, (max(own) if own else None)


def _run_verify_py(bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(bundle / "verify.py"), str(bundle), *extra], capture_output=True,
                          text=True, timeout=120)


# ----------------------------------------------------------------------------------------------- the intact export
def test_intact_export_verifies_and_the_ok_line_names_every_signer(world: World) -> None:
    summary = verify_bundle(world.bundle, world.service_vkey)
    exporter = summary["exporter"]
    assert exporter["name"] == "aude" and exporter["key_id"] == world.exporter.signer.key_id
    rotation = next(_signed(i) for i in _entries(world.bundle) if _signed(i)["action"] == "user.key_rotated"
                    and _signed(i)["actor"] == "aude")
    assert exporter["valid_from"] == rotation["seq"] + 1 and exporter["report_seq"] == summary["tree_size"] - 1
    assert set(summary["signers"]["entries"]) == {"@service", ADMIN, "dana", "lee", "chloe", "aude"}
    assert summary["signers"]["statements"] == {"chloe": 1, "dana": 1, "lee": 2}
    for extra in ((), ("--trusted-key", world.service_vkey)):
        result = _run_verify_py(world.bundle, *extra)
        assert result.returncode == 0, result.stderr
        line = result.stdout
        assert line.startswith(f"OK: manifest signed by aude (key {world.exporter.signer.key_id[:8]}…, valid from "
                               f"seq {rotation['seq'] + 1}; report entry seq {exporter['report_seq']})")
        for name in (ADMIN, "dana", "lee", "chloe", "aude", "the service"):
            assert f"{name} (" in line
        assert ("service key pinned" in line) == bool(extra)
        committed = summary["entry_set"]
        assert f"the report entry commits to the {committed['entries']} entries before it (sha256 " \
               f"{committed['sha256'][:16]}…), all carried, none added" in line
    before = [(i["seq"], i["leaf_hash"]) for i in _entries(world.bundle) if i["seq"] < exporter["report_seq"]]
    expected = bundle_verify.entry_set_commitment(before)
    assert summary["entry_set"] == {"entries": expected["entries"], "sha256": expected["sha256"],
                                    "report_seq": exporter["report_seq"]}
    assert summary["entry_set"]["entries"] == len(before) == summary["entries"] - 1  # all but the report entry


def test_the_exported_verifier_is_this_module(world: World) -> None:
    assert (world.bundle / "verify.py").read_text() == report.standalone_verifier()


def test_constants_agree_with_the_product() -> None:
    """verify.py cannot import Countersign, so it restates these; they must not drift."""
    assert bundle_verify.SERVICE_ACTIONS == ledger.SERVICE_ACTIONS
    assert bundle_verify.POSSESSION_CONTEXT == identity.POSSESSION_CONTEXT
    assert bundle_verify.KEY_ACTIONS == report.KEY_ACTIONS
    assert bundle_verify.MANIFEST_PREDICATE == report.MANIFEST_PREDICATE
    assert (bundle_verify.DSSE_TYPE, bundle_verify.STATEMENT_TYPE) == (attest.PAYLOAD_TYPE, attest.STATEMENT_TYPE)
    assert bundle_verify.EVALUATION_PREDICATE == attest.EVALUATION_PREDICATE
    assert bundle_verify.DECISION_PREDICATE == attest.DECISION_PREDICATE
    from core.ledger.verify import SERVICE_OWNER

    assert bundle_verify.SERVICE_OWNER == SERVICE_OWNER


@pytest.mark.parametrize("how", TAMPERS)
def test_the_forger_is_real(world: World, tmp_path: Path, how: str) -> None:
    """Control: the same rebuilt manifest signed by the exporter's current key passes every check of the manifest
    (the exporter vouches for what they sign), so each failure below is the key's doing, not a broken forgery. An
    edited report then verifies; a deleted entry is caught only by the entry set the report entry commits to."""
    bundle = _copy(world, tmp_path / "b")
    _tamper(bundle, how)
    with pytest.raises(BundleError, match="does not match its SHA-256|is listed but"):
        verify_bundle(bundle)
    _resign_manifest(bundle, world.exporter)
    if how == "html-edited":
        assert verify_bundle(bundle, world.service_vkey)["exporter"]["name"] == "aude"
    else:
        with pytest.raises(BundleError, match=r"^entry set: .* lacks 1 of them"):
            verify_bundle(bundle, world.service_vkey)


# ----------------------------------------------------------------------------------------------- the entry set
#: What an exporter might leave out of their own export, and the action of its ledger entry.
DROPPED = {"suspension": "model.suspended", "approval": "promotion.approved", "evaluation": "evaluation.recorded",
           "promotion request": "promotion.requested"}


def _drop(bundle: Path, action: str) -> int:
    """Leave out the latest entry with ``action`` and the statement it records, as a careful forger would."""
    items = _entries(bundle)
    victim = [i for i in items if _signed(i)["action"] == action][-1]
    digest = _signed(victim)["payload"].get("attestation_sha256")
    for path in (bundle / "evidence" / "statements").glob("*.json"):
        if digest and hashlib.sha256(base64.b64decode(json.loads(path.read_text())["payload"])).hexdigest() == digest:
            path.unlink()
    _write_entries(bundle, [i for i in items if i is not victim])
    if action == "model.suspended":
        html = bundle / "report.html"
        html.write_text(html.read_text().replace("Complaint investigation.", "—"))
    return victim["seq"]


def _without_the_entry_set_check(monkeypatch: pytest.MonkeyPatch, bundle: Path, vkey: str) -> dict[str, Any]:
    """Control: the forgery passes every other check (it is only the commitment that stops it)."""
    with monkeypatch.context() as patch:
        patch.setattr(bundle_verify, "_check_entry_set", lambda *_args: None)
        return verify_bundle(bundle, vkey)


@pytest.mark.parametrize("what", list(DROPPED))
def test_the_exporter_dropping_an_entry_and_resigning_fails(world: World, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    """The tester's repro: ``report --as aude``, remove an entry (and its statement), fix the report, rebuild the
    manifest and re-sign it with aude's own key."""
    report_seq = verify_bundle(world.bundle)["exporter"]["report_seq"]
    bundle = _copy(world, tmp_path / "b")
    seq = _drop(bundle, DROPPED[what])
    assert seq < report_seq
    _resign_manifest(bundle, world.exporter)
    assert _without_the_entry_set_check(monkeypatch, bundle, world.service_vkey)["exporter"]["name"] == "aude"
    with pytest.raises(BundleError, match=rf"^entry set: the report entry \(seq {report_seq}\) commits to \d+ entries "
                                          rf"before it; the bundle lacks 1 of them \(seq {seq}\)$"):
        verify_bundle(bundle, world.service_vkey)
    _all_refused_by_verify_py([bundle], world.service_vkey, failure=f"FAILED: entry set: the report entry (seq "
                                                                    f"{report_seq})")
    result = subprocess.run([sys.executable, "-m", "cli", "verify-bundle", str(bundle)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 1 and f"lacks 1 of them (seq {seq})" in result.stderr


def test_the_exporter_adding_or_swapping_an_entry_fails(world: World, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A genuine entry the export did not select (signed, with a valid inclusion proof against the very same
    checkpoint) added — alone, or in place of a dropped one so that the count stays — is refused and named."""
    summary = verify_bundle(world.bundle)
    report_seq, size = summary["exporter"]["report_seq"], summary["tree_size"]
    carried = {i["seq"] for i in _entries(world.bundle)}
    outsiders = sorted(set(range(report_seq)) - carried)
    assert outsiders, "the ledger holds entries this export does not select"
    con = duckdb.connect(str(world.db), read_only=True)
    try:
        action = con.execute("SELECT action FROM ledger WHERE seq = ?", [outsiders[-1]]).fetchone()[0]
    finally:
        con.close()
    added = _rebuild(world, world.bundle, tmp_path / "added", size, carried | {outsiders[-1]})
    _resign_manifest(added, world.exporter)
    assert _without_the_entry_set_check(monkeypatch, added, world.service_vkey)["entries"] == len(carried) + 1
    with pytest.raises(BundleError, match=rf"^entry set: .* the bundle carries 1 it does not commit to \(seq "
                                          rf"{outsiders[-1]} \({action}\)\)$"):
        verify_bundle(added, world.service_vkey)
    suspension = next(i["seq"] for i in _entries(world.bundle) if _signed(i)["action"] == "model.suspended")
    swapped = _rebuild(world, world.bundle, tmp_path / "swapped", size, (carried - {suspension}) | {outsiders[-1]})
    _resign_manifest(swapped, world.exporter)
    assert _without_the_entry_set_check(monkeypatch, swapped, world.service_vkey)["entries"] == len(carried)
    with pytest.raises(BundleError, match=rf"lacks 1 of them \(seq {suspension}\) and carries 1 it does not commit "
                                          rf"to \(seq {outsiders[-1]} "):
        verify_bundle(swapped, world.service_vkey)
    _all_refused_by_verify_py([added, swapped], world.service_vkey, failure="FAILED: entry set")


def test_the_entry_set_commitment_is_canonical() -> None:
    leaves = [(7, "c" * 64), (0, "a" * 64), (1, "b" * 64), (9, "d" * 64)]
    committed = bundle_verify.entry_set_commitment(leaves)
    listing = json.dumps([[0, "a" * 64], [1, "b" * 64], [7, "c" * 64], [9, "d" * 64]], separators=(",", ":"))
    assert committed == {"entries": 4, "seqs": [[0, 1], [7, 7], [9, 9]],
                         "sha256": hashlib.sha256(listing.encode()).hexdigest()}
    assert bundle_verify._committed_seqs(committed, 10) == {0, 1, 7, 9}
    for bad in ({**committed, "entries": 5}, {**committed, "seqs": [[0, 1], [1, 7]]}, {**committed, "seqs": [[7, 7],
                [0, 1]]}, {**committed, "seqs": [[0, 1], [2, 2]]}, {**committed, "seqs": [[0, 12]]},
                {**committed, "seqs": [[0, True]]}, {**committed, "sha256": None}, [committed]):
        with pytest.raises(BundleError, match="malformed entry_set"):
            bundle_verify._committed_seqs(bad, 10)
    with pytest.raises(ValueError, match="once"):
        bundle_verify.entry_set_commitment([(1, "a" * 64), (1, "b" * 64)])


def test_an_export_made_before_the_commitment_verifies_with_a_note(world: World, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A report entry without ``entry_set`` (as every export before it had): it verifies, and says it is weaker."""
    db = tmp_path / "copy.duckdb"
    cs = _copy_db(world.db, db)
    if store_dir(world.db).exists():
        shutil.copytree(store_dir(world.db), store_dir(db))
    out = tmp_path / "old-export"
    with monkeypatch.context() as patch:  # the commitment is written under another name: none, to the verifier
        patch.setattr(bundle_verify, "ENTRY_SET_FIELD", "not_yet_entry_set")
        cs.report(cs.login("aude", PASSWORDS["aude"]), "scorer", out=out)
    summary = verify_bundle(out, world.service_vkey)
    assert summary["entry_set"] is None
    note = "NOTE: this export does not commit to its entry set"
    assert note in bundle_verify.ok_line(summary)
    result = _run_verify_py(out)
    assert result.returncode == 0 and note in result.stdout, result.stderr


def test_the_ok_line_names_the_bundled_verifier_and_asks_for_an_independent_one(world: World, tmp_path: Path) -> None:
    """The verify.py in a bundle travels with it: run as such, it says so; an independent copy compares it."""
    sha = hashlib.sha256((world.bundle / "verify.py").read_bytes()).hexdigest()
    assert json.loads((world.bundle / bundle_verify.MANIFEST).read_bytes())["predicate"]["files"]["verify.py"] == sha
    html = (world.bundle / "report.html").read_text()
    assert sha in html and "countersign verify-bundle" in html
    summary = verify_bundle(world.bundle)  # Countersign's own verifier: the verify.py it writes is this one
    assert summary["verifier"] == {"sha256": sha, "status": "same", "running_sha256": sha}
    assert f"the bundled verify.py (sha256 {sha}) is identical to this verifier" in bundle_verify.ok_line(summary)
    own = _run_verify_py(world.bundle)
    assert own.returncode == 0 and f"NOTE: this is the bundle's own verify.py (sha256 {sha}), which whoever made " \
                                   "the bundle could have replaced: verify with an independent copy ('countersign " \
                                   "verify-bundle DIR'" in own.stdout
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(world.bundle / "verify.py", release / "verify.py")
    independent = subprocess.run([sys.executable, str(release / "verify.py"), str(world.bundle)],
                                 capture_output=True, text=True, timeout=120)
    assert independent.returncode == 0 and f"(sha256 {sha}) is identical to this verifier" in independent.stdout
    # The exporter swaps in a verify.py that approves anything and re-signs: only the bundled copy is fooled.
    swapped = _copy(world, tmp_path / "swapped")
    (swapped / "verify.py").write_text("print('OK: everything verified')\n")
    _drop(swapped, "model.suspended")
    _resign_manifest(swapped, world.exporter)
    fooled = _run_verify_py(swapped)
    assert fooled.returncode == 0 and fooled.stdout.startswith("OK: everything verified")
    refused = subprocess.run([sys.executable, str(release / "verify.py"), str(swapped)], capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 1 and refused.stderr.startswith("FAILED: entry set"), refused.stderr
    intact = _copy(world, tmp_path / "intact-but-swapped")  # nothing else altered: verifies, naming the swap
    shutil.copy(swapped / "verify.py", intact / "verify.py")
    _resign_manifest(intact, world.exporter)
    summary = verify_bundle(intact)
    swapped_sha = hashlib.sha256((intact / "verify.py").read_bytes()).hexdigest()
    assert summary["verifier"]["status"] == "different"
    assert f"the bundled verify.py (sha256 {swapped_sha}) differs from this verifier" in bundle_verify.ok_line(summary)


# ----------------------------------------------------------------------------------------------- forged manifests
@pytest.mark.parametrize("how", TAMPERS)
def test_a_tampered_manifest_resigned_with_every_other_key_fails(world: World, tmp_path: Path, how: str) -> None:
    others = world.keys[:-1]
    assert len(others) == 8 and len({k.signer.key_id for k in world.keys}) == len(world.keys)
    jobs: list[Path] = []
    for number, key in enumerate(others):
        for claim in ("exporter", "owner"):
            bundle = _copy(world, tmp_path / f"{number}-{claim}")
            _tamper(bundle, how)
            if claim == "owner":
                exported_by, report_seq = _claim_for(bundle, key)
                _resign_manifest(bundle, key, exported_by=exported_by, report_seq=report_seq)
            else:
                _resign_manifest(bundle, key)
            for pinned in (None, world.service_vkey):
                with pytest.raises(BundleError, match="manifest") as caught:
                    verify_bundle(bundle, pinned)
                assert "file digest" not in str(caught.value)
            jobs.append(bundle)
    _all_refused_by_verify_py(jobs, world.service_vkey)


def _all_refused_by_verify_py(bundles: list[Path], vkey: str, failure: str = "FAILED: manifest") -> None:
    """Run each bundle's own verify.py as a regulator would, unpinned and pinned; every run must fail."""
    runs: list[tuple[Path, tuple[str, ...]]] = [(b, extra) for b in bundles for extra in ((), ("--trusted-key", vkey))]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda run: _run_verify_py(run[0], *run[1]), runs))
    for (bundle, extra), result in zip(runs, results, strict=True):
        assert result.returncode == 1, (bundle.name, extra, result.stdout)
        assert result.stdout == "" and result.stderr.startswith(failure), (bundle.name, result.stderr)


def _rebuild(world: World, source: Path, target: Path, size: int, seqs: set[int]) -> Path:
    """``source`` re-cut by a capable forger: entries ``seqs`` with fresh inclusion proofs for the ledger's stored
    checkpoint at ``size`` (every value real, from the database; only the selection and the checkpoint change)."""
    bundle = shutil.copytree(source, target)
    con = duckdb.connect(str(world.db), read_only=True)
    try:
        rows = con.execute("SELECT seq, entry, leaf_hash, key_id, signature FROM ledger WHERE seq < ? ORDER BY seq",
                           [size]).fetchall()
        note = con.execute("SELECT note FROM checkpoints WHERE size = ?", [size]).fetchone()[0]
    finally:
        con.close()
    tree = MerkleTree([bytes.fromhex(r[2]) for r in rows])
    _write_entries(bundle, [
        {"seq": seq, "entry": entry, "leaf_hash": leaf, "key_id": key_id, "signature": sig, "tree_size": size,
         "inclusion_proof": [base64.b64encode(h).decode() for h in tree.inclusion_proof(seq, size)]}
        for seq, entry, leaf, key_id, sig in rows if seq in seqs])
    (bundle / "evidence" / "checkpoint.txt").write_text(note)
    return bundle


def test_a_manifest_signed_by_the_exporters_rotated_out_key_fails(world: World, tmp_path: Path) -> None:
    old = world.retired["aude"]
    bundle = _copy(world, tmp_path / "plain")
    _resign_manifest(bundle, old)
    with pytest.raises(BundleError, match=f"signed by key '{old.signer.key_id}', not by aude's key"):
        verify_bundle(bundle, world.service_vkey)
    # Through aude's earlier report entry, which that key did sign: a later report closes this checkpoint.
    first = min(i["seq"] for i in _entries(bundle) if _signed(i)["action"] == "report.generated"
                and _signed(i)["actor"] == "aude")
    fronted = _copy(world, tmp_path / "fronted")
    _resign_manifest(fronted, old, report_seq=first)
    with pytest.raises(BundleError, match=f"names the report entry seq {first}, but .* later report"):
        verify_bundle(fronted, world.service_vkey)
    # Her first export, re-cut to the checkpoint written after her rotation: the key was retired by then...
    rotation = next(i["seq"] for i in _entries(bundle) if _signed(i)["action"] == "user.key_rotated"
                    and _signed(i)["actor"] == "aude")
    assert world.rotated_checkpoint == rotation + 1
    earlier = {i["seq"] for i in _entries(world.folder / "aude-first-export")}
    recut = _rebuild(world, world.folder / "aude-first-export", tmp_path / "recut", rotation + 1,
                     earlier | {rotation})
    _resign_manifest(recut, old)
    recut_manifest = json.loads((recut / bundle_verify.MANIFEST).read_bytes())
    recut_manifest["predicate"]["checkpoint_size"] = rotation + 1
    (recut / bundle_verify.MANIFEST).write_bytes(canonical_bytes(recut_manifest))
    (recut / bundle_verify.MANIFEST_ENVELOPE).write_text(json.dumps(attest.envelope(recut_manifest, old.signer)))
    with pytest.raises(BundleError, match=f"aude's key {old.signer.key_id} was rotated out at seq {rotation}"):
        verify_bundle(recut, world.service_vkey)
    # ...and leaving the rotation out leaves a gap after the report entry.
    _write_entries(recut, [i for i in _entries(recut) if i["seq"] != rotation])
    _resign_manifest(recut, old)
    with pytest.raises(BundleError, match="lacks entries"):
        verify_bundle(recut, world.service_vkey)
    # Hiding the rotation from the final bundle does not revive the key: the new key signed its report entry.
    hidden = _copy(world, tmp_path / "hidden")
    _write_entries(hidden, [i for i in _entries(hidden) if i["seq"] != rotation])
    _resign_manifest(hidden, old)
    with pytest.raises(BundleError):
        verify_bundle(hidden, world.service_vkey)
    _all_refused_by_verify_py([bundle, fronted, recut], world.service_vkey)
    _all_refused_by_verify_py([hidden], world.service_vkey, failure="FAILED: entry seq")


def test_omitting_a_key_event_does_not_pass(world: World, tmp_path: Path) -> None:
    """The key history cannot be thinned to revive a retired key or to drop the rotation that retired it."""
    bundle = _copy(world, tmp_path / "b")
    seq = next(i["seq"] for i in _entries(bundle) if _signed(i)["action"] == "user.key_rotated"
               and _signed(i)["actor"] == "lee")
    _write_entries(bundle, [i for i in _entries(bundle) if i["seq"] != seq])
    _resign_manifest(bundle, world.exporter)  # even the exporter cannot hide it
    with pytest.raises(BundleError, match="which no earlier included entry registered"):
        verify_bundle(bundle)


# ----------------------------------------------------------------------------------------------- statements
def _decisions(bundle: Path, approver: str) -> list[Path]:
    found = []
    for path in sorted((bundle / "evidence" / "statements").glob("*.json")):
        stmt = json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))
        if stmt["predicateType"] == attest.DECISION_PREDICATE and stmt["predicate"]["approver"] == approver:
            found.append(path)
    assert found, f"no decision by {approver}"
    return found


def _decision(bundle: Path, approver: str) -> Path:
    return _decisions(bundle, approver)[0]


def _resign_envelope(path: Path, key: Key) -> None:
    env = json.loads(path.read_text())
    body = base64.b64decode(env["payload"])
    env["signatures"] = [{"keyid": key.signer.key_id,
                          "sig": base64.b64encode(key.signer.sign(attest.pae(attest.PAYLOAD_TYPE, body))).decode()}]
    path.write_text(json.dumps(env))


def test_a_statement_signed_by_a_key_not_of_the_named_approver_fails(world: World, tmp_path: Path) -> None:
    """Each decision re-signed with every other key — another user's, the service's, or the approver's own key of
    another time (lee approved staging with the key he later retired, production with its successor) — fails,
    although the exporter genuinely signs the manifest over it."""
    lee = {k.label: k.signer.key_id for k in world.keys if k.owner == "lee"}
    signed = {json.loads(p.read_text())["signatures"][0]["keyid"] for p in _decisions(world.bundle, "lee")}
    assert signed == set(lee.values()) and len(signed) == 2
    refused: list[Path] = []
    targets = [(name, n) for name in ("lee", "chloe") for n in range(len(_decisions(world.bundle, name)))]
    for number, key in enumerate(world.keys):
        for name, n in targets:
            bundle = _copy(world, tmp_path / f"{number}-{name}-{n}")
            path = _decisions(bundle, name)[n]
            if key.signer.key_id == json.loads(path.read_text())["signatures"][0]["keyid"]:
                continue
            _resign_envelope(path, key)
            _resign_manifest(bundle, world.exporter)  # the exporter's genuine signature over the forged statement
            with pytest.raises(BundleError, match=f"statement {path.name} .*signed by key '{key.signer.key_id}', "
                                                  f"not by {name}'s key"):
                verify_bundle(bundle, world.service_vkey)
            refused.append(bundle)
    assert len(refused) == len(targets) * (len(world.keys) - 1)
    result = _run_verify_py(refused[0], "--trusted-key", world.service_vkey)
    assert result.returncode == 1 and result.stderr.startswith("FAILED: statement")


def test_an_extra_signature_on_a_statement_fails(world: World, tmp_path: Path) -> None:
    bundle = _copy(world, tmp_path / "b")
    path = _decision(bundle, "chloe")
    env = json.loads(path.read_text())
    body = base64.b64decode(env["payload"])
    lee = next(k for k in world.keys if k.label == "lee")
    env["signatures"].append({"keyid": lee.signer.key_id, "sig": base64.b64encode(
        lee.signer.sign(attest.pae(attest.PAYLOAD_TYPE, body))).decode()})
    path.write_text(json.dumps(env))
    _resign_manifest(bundle, world.exporter)
    with pytest.raises(BundleError, match="not by chloe's key"):
        verify_bundle(bundle)


def test_a_statement_naming_another_approver_is_not_recorded(world: World, tmp_path: Path) -> None:
    bundle = _copy(world, tmp_path / "b")
    path = _decision(bundle, "lee")
    env = json.loads(path.read_text())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["approver"] = "chloe"
    chloe = next(k for k in world.keys if k.label == "chloe")
    path.write_text(json.dumps(attest.envelope(stmt, chloe.signer)))
    _resign_manifest(bundle, world.exporter)
    with pytest.raises(BundleError, match="no included ledger entry records"):
        verify_bundle(bundle)


# ----------------------------------------------------------------------------------------------- ledger entries
def _forge_ledger_entry(db: Path, key: Signer, actor: str, subject: str) -> int:
    """Append to the database a well-formed, chained entry by ``actor`` about ``subject``, signed by ``key``."""
    con = duckdb.connect(str(db))
    try:
        seq, prev, ts = con.execute("SELECT seq, leaf_hash, ts FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        payload = {"model": subject.removeprefix("model:"), "note": "forged"}
        body = {"v": 1, "seq": seq + 1, "ts": ts, "actor": actor, "role": None, "action": "model.annotated",
                "subject": subject, "payload": payload, "prev": prev, "key_id": key.key_id}
        entry = canonical_bytes(body)
        con.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            seq + 1, ts, actor, None, "model.annotated", subject, canonical_bytes(payload).decode(), prev,
            leaf_hash(entry).hex(), key.key_id, base64.b64encode(key.sign(entry)).decode(), entry.decode()])
    finally:
        con.close()
    return seq + 1


@pytest.mark.parametrize("which", ["another user's key", "the actor's rotated-out key", "the service key"])
def test_a_ledger_entry_not_signed_by_its_actors_valid_key_fails(world: World, tmp_path: Path, which: str) -> None:
    """Written into the database by someone with file access, exported: the bundle refuses it, as verify does."""
    db = tmp_path / "copy.duckdb"
    cs = _copy_db(world.db, db)
    if store_dir(world.db).exists():
        shutil.copytree(store_dir(world.db), store_dir(db))
    key = {"another user's key": next(k for k in world.keys if k.label == "lee"),
           "the actor's rotated-out key": world.retired["dana"],
           "the service key": world.keys[0]}[which]
    seq = _forge_ledger_entry(db, key.signer, "dana", "model:scorer")
    assert not cs.verify().ok and cs.verify().first_bad_seq == seq
    out = tmp_path / "export"
    cs.report(cs.login("aude", PASSWORDS["aude"]), "scorer", out=out)
    expected = {"another user's key": "signed with 'lee''s key", "the actor's rotated-out key": "outside its validity",
                "the service key": "signed by the service key"}[which]
    with pytest.raises(BundleError, match=f"entry seq {seq}: .*{expected}"):
        verify_bundle(out)
    result = _run_verify_py(out)
    assert result.returncode == 1 and f"entry seq {seq}" in result.stderr
