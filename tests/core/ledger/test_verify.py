"""Tamper tests: every way an attacker with write access to the database file could alter the record."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import duckdb
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.api.countersign import Countersign
from core.ledger.chain import Signer
from core.ledger.verify import verify_ledger
from core.tlog.canonical import canonical_bytes
from core.tlog.merkle import leaf_hash
from tests.conftest import ADMIN, ADMIN_PW, USERS

LEDGER_COLUMNS = ("seq", "ts", "actor", "role", "action", "subject", "payload", "prev_hash", "leaf_hash",
                  "key_id", "signature", "entry")


def _sql(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _row(db: Path, seq: int) -> dict:
    values = _sql(db, f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE seq = ?", [seq])[0]
    return dict(zip(LEDGER_COLUMNS, values, strict=True))


def _mutated(column: str, value: object) -> object:
    if column == "seq":
        return 10_000
    if column == "payload":
        return json.dumps({"name": "mallory", "roles": ["admin"]})
    if column == "entry":
        return str(value).replace('"dana"', '"mallo"', 1)
    if column in ("prev_hash", "leaf_hash"):
        return "f" * 64
    if column == "key_id":
        return "0" * 32
    if column == "signature":
        raw = bytearray(base64.b64decode(str(value)))
        raw[5] ^= 0x01
        return base64.b64encode(bytes(raw)).decode()
    if column == "ts":
        return "2020-01-01T00:00:00.000000Z"  # back-dated
    if column == "role":
        return "auditor"
    return f"{value}-x"


@pytest.fixture
def ledger_db(populated: Countersign, db_path: Path) -> Path:
    report = populated.verify()
    assert report.ok, report.problems
    return db_path


def test_intact_ledger_verifies(ledger_db: Path) -> None:
    report = Countersign(ledger_db).verify()
    assert report.ok and report.first_bad_seq is None
    assert report.size == 10  # genesis, admin, 4 users added and 4 enrolled
    assert report.checkpoints_verified >= 1


@pytest.mark.parametrize("column", LEDGER_COLUMNS)
def test_changing_any_column_is_detected_and_names_the_entry(ledger_db: Path, column: str) -> None:
    target = 2  # user.added for dana, signed by the admin
    row = _row(ledger_db, target)
    assert row["actor"] == ADMIN and '"dana"' in row["entry"]
    _sql(ledger_db, f"UPDATE ledger SET {column} = ? WHERE seq = ?", [_mutated(column, row[column]), target])
    report = Countersign(ledger_db).verify()
    assert not report.ok
    assert report.first_bad_seq == target, report.problems


def test_deleting_a_row_is_detected(ledger_db: Path) -> None:
    _sql(ledger_db, "DELETE FROM ledger WHERE seq = 3")
    report = Countersign(ledger_db).verify()
    assert not report.ok and report.first_bad_seq == 3
    assert "missing" in str(report.first_problem)


def test_swapping_two_rows_is_detected(ledger_db: Path) -> None:
    a, b = _row(ledger_db, 2), _row(ledger_db, 3)
    cols = [c for c in LEDGER_COLUMNS if c != "seq"]
    for seq, source in ((2, b), (3, a)):
        _sql(ledger_db, f"UPDATE ledger SET {', '.join(f'{c} = ?' for c in cols)} WHERE seq = ?",
             [source[c] for c in cols] + [seq])
    report = Countersign(ledger_db).verify()
    assert not report.ok and report.first_bad_seq == 2


def test_swapping_seq_numbers_is_detected(ledger_db: Path) -> None:
    _sql(ledger_db, "UPDATE ledger SET seq = 100 WHERE seq = 2")
    _sql(ledger_db, "UPDATE ledger SET seq = 2 WHERE seq = 3")
    _sql(ledger_db, "UPDATE ledger SET seq = 3 WHERE seq = 100")
    report = Countersign(ledger_db).verify()
    assert not report.ok and report.first_bad_seq == 2


def _forge(db: Path, key: Ed25519PrivateKey, key_id: str, actor: str = ADMIN) -> int:
    """Append a perfectly formed, correctly chained entry signed by ``key``."""
    seq, prev, ts = _sql(db, "SELECT seq, leaf_hash, ts FROM ledger ORDER BY seq DESC LIMIT 1")[0]
    payload = {"name": actor, "role": "admin"}
    body = {"v": 1, "seq": seq + 1, "ts": ts, "actor": actor, "role": "admin", "action": "user.role_granted",
            "subject": f"user:{actor}", "payload": payload, "prev": prev, "key_id": key_id}
    entry = canonical_bytes(body)
    _sql(db, "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        seq + 1, ts, actor, "admin", "user.role_granted", f"user:{actor}", canonical_bytes(payload).decode(),
        prev, leaf_hash(entry).hex(), key_id, base64.b64encode(key.sign(entry)).decode(), entry.decode()])
    return seq + 1


def test_row_forged_with_unknown_key_is_detected(ledger_db: Path) -> None:
    forged = _forge(ledger_db, Ed25519PrivateKey.generate(), "ab" * 16)
    report = Countersign(ledger_db).verify()
    assert not report.ok and report.first_bad_seq == forged
    assert "unknown key" in str(report.first_problem) or "no earlier ledger entry" in str(report.first_problem)


def test_key_planted_in_the_keys_table_is_still_unknown(ledger_db: Path) -> None:
    """Writing a key into public_keys/credentials does not make it trusted: trust comes from the ledger."""
    key = Ed25519PrivateKey.generate()
    from core.identity.keys import key_id_of, public_bytes

    pub = public_bytes(key)
    _sql(ledger_db, "INSERT INTO public_keys VALUES (?, ?, ?, ?)", [key_id_of(pub), ADMIN, pub, 0])
    forged = _forge(ledger_db, key, key_id_of(pub))
    report = Countersign(ledger_db).verify()
    assert not report.ok and report.first_bad_seq == forged


def test_truncation_is_caught_by_a_saved_checkpoint(ledger_db: Path, populated: Countersign) -> None:
    saved = populated.checkpoint(populated.login(ADMIN, ADMIN_PW))["note"]
    size = int(saved.splitlines()[1])
    assert Countersign(ledger_db).verify(saved).ok
    # The attacker drops the last two entries and every stored checkpoint that mentions them.
    _sql(ledger_db, "DELETE FROM ledger WHERE seq >= ?", [size - 2])
    _sql(ledger_db, "DELETE FROM checkpoints WHERE size > ?", [size - 2])
    assert Countersign(ledger_db).verify().ok  # nothing inside the database can tell...
    report = Countersign(ledger_db).verify(saved)  # ...but the checkpoint saved outside can
    assert not report.ok and report.first_bad_seq == size - 2
    assert "truncated" in str(report.first_problem)


def test_truncation_with_stored_checkpoint_left_behind(ledger_db: Path, populated: Countersign) -> None:
    populated.checkpoint(populated.login(ADMIN, ADMIN_PW))
    size = Countersign(ledger_db).verify().size
    _sql(ledger_db, "DELETE FROM ledger WHERE seq >= ?", [size - 1])
    report = Countersign(ledger_db).verify()
    assert not report.ok and report.first_bad_seq == size - 1


def test_saved_checkpoint_proves_append_only_growth(ledger_db: Path, populated: Countersign) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    saved = populated.checkpoint(admin)["note"]
    populated.grant(admin, "dana", "ml_lead")
    populated.revoke(admin, "dana", "ml_lead")
    report = Countersign(ledger_db).verify(saved)
    assert report.ok
    assert report.external_checkpoint["ok"] and report.external_checkpoint["current_size"] == report.size


def test_rewritten_history_with_a_new_service_key_fails_against_saved_checkpoint(
    tmp_path: Path, ledger_db: Path, populated: Countersign
) -> None:
    saved = populated.checkpoint(populated.login(ADMIN, ADMIN_PW))["note"]
    # A whole new database with the same origin: internally consistent, but not the ledger the checkpoint saw.
    other = Countersign.init(tmp_path / "other.duckdb", admin=ADMIN, password=ADMIN_PW, origin="test.example/log")
    assert other.verify().ok
    report = other.verify(saved)
    assert not report.ok
    assert "not a checkpoint signed by this ledger" in str(report.first_problem)


def test_forged_checkpoint_note_is_detected(ledger_db: Path) -> None:
    _sql(ledger_db, "UPDATE checkpoints SET note = replace(note, 'test.example/log\n', 'test.example/log\n')")
    note = _sql(ledger_db, "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")[0][0]
    lines = note.split("\n")
    lines[2] = base64.b64encode(b"\x11" * 32).decode()
    _sql(ledger_db, "UPDATE checkpoints SET note = ? WHERE note = ?", ["\n".join(lines), note])
    assert not Countersign(ledger_db).verify().ok


def test_parallel_and_serial_verification_agree(ledger_db: Path, populated: Countersign) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    for _ in range(10):
        populated.grant(admin, "aude", "ml_lead")
        populated.revoke(admin, "aude", "ml_lead")
    con = duckdb.connect(str(ledger_db))
    from core.storage.duckdb_store import Tx

    cols = Tx(con).ledger_columns()
    checkpoints = Tx(con).checkpoints()
    con.close()
    serial = verify_ledger(cols, checkpoints, "test.example/log", jobs=1)
    parallel = verify_ledger(cols, checkpoints, "test.example/log", jobs=2, parallel_threshold=1)
    assert serial.ok and parallel.ok and serial.root == parallel.root
    cols["actor"][7] = "mallory"
    bad = verify_ledger(cols, checkpoints, "test.example/log", jobs=2, parallel_threshold=1)
    assert not bad.ok and bad.first_bad_seq == 7


@pytest.mark.parametrize("chunk_size", [1, 2, 5])
def test_chunked_reading_finds_the_same_problems(ledger_db: Path, chunk_size: int) -> None:
    assert Countersign(ledger_db).verify(chunk_size=chunk_size).ok
    _sql(ledger_db, "DELETE FROM ledger WHERE seq = 4")
    whole = Countersign(ledger_db).verify(chunk_size=1000)
    chunked = Countersign(ledger_db).verify(chunk_size=chunk_size)
    assert not chunked.ok and chunked.first_bad_seq == whole.first_bad_seq == 4
    assert chunked.root == whole.root


def test_a_row_moved_far_past_the_end_is_reached_without_walking_the_gap(ledger_db: Path) -> None:
    """Chunks are seq ranges; a forged seq of 10**15 must not make verify step through 10**14 empty ranges."""
    _sql(ledger_db, "UPDATE ledger SET seq = 1000000000000000 WHERE seq = 3")
    report = Countersign(ledger_db).verify(chunk_size=10)
    assert not report.ok and report.first_bad_seq == 3
    assert any(p.seq == 10**15 for p in report.problems)


# ---------------------------------------------------------------------------------------------- identity and time
def _append_signed(db: Path, signer: Signer, actor: str, action: str, subject: str, payload: dict,
                   role: str | None = None) -> int:
    """Append a well-formed, correctly chained entry by ``actor`` signed by ``signer`` (a forger with file access)."""
    seq, prev, ts = _sql(db, "SELECT seq, leaf_hash, ts FROM ledger ORDER BY seq DESC LIMIT 1")[0]
    body = {"v": 1, "seq": seq + 1, "ts": ts, "actor": actor, "role": role, "action": action, "subject": subject,
            "payload": payload, "prev": prev, "key_id": signer.key_id}
    entry = canonical_bytes(body)
    _sql(db, "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        seq + 1, ts, actor, role, action, subject, canonical_bytes(payload).decode(), prev, leaf_hash(entry).hex(),
        signer.key_id, base64.b64encode(signer.sign(entry)).decode(), entry.decode()])
    return seq + 1


@pytest.fixture
def keyring(populated: Countersign, db_path: Path) -> dict[str, Signer]:
    """Every key the ledger registered, by label: each user's, dana's rotated-out one, and the service's."""
    from core.ledger.service_key import load_service_signer

    sessions = {name: populated.login(name, password) for name, (_roles, password) in USERS.items()}
    sessions[ADMIN] = populated.login(ADMIN, ADMIN_PW)
    ring = {name: s.signer for name, s in sessions.items()}
    ring["dana (rotated out)"] = ring["dana"]
    ring["dana"] = populated.rotate_key(sessions["dana"], USERS["dana"][1])[0].signer
    with populated.store.reader() as tx:
        ring["service"] = load_service_signer(tx, populated.path)
    assert Countersign(db_path).verify().ok
    return ring


