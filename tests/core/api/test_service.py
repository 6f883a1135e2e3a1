"""Identities, roles, refusals and the one-transaction rule, through the public API."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from cryptography.hazmat.primitives import serialization

from core.api.countersign import Countersign
from core.errors import BadInput, NotAuthenticated, PermissionDenied, SeparationOfDuties
from tests.conftest import ADMIN, ADMIN_PW, USERS


def _ledger(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute("SELECT seq, actor, role, action, subject, payload FROM ledger ORDER BY seq").fetchall()
    finally:
        con.close()


def _count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db))
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()


def test_init_writes_genesis_admin_and_a_checkpoint(cs: Countersign, db_path: Path) -> None:
    rows = _ledger(db_path)
    assert [r[3] for r in rows] == ["ledger.initialized", "user.added"]
    assert rows[1][1:3] == (ADMIN, "admin")
    assert cs.latest_checkpoint()["size"] == 2
    assert cs.verify().ok


def test_init_refuses_an_existing_database(cs: Countersign, db_path: Path) -> None:
    before = db_path.read_bytes()
    with pytest.raises(BadInput, match="already exists"):
        Countersign.init(db_path, admin="other", password="other-password")
    assert db_path.read_bytes() == before


def test_init_rejects_bad_input_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.duckdb"
    with pytest.raises(BadInput, match="password too short"):
        Countersign.init(target, admin="root", password="short")
    with pytest.raises(BadInput, match="invalid user name"):
        Countersign.init(target, admin="Not Valid", password="long-enough")
    assert list(tmp_path.iterdir()) == []


def test_state_change_and_its_entry_commit_together(populated: Countersign, db_path: Path) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    before = _ledger(db_path)
    result = populated.grant(admin, "dana", "ml_lead")
    after = _ledger(db_path)
    assert len(after) == len(before) + 1
    seq, actor, role, action, subject, payload = after[-1]
    assert (seq, actor, role, action, subject) == (result["seq"], ADMIN, "admin", "user.role_granted", "user:dana")
    assert json.loads(payload) == {"name": "dana", "role": "ml_lead"}
    assert populated.login("dana", USERS["dana"][1]).roles == ("data_scientist", "ml_lead")


def test_bad_input_writes_nothing(populated: Countersign, db_path: Path) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    before = _ledger(db_path), _count(db_path, "user_roles")
    with pytest.raises(BadInput, match="already exists"):
        populated.add_user(admin, "dana", ["auditor"])
    with pytest.raises(BadInput, match="already has the role"):
        populated.grant(admin, "dana", "data_scientist")
    with pytest.raises(BadInput, match="no user named"):
        populated.grant(admin, "nobody", "auditor")
    with pytest.raises(BadInput, match="unknown role"):
        populated.grant(admin, "dana", "superuser")
    assert (_ledger(db_path), _count(db_path, "user_roles")) == before


def test_nobody_changes_their_own_roles_and_admin_approves_nothing(populated: Countersign, db_path: Path) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    before = _count(db_path, "user_roles")
    for change in (lambda: populated.grant(admin, ADMIN, "ml_lead"), lambda: populated.grant(admin, ADMIN, "auditor"),
                   lambda: populated.revoke(admin, ADMIN, "admin")):
        with pytest.raises(SeparationOfDuties, match="themselves|their own roles"):
            change()
    with pytest.raises(SeparationOfDuties, match="admin is exclusive of ml_lead"):
        populated.grant(admin, "lee", "admin")  # lee is an ML lead
    with pytest.raises(SeparationOfDuties, match="admin is exclusive of compliance_officer"):
        populated.add_user(admin, "eve", ["admin", "compliance_officer"])
    populated.grant(admin, "dana", "admin")
    dana = populated.login("dana", USERS["dana"][1])
    with pytest.raises(SeparationOfDuties, match="themselves"):
        populated.grant(dana, "dana", "ml_lead")  # self-grant and exclusivity both forbid it
    assert _count(db_path, "user_roles") == before + 1
    denied = [json.loads(row[5]) for row in _ledger(db_path) if row[3] == "access.denied"]
    assert len(denied) >= 4 and all("separation of duties" in d["rule"] for d in denied[-4:])
    assert populated.verify().ok


def test_wrong_password_is_refused_and_only_the_refusal_is_written(populated: Countersign, db_path: Path) -> None:
    before = _ledger(db_path)
    with pytest.raises(NotAuthenticated) as err:
        populated.login("dana", "not-her-password")
    assert err.value.exit_code == 3
    after = _ledger(db_path)
    assert after[:-1] == before and len(after) == len(before) + 1
    assert after[-1][1:5] == ("dana", None, "auth.failed", "user:dana")
    assert populated.verify().ok


def test_missing_role_is_refused_naming_the_role_and_only_the_refusal_is_written(
    populated: Countersign, db_path: Path
) -> None:
    dana = populated.login("dana", USERS["dana"][1])
    before, users_before = _ledger(db_path), _count(db_path, "users")
    with pytest.raises(PermissionDenied) as err:
        populated.add_user(dana, "eve", ["admin"])
    assert err.value.exit_code == 3
    assert "admin" in err.value.message and err.value.needed_roles == ("admin",)
    after = _ledger(db_path)
    assert after[:-1] == before
    assert after[-1][3] == "access.denied" and after[-1][1] == "dana"
    assert json.loads(after[-1][5])["needed_roles"] == ["admin"]
    assert _count(db_path, "users") == users_before
    assert populated.verify().ok


def test_revoked_role_takes_effect_immediately(populated: Countersign) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    populated.grant(admin, "dana", "admin")
    dana = populated.login("dana", USERS["dana"][1])
    populated.revoke(admin, "dana", "admin")
    with pytest.raises(PermissionDenied):  # the session predates the revocation; roles are re-read per action
        populated.grant(dana, "aude", "auditor")


def test_private_keys_and_passwords_are_never_stored_in_clear(populated: Countersign, db_path: Path) -> None:
    dana = populated.login("dana", USERS["dana"][1])
    raw_key = dana.signer.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    blob = db_path.read_bytes()
    assert raw_key not in blob
    for _roles, password in USERS.values():
        assert password.encode() not in blob
    assert ADMIN_PW.encode() not in blob
    secret = db_path.with_name(db_path.name + ".service-secret").read_text().strip()
    assert secret.encode() not in blob


def test_service_secret_is_needed_to_sign_checkpoints(populated: Countersign, db_path: Path, tmp_path: Path) -> None:
    from core.errors import StoreUnavailable

    copy = tmp_path / "stolen.duckdb"
    copy.write_bytes(db_path.read_bytes())  # the file alone, without its secret
    thief = Countersign(copy)
    assert thief.verify().ok  # anyone may verify...
    with pytest.raises(StoreUnavailable, match="service secret"):
        thief.checkpoint(thief.login(ADMIN, ADMIN_PW))  # ...nobody may sign without the secret


def test_password_change_keeps_the_key_and_the_old_password_stops_working(populated: Countersign) -> None:
    dana = populated.login("dana", USERS["dana"][1])
    populated.change_password(dana, "a-brand-new-password")
    with pytest.raises(NotAuthenticated):
        populated.login("dana", USERS["dana"][1])
    again = populated.login("dana", "a-brand-new-password")
    assert again.signer.key_id == dana.signer.key_id
    assert populated.verify().ok


def test_key_rotation_is_ledgered_and_old_key_can_no_longer_sign(populated: Countersign, db_path: Path) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    new_admin, result = populated.rotate_key(admin, ADMIN_PW)
    assert result["previous_key_id"] == admin.signer.key_id != new_admin.signer.key_id
    populated.grant(new_admin, "dana", "auditor")
    assert populated.verify().ok
    keys = populated.keys()
    assert {k["key_id"] for k in keys["users"] if k["owner"] == ADMIN} == {admin.signer.key_id, result["key_id"]}
    # A stale session still holding the old key signs an entry: verification rejects it.
    populated.grant(admin, "dana", "ml_lead")
    report = populated.verify()
    assert not report.ok and "outside its validity" in str(report.first_problem)


def test_log_filters_and_pages(populated: Countersign) -> None:
    aude = populated.login("aude", USERS["aude"][1])
    everything = populated.log(aude, limit=100)
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)
    added = populated.log(aude, limit=100, action="user.added")
    assert {e["subject"] for e in added} == {f"user:{n}" for n in [ADMIN, *USERS]}
    enrolled = populated.log(aude, limit=100, action="user.enrolled")
    assert {e["actor"] for e in enrolled} == set(USERS)  # each user registered their own key
    assert populated.log(aude, limit=100, action="user.*") == sorted(added + enrolled, key=lambda e: -e["seq"])
    assert [e["seq"] for e in populated.log(aude, limit=2, offset=1)] == [e["seq"] for e in everything[1:3]]
    assert all(e["actor"] == ADMIN for e in populated.log(aude, limit=100, actor=ADMIN))


def test_keys_lists_service_verifier_key_and_user_keys(populated: Countersign) -> None:
    from core.tlog.signed_note import open_note, parse_verifier_key

    keys = populated.keys()
    verifier = parse_verifier_key(keys["service"]["verifier_key"])
    assert verifier.name == "test.example/log"
    open_note(populated.latest_checkpoint()["note"], [verifier])  # raises if it does not verify
    assert {k["owner"] for k in keys["users"]} == {ADMIN, *USERS}


def test_checkpoint_every_interval(populated: Countersign) -> None:
    admin = populated.login(ADMIN, ADMIN_PW)
    for _ in range(5):
        populated.grant(admin, "aude", "ml_lead")
        populated.revoke(admin, "aude", "ml_lead")
    sizes = [c["size"] for c in populated._read(lambda tx: tx.checkpoints())]
    assert 8 in sizes and 16 in sizes  # interval 8 in the fixture
    assert populated.verify().checkpoints_verified == len(sizes)
