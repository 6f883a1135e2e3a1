"""The storage contract suite: every protocol of :mod:`core.storage.contract`, against every backend in
:data:`tests.core.storage.backends.BACKENDS` (DuckDB and PostgreSQL), on a real database (a real server for
PostgreSQL).

Round trips of each aggregate, the ledger's head, appends and range reads, transactions that commit, roll back or only
read, and the ledger-append serialisation guarantee: threads of one process and two processes appending at the same
moment leave one gapless, unforked chain.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.storage import contract
from core.storage.contract import Store, Transaction
from core.storage.migrations import DIALECTS, HEAD_VERSION
from core.storage.records import LEDGER_COLUMNS, LedgerHead, LedgerRow, PublicKey, UserSummary
from tests.core.ledger.test_concurrency import assert_gapless_chain
from tests.core.storage.backends import BACKENDS, append, chain_tuples, migrate, new_signer, open_store, written

ROOT = Path(__file__).resolve().parents[3]
PROTOCOLS = (contract.SettingsStore, contract.LedgerStore, contract.IdentityStore, contract.CatalogStore,
             contract.LineageStore, contract.PolicyStore, contract.ReleaseStore, contract.WebhookOutbox)
SIGNER = new_signer()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return BACKENDS[backend].create(tmp_path, request.getfixturevalue)


@pytest.fixture
def store(backend: str, location: str) -> Store:
    """A fresh database of ``backend`` at the head schema."""
    opened = open_store(backend, location)
    migrate(opened)
    return opened


# -- the implementation has the contract's shape -------------------------------------------------------------------
def _own_members(protocol: type) -> list[str]:
    return [n for n in vars(protocol) if not n.startswith("_") and callable(vars(protocol)[n])]


def test_the_transaction_and_the_store_satisfy_every_protocol_by_name_and_signature(store: Store) -> None:
    assert isinstance(store, Store)
    with store.reader() as tx:
        assert isinstance(tx, Transaction)
        for protocol in PROTOCOLS:
            assert isinstance(tx, protocol), protocol.__name__
            for name in _own_members(protocol):
                expected = inspect.signature(getattr(protocol, name)).parameters
                got = inspect.signature(getattr(type(tx), name)).parameters
                assert [(p.name, p.kind, p.default) for p in got.values()] == \
                       [(p.name, p.kind, p.default) for p in expected.values()], f"{protocol.__name__}.{name}"
    named = [n for p in PROTOCOLS for n in _own_members(p)]
    assert len(named) == len(set(named)) >= 99  # each method in one aggregate
    # every public method of the backend's transaction is in the contract
    methods = {n for n in dir(type(tx)) if not n.startswith("_") and callable(getattr(type(tx), n))}
    assert set(named) == methods


def test_mypy_accepts_the_duckdb_classes_as_the_protocols(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--cache-dir",
                          str(tmp_path / "mypy"), "tests/core/storage/typed_conformance.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_contract_records_and_site_import_no_database_driver() -> None:
    code = ("import json, sys\nimport core.storage.contract, core.storage.records, core.storage.site\n"
            "print(json.dumps(sorted(m for m in ('duckdb', 'pyarrow', 'pandas') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# -- schema and settings ------------------------------------------------------------------------------------------
def test_schema_and_settings(store: Store) -> None:
    assert store.exists() and store.backend in DIALECTS
    with written(store) as tx:
        assert tx.dialect == store.backend
        assert tx.schema_version() == HEAD_VERSION
        assert tx.get_setting("origin") is None
        tx.put_setting("origin", "a.example/log")
        tx.put_setting("origin", "b.example/log")
    with store.reader() as tx:
        assert tx.get_setting("origin") == "b.example/log"


def test_an_empty_database_has_schema_version_zero(backend: str, location: str) -> None:
    fresh = open_store(backend, location)
    assert not fresh.exists()
    with fresh.transaction(create=True) as tx:
        assert tx.schema_version() == 0


# -- ledger -------------------------------------------------------------------------------------------------------
def test_the_ledger_head_follows_appends_within_and_across_transactions(store: Store) -> None:
    with store.reader() as tx:
        assert tx.ledger_head() is None and tx.ledger_size() == 0 and tx.ledger_max_seq() is None
        assert tx.ledger_columns() == {c: [] for c in LEDGER_COLUMNS}
    with written(store) as tx:
        first = append(tx, SIGNER, ("a.one", "s:1", {}))[0]
        assert tx.ledger_head() == LedgerHead(0, first.leaf_hash, first.ts)
        second = append(tx, SIGNER, ("a.two", "s:2", {"n": 2}))[0]
        assert (second.seq, second.prev_hash) == (1, first.leaf_hash)
    with store.reader() as tx:
        head = tx.ledger_head()
        assert head == (1, second.leaf_hash, second.ts) and isinstance(head, LedgerHead)
        assert tx.ledger_size() == 2 and tx.ledger_max_seq() == 1
        assert tx.ledger_entry(1) == second and tx.ledger_entry(2) is None
        assert tx.ledger_entries([1, 0, 7]) == [first, second]
        assert tx.ledger_entries([]) == []


def test_a_rolled_back_append_leaves_no_trace(store: Store) -> None:
    with written(store) as tx:
        kept = append(tx, SIGNER, ("a.kept", "s:1", {}))[0]
    with pytest.raises(RuntimeError), written(store) as tx:
        append(tx, SIGNER, ("a.lost", "s:2", {}))
        tx.put_setting("lost", "yes")
        raise RuntimeError("abandon")
    with store.reader() as tx:
        assert tx.ledger_head() == (kept.seq, kept.leaf_hash, kept.ts)
        assert tx.ledger_size() == 1 and tx.get_setting("lost") is None
    with written(store) as tx:  # the next append continues from the committed head
        assert append(tx, SIGNER, ("a.next", "s:3", {}))[0].prev_hash == kept.leaf_hash


def test_a_reader_commits_nothing(store: Store) -> None:
    """A write in a reader is dropped (DuckDB rolls the reader back) or refused (PostgreSQL's READ ONLY)."""
    try:
        with store.reader() as tx:
            tx.put_setting("scribble", "x")
    except Exception as refused:  # noqa: BLE001 - the backend's own refusal
        assert store.backend == "postgresql" and "read-only" in str(refused), refused
    with store.reader() as tx:
        assert tx.get_setting("scribble") is None


def _seqs(rows: list[LedgerRow]) -> list[int]:
    return [r.seq for r in rows]


def test_ledger_reads_ranges_and_searches(store: Store) -> None:
    with written(store) as tx:
        rows = append(tx, SIGNER, ("promotion", "model:m@1", {}), ("promotion.approved", "model:m@2", {}), actor="Ann")
        rows += append(tx, SIGNER, ("promotions", "model:m_1", {}), ("user.added", "user:b%b", {}), actor="bob")
    leaves = [r.leaf_hash for r in rows]
    with store.reader() as tx:
        assert tx.ledger_leaf_hashes() == leaves and tx.ledger_leaf_hashes(1, 3) == leaves[1:3]
        chunk = tx.ledger_chunk(0, 2)
        assert set(chunk) == set(LEDGER_COLUMNS) and chunk["seq"] == [1, 2] and chunk["leaf_hash"] == leaves[1:3]
        assert tx.ledger_chunk(None, 0)["seq"] == [0]
        assert tx.ledger_columns()["entry"] == [r.entry for r in rows]
        assert tx.ledger_next_seq(1, 3) == 2 and tx.ledger_next_seq(3, 9) is None

        def search(**kw: Any) -> list[int]:
            return _seqs(tx.ledger_search(limit=10, **kw))

        assert search() == [3, 2, 1, 0] and search(newest_first=False) == [0, 1, 2, 3]
        assert _seqs(tx.ledger_search(limit=2, offset=1)) == [2, 1]
        assert search(actor="ANN") == [1, 0] and search(actor="an*") == [1, 0] and search(actor="an") == []
        assert search(action="Promotion") == [1, 0] and search(action="promo*") == [2, 1, 0]
        assert search(subject="model:m@1") == [0] and search(subject="model:m*") == [2, 1, 0]
        assert search(subject="model:m_*") == [2] and search(subject="user:b%*") == [3]
        assert search(since=rows[1].ts, until=rows[2].ts) == [2, 1]
        assert search(actor="bob", action="user") == [3]
        assert _seqs(tx.ledger_for_subject_prefix("model:m_", ["promotions", "promotion"])) == [2]
        assert _seqs(tx.ledger_for_subject_prefix("model:", ["promotion"])) == [0]
        assert _seqs(tx.ledger_rows_for(["model:m@2"], ["user.added"], 4)) == [1, 3]
        assert _seqs(tx.ledger_rows_for(["model:m@2"], ["user.added"], 3)) == [1]


def test_checkpoints(store: Store) -> None:
    with written(store) as tx:
        assert tx.latest_checkpoint() is None and tx.checkpoints() == []
        tx.insert_checkpoint(1, "aa", "note 1", ["f1"], "t1")
        tx.insert_checkpoint(2, "bb", "note 2", ["f1", "f2"], "t2")
        tx.insert_checkpoint(2, "cc", "other", [], "t3")  # one checkpoint per size: ignored
    with store.reader() as tx:
        assert tx.latest_checkpoint() == {"size": 2, "root": "bb", "note": "note 2", "frontier": ["f1", "f2"],
                                          "created_at": "t2"}
        assert tx.checkpoints() == [{"size": 1, "root": "aa", "note": "note 1", "created_at": "t1"},
                                    {"size": 2, "root": "bb", "note": "note 2", "created_at": "t2"}]


# -- identities ---------------------------------------------------------------------------------------------------
CRED = {"kdf": "scrypt", "salt": b"s", "verifier": b"v", "nonce": b"n", "ciphertext": b"c", "public_key": b"p",
        "key_id": "k1"}


def test_users_roles_credentials_and_keys(store: Store) -> None:
    with written(store) as tx:
        for name in ("zoe", "bob"):
            tx.insert_user(name, f"{name}-t", 3)
        tx.add_role("bob", "ml_lead")
        tx.add_role("bob", "auditor")
        tx.add_role("zoe", "admin")
        tx.remove_role("zoe", "admin")
        tx.put_credentials("bob", CRED)
        tx.put_credentials("bob", {**CRED, "key_id": "k2"})  # replaced
        tx.put_credentials("zoe", CRED)
        tx.delete_credentials("zoe")
        tx.insert_public_key("k2", "bob", b"p2", 5)
        tx.insert_public_key("k1", "bob", b"p1", 3)
    with store.reader() as tx:
        assert tx.user_exists("bob") and not tx.user_exists("nobody")
        assert tx.user_roles("bob") == ["auditor", "ml_lead"] and tx.user_roles("zoe") == []
        users = tx.list_users()
        assert users == [{"name": "bob", "created_at": "bob-t", "key_id": "k2", "roles": ["auditor", "ml_lead"],
                          "enrolled": True},
                         {"name": "zoe", "created_at": "zoe-t", "key_id": None, "roles": [], "enrolled": False}]
        assert set(users[0]) == UserSummary.__required_keys__
        cred = tx.get_credentials("bob")
        assert cred == {**CRED, "key_id": "k2"} and tx.get_credentials("zoe") is None
        assert all(isinstance(cred[k], bytes) for k in ("salt", "verifier", "nonce", "ciphertext", "public_key"))
        keys = tx.public_keys()
        assert [(k["key_id"], k["valid_from_seq"], k["public_key"]) for k in keys] == [("k1", 3, b"p1"),
                                                                                        ("k2", 5, b"p2")]
        assert set(keys[0]) == PublicKey.__required_keys__ and isinstance(keys[0]["public_key"], bytes)


def test_enrolments(store: Store) -> None:
    with written(store) as tx:
        tx.put_enrolment("bob", "h1", "e1", "ann", 1)
        tx.put_enrolment("bob", "h2", "e2", "ann", 2)
        assert tx.get_enrolment("bob") == {"code_sha256": "h2", "expires_at": "e2", "issued_by": "ann", "seq": 2}
        tx.delete_enrolment("bob")
        assert tx.get_enrolment("bob") is None


def test_identity_history_is_read_from_the_ledger(store: Store) -> None:
    with written(store) as tx:
        rows = append(tx, SIGNER, ("user.added", "user:bob", {"name": "bob"}),
                      ("user.role_granted", "user:bob", {"role": "auditor"}),
                      ("model.registered", "user:bob", {}),
                      ("user.deactivated", "user:bob", {"reason": "left"}),
                      ("user.deactivated", "user:cy", {}))
    with store.reader() as tx:
        assert tx.identity_events("bob") == [(r.seq, r.actor, r.action, r.payload) for r in rows[:2]]
        gone = tx.user_deactivations()
        assert gone == {"bob": {"seq": 3, "ts": rows[3].ts, "by": "ann", "reason": "left"},
                        "cy": {"seq": 4, "ts": rows[4].ts, "by": "ann", "reason": None}}
        assert tx.user_deactivations("bob") == {"bob": gone["bob"]} and tx.user_deactivations("al") == {}


# -- catalog ------------------------------------------------------------------------------------------------------
def dataset(version: str, **kw: Any) -> dict[str, Any]:
    return {"name": "credit", "version": version, "digest": f"d{version}", "format": "csv", "path": "/d.csv",
            "source_uri": "file:///d.csv", "size_bytes": 10, "row_count": 2, "schema": "[]", "profile": "{}",
            "files": "[]", "registered_by": "ann", "registered_at": "t", "registered_seq": 1,
            "read_options": None, **kw}


def model(name: str, version: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "version": version, "external": False, "artifact_digest": "abc", "artifact_format": "skops",
            "artifact_file": "f.skops", "trusted_pickle": False, "framework": "sklearn", "estimator": "LR",
            "hyperparameters": "{}", "features": "[]", "trained_on": "[]", "code_ref": None, "risk_tier": "high",
            "owner": "ann", "registered_at": "t", "registered_seq": 1, **kw}


def test_datasets_models_documents_and_pickle_trusts(store: Store) -> None:
    docs = [{"kind": "model_card", "subject": "model:m", "revision": r, "content": f"v{r}", "digest": f"g{r}",
             "author": "ann", "created_at": "t", "seq": r} for r in (1, 2)]
    with written(store) as tx:
        tx.insert_dataset(dataset("2"))
        tx.insert_dataset(dataset("1", read_options='{"delimiter": ";"}'))
        tx.insert_model(model("m", "1"))
        tx.insert_model(model("a", "1", external=True, artifact_digest=None, owner=""))
        for doc in docs:
            tx.insert_document(doc)
        append(tx, SIGNER, ("model.pickle_trusted", "model:m@1", {"artifact_sha256": "abc"}),
               ("model.pickle_trusted", "model:m@2", {"artifact_sha256": "other"}), actor="lee")
    with store.reader() as tx:
        assert tx.get_dataset("credit", "1") == dataset("1", read_options='{"delimiter": ";"}')
        assert tx.get_dataset("credit", "3") is None
        assert [(d["version"], d["digest"], d["row_count"]) for d in tx.list_datasets()] == [("1", "d1", 2),
                                                                                              ("2", "d2", 2)]
        assert tx.get_model("m", "1") == model("m", "1") and tx.get_model("m", "2") is None
        listed = tx.list_models()
        assert [(m["name"], m["external"], m["artifact_digest"]) for m in listed] == [("a", True, None),
                                                                                      ("m", False, "abc")]
        assert tx.latest_document("model_card", "model:m") == docs[1]
        assert tx.latest_document("datasheet", "model:m") is None
        assert tx.document_history("model_card", "model:m") == docs
        trusts = tx.pickle_trusts("abc")
        assert [(t["seq"], t["name"]) for t in trusts] == [(0, "lee")] and set(trusts[0]) == {"seq", "ts", "name"}


# -- lineage ------------------------------------------------------------------------------------------------------
def node(node_id: str, seq: int = 1, **kw: Any) -> dict[str, Any]:
    return {"id": node_id, "kind": "dataset", "label": node_id, "digest": None, "attributes": "{}", "seq": seq, **kw}


def test_lineage_nodes_edges_and_bulk_rows(store: Store) -> None:
    with written(store) as tx:
        assert tx.upsert_lineage_node(node("a")) and not tx.upsert_lineage_node(node("a", label="again"))
        assert tx.insert_lineage_edge("a", "b", "produced", 2) and not tx.insert_lineage_edge("a", "b", "produced", 3)
        assert tx.insert_lineage_rows("lineage_nodes", list(node("b")), [list(node("b").values()),
                                                                         list(node("a").values())]) == 2
        assert tx.insert_lineage_rows("lineage_edges", ["src", "dst", "kind", "seq"], [["b", "c", "used", 4]]) == 1
        assert tx.insert_lineage_rows("lineage_columns", ["dst", "dst_field", "src", "src_field", "transformation",
                                                          "seq"], [["b", "x", "a", "", "", 5]]) == 1
        assert tx.insert_lineage_rows("lineage_edges", ["src", "dst", "kind", "seq"], []) == 0
        with pytest.raises(ValueError, match="not a lineage table"):
            tx.insert_lineage_rows("users", ["name"], [["x"]])
        tx.update_lineage_node(node("a", seq=9, label="A", digest="sha", attributes='{"k": 1}'))
    with store.reader() as tx:
        assert tx.lineage_nodes(["b", "a", "zz"]) == [node("a", label="A", digest="sha", attributes='{"k": 1}'),
                                                      node("b")]
        assert tx.lineage_nodes([]) == []
        assert tx.lineage_edges_touching(["b"], "upstream") == [{"src": "a", "dst": "b", "kind": "produced",
                                                                 "seq": 2}]
        assert tx.lineage_edges_touching(["b"], "downstream") == [{"src": "b", "dst": "c", "kind": "used", "seq": 4}]
        assert tx.lineage_columns_touching(["a"]) == [{"dst": "b", "dst_field": "x", "src": "a", "src_field": None,
                                                       "transformation": None, "seq": 5}]
        assert tx.lineage_columns_touching([]) == [] and tx.lineage_id_renames() == []


def test_lineage_aliases_and_merging_nodes(store: Store) -> None:
    with written(store) as tx:
        for n in ("old", "new", "x"):
            tx.upsert_lineage_node(node(n))
        tx.insert_lineage_edge("old", "x", "produced", 1)
        tx.insert_lineage_edge("new", "x", "produced", 1)  # the same edge once merged: kept once
        tx.insert_lineage_edge("x", "old", "used", 2)
        tx.put_lineage_aliases([["s3://a", "old"], ["s3://b", "x"]], 3)
        tx.put_lineage_aliases([["s3://b", "new"]], 4)  # an alias seen again points to its newest node
        assert tx.lineage_aliases(["s3://a", "s3://b", "s3://c"]) == {"s3://a": "old", "s3://b": "new"}
        tx.repoint_lineage_nodes([["old", "new"]])
        tx.repoint_lineage_nodes([])
    with store.reader() as tx:
        assert [n["id"] for n in tx.lineage_nodes(["old", "new", "x"])] == ["new", "x"]
        assert sorted((e["src"], e["dst"], e["kind"]) for e in tx.lineage_edges_touching(["new"], "downstream")
                      + tx.lineage_edges_touching(["new"], "upstream")) == [("new", "x", "produced"),
                                                                           ("x", "new", "used")]
        assert tx.lineage_aliases(["s3://a"]) == {"s3://a": "new"} and tx.lineage_aliases([]) == {}


# -- policies, evaluations, attestations -------------------------------------------------------------------------
def evaluation(eid: str, seq: int, version: str = "1", **kw: Any) -> dict[str, Any]:
    return {"id": eid, "model_name": "m", "model_version": version, "artifact_digest": "abc", "dataset_ref": "d@1",
            "dataset_digest": "dd", "reference_ref": None, "reference_digest": None, "policy_name": "house",
            "policy_version": 1, "policy_sha256": "ps", "policy_registered": True, "passed": True, "result": "{}",
            "result_sha256": "rs", "evaluated_by": "ann", "evaluated_at": "t", "seq": seq, "purpose": "evaluation",
            **kw}


def test_policies_evaluations_and_attestations(store: Store) -> None:
    policies = [{"name": "house", "version": v, "sha256": f"s{v}", "text": f"t{v}", "description": None,
                 "added_by": "ann", "added_at": "t", "seq": v} for v in (1, 2)]
    attestation = {"id": "at1", "kind": "evaluation", "model_name": "m", "model_version": "1", "envelope": "{}",
                   "signer": "ann", "seq": 7}
    with written(store) as tx:
        for p in policies:
            tx.insert_policy(p)
        tx.insert_evaluation(evaluation("e1", 1))
        tx.insert_evaluation(evaluation("e2", 2, version="2", passed=False))
        tx.insert_evaluation(evaluation("e3", 3, purpose="monitoring"))
        tx.insert_attestation(attestation)
    with store.reader() as tx:
        assert tx.get_policy("house") == policies[1] and tx.get_policy("house", 1) == policies[0]
        assert tx.get_policy("house", 3) is None and tx.get_policy("none") is None
        assert [(p["version"], "text" in p) for p in tx.list_policies()] == [(1, False), (2, False)]
        assert tx.get_evaluation("e2") == evaluation("e2", 2, version="2", passed=False)
        assert tx.get_evaluation("nope") is None
        assert [e["id"] for e in tx.list_evaluations()] == ["e3", "e2", "e1"]
        assert [e["id"] for e in tx.list_evaluations("m", "1", limit=1)] == ["e3"]
        assert [e["id"] for e in tx.list_evaluations(model_version="2")] == ["e2"]
        assert "result" not in tx.list_evaluations()[0]
        assert tx.attestations_for("m") == [attestation] and tx.attestations_for("m", "2") == []


# -- releases -----------------------------------------------------------------------------------------------------
def request(rid: str, seq: int, status: str = "pending", **kw: Any) -> dict[str, Any]:
    return {"id": rid, "model_name": "m", "model_version": "1", "from_stage": "registered",
            "target_stage": "production", "reason": "r", "requested_by": "dana", "requested_at": "t",
            "evaluation_id": "e1", "policy_name": "house", "policy_version": 1, "required_roles": "[]",
            "waivers": "[]", "status": status, "closed_at": None, "seq": seq, "supersedes": None, **kw}


def stage(version: str, name: str, seq: int, **kw: Any) -> dict[str, Any]:
    return {"model_name": "m", "model_version": version, "stage": name, "since": "t", "request_id": None,
            "evaluation_id": None, "policy_name": None, "policy_version": None, "revalidation_required": False,
            "revalidation_reason": None, "seq": seq, **kw}


def test_governing_policies_and_stages(store: Store) -> None:
    with written(store) as tx:
        for v in ("1", "2", "3"):
            tx.insert_model(model("m", v, owner="" if v == "3" else "ann"))
        tx.insert_evaluation(evaluation("e1", 1))
        tx.insert_evaluation(evaluation("e2", 2, purpose="monitoring"))
        tx.assign_policy({"model_name": "m", "policy_name": "old", "assigned_by": "ann", "assigned_at": "t", "seq": 1})
        tx.assign_policy({"model_name": "m", "policy_name": "house", "assigned_by": "ann", "assigned_at": "t",
                          "seq": 2})
        tx.set_stage(stage("1", "staging", 3))
        tx.set_stage(stage("1", "production", 4))
        tx.set_stage(stage("2", "production", 5))
        tx.flag_revalidation("m", "2", "policy changed")
    with store.reader() as tx:
        assert tx.governing_policy("m") == {"model_name": "m", "policy_name": "house", "assigned_by": "ann",
                                            "assigned_at": "t", "seq": 2}
        assert tx.governing_policy("x") is None
        assert tx.models_governed_by("house") == ["m"] and tx.models_governed_by("old") == []
        assert tx.stage_of("m", "1") == stage("1", "production", 4) and tx.stage_of("m", "3") is None
        assert [s["model_version"] for s in tx.versions_in_stage("m", "production")] == ["1", "2"]
        assert tx.all_stages() == [stage("1", "production", 4),
                                   stage("2", "production", 5, revalidation_required=True,
                                         revalidation_reason="policy changed")]
        rows = tx.stage_rows()
        assert [(r["version"], r["stage"], r["revalidation_required"]) for r in rows] == [
            ("1", "production", False), ("2", "production", True), ("3", "registered", False)]
        assert [r["version"] for r in tx.stage_rows("x")] == []
        assert tx.latest_gate_evaluation("m", "1") == evaluation("e1", 1)
        assert tx.model_owners() == {("m", "1"): "ann", ("m", "2"): "ann", ("m", "3"): ""}
        inventory = tx.inventory_rows()
        assert [(r["name"], r["version"], r["stage"], r["policy"], r["verdict"]) for r in inventory] == [
            ("m", "1", "production", "house", "pass"), ("m", "2", "production", "house", None),
            ("m", "3", "registered", "house", None)]


def test_requests_decisions_and_notes(store: Store) -> None:
    decision = {"request_id": "r1", "approver": "lee", "role": "ml_lead", "decision": "approve", "comment": "",
                "decided_at": "t", "seq": 4}
    note = {"seq": 5, "request_id": "r2", "author": "lee", "role": "ml_lead", "kind": "comment", "comment": "why?",
            "noted_at": "t"}
    with written(store) as tx:
        tx.insert_request(request("r1", 1))
        tx.insert_request(request("r2", 2))
        tx.insert_request(request("r3", 3, supersedes="r2", target_stage="staging"))
        tx.insert_decision(decision)
        tx.insert_request_note(note)
        tx.set_request_status("r2", "changes_requested")
        tx.close_request("r3", "rejected", "t9")
    with store.reader() as tx:
        assert tx.get_request("r3") == request("r3", 3, "rejected", supersedes="r2", target_stage="staging",
                                               closed_at="t9")
        assert tx.get_request("nope") is None
        assert [r["id"] for r in tx.list_requests()] == ["r3", "r2", "r1"]
        assert [r["id"] for r in tx.list_requests(pending_only=True)] == ["r1"]
        assert [r["id"] for r in tx.list_open_requests()] == ["r2", "r1"]
        assert tx.pending_request_for("m", "1", "production") == request("r1", 1)
        assert tx.open_request_for("m", "1", "staging") is None
        assert tx.request_superseding("r2") == tx.get_request("r3") and tx.request_superseding("r1") is None
        assert tx.decisions("r1") == [decision] and tx.decisions("r2") == []
        assert tx.decisions_by_request() == {"r1": [decision]}
        assert tx.decisions_by_request(pending_only=True) == {"r1": [decision]}
        assert tx.decisions_for_requests(["r1", "r2"]) == {"r1": [decision]}
        assert tx.request_notes(["r2", "r1"]) == [note] and tx.request_notes([]) == []


def test_waivers(store: Store) -> None:
    waiver = {"id": "w1", "model_name": "m", "model_version": "1", "check_id": "auc", "until": "2099-01-01",
              "justification": "j", "granted_by": "chloe", "granted_at": "t", "revoked_by": None, "revoked_at": None,
              "seq": 1, "policy": "house@1"}
    with written(store) as tx:
        tx.insert_waiver(waiver)
        tx.insert_waiver({**waiver, "id": "w2", "model_version": "2", "seq": 2})
        tx.revoke_waiver("w2", "chloe", "t2")
    with store.reader() as tx:
        assert tx.get_waiver("w1") == waiver and tx.get_waiver("w3") is None
        assert tx.get_waiver("w2")["revoked_by"] == "chloe"
        assert [w["id"] for w in tx.waivers_for()] == ["w1", "w2"] == [w["id"] for w in tx.waivers_for("", "")]
        assert [w["id"] for w in tx.waivers_for("m", "2")] == ["w2"] and tx.waivers_for("x") == []


# -- webhooks outbox ----------------------------------------------------------------------------------------------
def test_webhooks_outbox(store: Store) -> None:
    with written(store) as tx:
        for i in (2, 1, 3):
            tx.enqueue_webhook({"id": f"h{i}", "event": "promotion.approved", "body": "{}", "created_at": "t",
                                "seq": i})
        tx.mark_webhook("h1", None, "timeout")
        tx.mark_webhook("h2", "t5", None)
    with store.reader() as tx:
        pending = tx.undelivered_webhooks()
        assert [(h["id"], h["attempts"], h["last_error"]) for h in pending] == [("h1", 1, "timeout"), ("h3", 0, None)]
        assert [h["id"] for h in tx.undelivered_webhooks(limit=1)] == ["h1"]


# -- ledger-append serialisation ----------------------------------------------------------------------------------
def test_threads_of_one_process_never_append_on_the_same_head(store: Store) -> None:
    threads, per_thread = 4, 10
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            for j in range(per_thread):
                with written(store) as tx:
                    append(tx, SIGNER, ("race.appended", f"thread:{i}", {"j": j}), actor=f"t{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not errors, errors
    rows = chain_tuples(store)
    assert len(rows) == threads * per_thread
    assert_gapless_chain(rows)


# argv: backend, location, name, appends, ready file, start file
WORKER = r"""
import json, random, sys, time
from pathlib import Path

from tests.core.storage.backends import append, new_signer, open_store, written

backend, location, name, k, ready, start = sys.argv[1:7]
store = open_store(backend, location)
signer = new_signer(name)
Path(ready).touch()
deadline = time.monotonic() + 120
while not Path(start).exists():             # the barrier: both processes append at the same moment
    if time.monotonic() > deadline:
        sys.exit("start signal never came")
    time.sleep(0.002)
seqs = []
for i in range(int(k)):
    with written(store) as tx:
        seqs.append(append(tx, signer, ("race.appended", f"worker:{name}", {"i": i}), actor=name)[0].seq)
    time.sleep(random.uniform(0.001, 0.01))  # let the other process in (as separate requests would)
print(json.dumps(seqs))
"""


@pytest.mark.slow
def test_two_processes_appending_at_once_leave_one_gapless_chain(backend: str, location: str, store: Store,
                                                                 tmp_path: Path) -> None:
    k, names = 20, ("p1", "p2")
    with written(store) as tx:
        append(tx, SIGNER, ("race.started", "race", {}))
    start = tmp_path / "start"
    procs = {name: subprocess.Popen([sys.executable, "-c", WORKER, backend, location, name, str(k),
                                     str(tmp_path / f"{name}.ready"), str(start)],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in names}
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"{name}.ready").exists() for name in names):
            assert time.monotonic() < deadline, "workers never became ready"
            dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            assert not dead, f"worker exited before the start signal: {dead}"
            time.sleep(0.01)
        start.touch()
        acknowledged = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{err}"
            acknowledged[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    rows = chain_tuples(store)
    assert len(rows) == 1 + 2 * k
    assert_gapless_chain(rows)
    assert sorted(s for seqs in acknowledged.values() for s in seqs) == list(range(1, 1 + 2 * k))
    for name, seqs in acknowledged.items():
        assert seqs == sorted(seqs) and [rows[s][3] for s in seqs] == [name] * k
    actors = [r[3] for r in rows[1:]]
    assert sum(a != b for a, b in zip(actors, actors[1:], strict=False)) >= 1, "the processes never interleaved"