def test_every_key_but_the_actors_current_one_is_refused(keyring: dict[str, Signer], db_path: Path,
                                                         tmp_path: Path) -> None:
    """An entry by dana verifies only under dana's key of that moment: not under another user's (current or
    retired), not under the service key, not under her own retired key."""
    expected = {"service": "signed by the service key", "dana (rotated out)": "outside its validity"}
    for label, signer in keyring.items():
        copy = tmp_path / f"{label.replace(' ', '_')}.duckdb"
        for suffix in ("", ".service-secret"):
            copy.with_name(copy.name + suffix).write_bytes(db_path.with_name(db_path.name + suffix).read_bytes())
        seq = _append_signed(copy, signer, "dana", "model.annotated", "model:m@1", {"note": "by dana?"})
        report = Countersign(copy).verify()
        if label == "dana":
            assert report.ok, report.problems
            continue
        assert not report.ok and report.first_bad_seq == seq, (label, report.problems)
        what = expected.get(label, f"entry by 'dana' is signed with '{label}''s key")
        assert any(p.seq == seq and what in p.what for p in report.problems), (label, report.problems)


def test_a_rotation_signed_by_the_new_key_is_refused(keyring: dict[str, Signer], db_path: Path) -> None:
    from core.identity import users as identity

    new = identity.new_key("lee", "lee-new-password")
    seq = _append_signed(db_path, Signer(new.key_id, new.private_key), "lee", "user.key_rotated", "user:lee",
                         {"name": "lee", "previous_key_id": keyring["lee"].key_id, **new.payload("lee")})
    report = Countersign(db_path).verify()
    assert not report.ok and report.first_bad_seq == seq
    assert "outside its validity" in str(report.first_problem)


def test_a_new_key_cannot_sign_its_own_registration(keyring: dict[str, Signer], db_path: Path) -> None:
    from core.identity import users as identity

    new = identity.new_key("mallory", "mallory-password")
    seq = _append_signed(db_path, Signer(new.key_id, new.private_key), "mallory", "user.added", "user:mallory",
                         {"name": "mallory", "roles": ["admin"], **new.payload("mallory")}, role="admin")
    report = Countersign(db_path).verify()
    assert not report.ok and report.first_bad_seq == seq
    assert "outside its validity" in str(report.first_problem)


def test_a_retired_key_stays_valid_for_what_it_signed_before(keyring: dict[str, Signer], db_path: Path) -> None:
    """Rotation retires a key from the next entry on; entries it signed while valid still verify."""
    rows = _sql(db_path, "SELECT seq, key_id FROM ledger WHERE actor = 'dana' ORDER BY seq")
    old = keyring["dana (rotated out)"].key_id
    assert [k for _s, k in rows] == [old, old]  # her enrolment (self-signed) and the rotation, by the old key
    assert Countersign(db_path).verify().ok


def test_a_key_registered_by_someone_without_the_role_they_claim_is_refused(keyring: dict[str, Signer],
                                                                            db_path: Path) -> None:
    """dana, signing with her own valid key, cannot mint an admin account by claiming the admin role."""
    from core.identity import users as identity

    new = identity.new_key("mallory", "mallory-password")
    seq = _append_signed(db_path, keyring["dana"], "dana", "user.added", "user:mallory",
                         {"name": "mallory", "roles": ["admin"], **new.payload("mallory")}, role="admin")
    report = Countersign(db_path).verify()
    assert not report.ok and report.first_bad_seq == seq
    assert "'dana' acted as 'admin' without holding that role" in str(report.first_problem)


@pytest.mark.parametrize("action", ["user.added", "user.role_granted"])
def test_user_management_claiming_no_role_is_refused(keyring: dict[str, Signer], db_path: Path, action: str) -> None:
    """Claiming no role at all does not let dana's valid key mint an account or a grant either."""
    from core.identity import users as identity

    new = identity.new_key("mallory", "mallory-password")
    payload = {"name": "mallory", "roles": ["admin"], **new.payload("mallory")} if action == "user.added" else \
        {"name": "dana", "role": "admin"}
    seq = _append_signed(db_path, keyring["dana"], "dana", action, "user:mallory", payload)
    report = Countersign(db_path).verify()
    assert not report.ok and report.first_bad_seq == seq
    assert f"{action} by 'dana' acting as None" in str(report.first_problem)
