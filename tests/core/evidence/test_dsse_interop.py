"""DSSE envelopes against securesystemslib, in both directions, and DSSE's verification rules.

``core.evidence.attest`` makes the envelopes and opens them for the app; ``core.evidence.bundle_verify`` (the
stand-alone
``verify.py``) opens those of an exported bundle. securesystemslib 1.x (``securesystemslib.dsse.Envelope``) is a
DSSE implementation of the format's own maintainers. Checked here: an envelope made by ``core.evidence.attest``
verifies in
securesystemslib; one made by securesystemslib (an Ed25519 key whose keyid is a Countersign key id) opens in
``core.evidence.attest.open_envelope`` and in the bundle verifier's envelope opener; both accept URL-safe base64 (DSSE:
"verifiers MUST accept either"), skip a signature by an unknown key and a bad signature beside a good one (DSSE's
multi-signature rule), and refuse a tampered payload. Then a real export whose manifest and statement envelopes are
rewritten that way still verifies, in ``verify_bundle`` and in its ``verify.py``, while a signature by another key
of the ledger is still refused.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from core.demo import data as demo_data
from core.evidence import attest, bundle_verify, report
from core.evidence.bundle_verify import BundleError, decode_dsse_base64, parse_envelope, verify_bundle
from core.identity.keys import key_id_of, public_bytes
from core.identity.users import Session
from core.ledger.chain import Signer
from core.tlog.canonical import canonical_bytes
from tests.conftest import ADMIN, ADMIN_PW, USERS, _copy_db

#: "?" and "~" runs make both "/" and "+" appear in the base64 of the payload, so its URL-safe spelling differs.
STATEMENT = attest.statement("model:scorer@1", "ab" * 32, attest.EVALUATION_PREDICATE,
                             {"evaluation_id": "ev-1", "note": "?" * 30 + "~" * 30})
BODY = canonical_bytes(STATEMENT)


def _key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def _signer(seed: int) -> Signer:
    private = _key(seed)
    return Signer(key_id_of(public_bytes(private)), private)


def _sslib(seed: int, keyid: str | None = None) -> CryptoSigner:
    """A securesystemslib Ed25519 signer; its keyid is the Countersign key id unless given."""
    private = _key(seed)
    return CryptoSigner(private, SSlibKey.from_crypto(private.public_key(), keyid or key_id_of(public_bytes(private)),
                                                      "ed25519"))


def _sslib_envelope(*signers: CryptoSigner, body: bytes = BODY) -> dict[str, Any]:
    env = Envelope(body, attest.PAYLOAD_TYPE, {})
    for signer in signers:
        env.sign(signer)
    return env.to_dict()


def _sslib_verify(env: dict[str, Any], *seeds: int, threshold: int = 1) -> dict[str, Any]:
    keys = [_sslib(seed).public_key for seed in seeds]
    return Envelope.from_dict(copy.deepcopy(env)).verify(keys, threshold)  # from_dict rewrites the dict it reads


def _keys(*seeds: int) -> dict[str, bytes]:
    return {key_id_of(public_bytes(_key(s))): public_bytes(_key(s)) for s in seeds}


def _bundle_key(seed: int, owner: str = "dana") -> bundle_verify._Key:
    public = public_bytes(_key(seed))
    return bundle_verify._Key(key_id_of(public), owner, public, 0)


def _open_in_bundle(env: dict[str, Any], seed: int, registered: tuple[int, ...] = ()) -> bytes:
    """The bundle verifier's opener, requiring ``seed``'s key; ``registered``: other keys the ledger registered."""
    key = _bundle_key(seed)
    others = {k.key_id: k for k in (_bundle_key(s, f"user{s}") for s in registered)}
    return bundle_verify._open_envelope(env, key, "statement", {key.key_id: key, **others})


def _url_safe(text: str, *, padded: bool = True) -> str:
    text = text.replace("+", "-").replace("/", "_")
    return text if padded else text.rstrip("=")


def _respell(env: dict[str, Any], *, padded: bool = True) -> dict[str, Any]:
    return dict(env, payload=_url_safe(env["payload"], padded=padded),
                signatures=[dict(s, sig=_url_safe(s["sig"], padded=padded)) for s in env["signatures"]])


def _bad_signature(keyid: str) -> dict[str, str]:
    return {"keyid": keyid, "sig": base64.b64encode(bytes(64)).decode()}


def _with_payload(env: dict[str, Any], body: bytes) -> dict[str, Any]:
    return dict(env, payload=base64.b64encode(body).decode())


# ----------------------------------------------------------------------------------------------- both directions
def test_an_attest_envelope_verifies_in_securesystemslib() -> None:
    env = attest.envelope(STATEMENT, _signer(1))
    accepted = _sslib_verify(env, 1)
    assert list(accepted) == [_signer(1).key_id]
    assert Envelope.from_dict(copy.deepcopy(env)).payload == BODY
    assert _sslib_verify(env, 2, 1).keys() == {_signer(1).key_id}  # another trusted key signed nothing: fine
    with pytest.raises(VerificationError):
        _sslib_verify(env, 2)
    with pytest.raises(VerificationError):
        _sslib_verify(_with_payload(env, BODY.replace(b"ev-1", b"ev-2")), 1)


def test_a_securesystemslib_envelope_opens_in_attest_and_in_the_bundle_verifier() -> None:
    env = _sslib_envelope(_sslib(1))
    assert env["signatures"] == [{"keyid": _signer(1).key_id, "sig": env["signatures"][0]["sig"]}]
    assert env == attest.envelope(STATEMENT, _signer(1))  # Ed25519 is deterministic: the very same envelope
    assert attest.open_envelope(env, _keys(1)) == STATEMENT
    assert _open_in_bundle(env, 1) == BODY
    with pytest.raises(ValueError, match="0 trusted key"):
        attest.open_envelope(env, _keys(2))
    with pytest.raises(BundleError, match=f"signed by key '{_signer(1).key_id}', not by dana's key"):
        _open_in_bundle(env, 2)


def test_url_safe_envelopes_open_everywhere() -> None:
    env = _sslib_envelope(_sslib(1))
    for padded in (True, False):
        respelled = _respell(env, padded=padded)
        assert respelled["payload"] != env["payload"] and ("-" in respelled["payload"] and "_" in respelled["payload"])
        assert attest.open_envelope(respelled, _keys(1)) == STATEMENT
        assert _open_in_bundle(respelled, 1) == BODY
    assert list(_sslib_verify(_respell(env), 1)) == [_signer(1).key_id]  # securesystemslib reads padded URL-safe


def test_an_extra_signature_by_an_unknown_key_is_skipped() -> None:
    stranger = _sslib(9, keyid="sigstore-or-ci-key")
    for env in (_sslib_envelope(stranger, _sslib(1)), _sslib_envelope(_sslib(1), stranger)):
        assert len(env["signatures"]) == 2
        assert attest.open_envelope(env, _keys(1)) == STATEMENT
        assert _open_in_bundle(env, 1) == BODY
        assert list(_sslib_verify(env, 1)) == [_signer(1).key_id]
        with pytest.raises(ValueError, match="'sigstore-or-ci-key' \\(unknown key\\)"):
            attest.open_envelope(env, _keys(2))


def test_a_bad_signature_beside_a_good_one_is_skipped() -> None:
    good = _sslib_envelope(_sslib(1))
    keyid = _signer(1).key_id
    for signatures in ([_bad_signature(keyid), *good["signatures"]], [*good["signatures"], _bad_signature(keyid)]):
        env = dict(good, signatures=signatures)
        assert attest.open_envelope(env, _keys(1)) == STATEMENT
        assert _open_in_bundle(env, 1) == BODY
    # Two trusted keys, the first signature bad: securesystemslib skips it too.
    env = _sslib_envelope(_sslib(1), _sslib(2))
    env["signatures"][0] = _bad_signature(_signer(1).key_id)
    assert attest.open_envelope(env, _keys(1, 2)) == STATEMENT
    assert list(_sslib_verify(env, 1, 2)) == [_signer(2).key_id]
    # With no good one left, it fails.
    only_bad = dict(good, signatures=[_bad_signature(keyid)])
    with pytest.raises(ValueError, match=f"0 trusted key.*'{keyid}' \\(does not verify\\)"):
        attest.open_envelope(only_bad, _keys(1))
    with pytest.raises(BundleError, match=f"signature by dana's key {keyid} does not verify"):
        _open_in_bundle(only_bad, 1)


def test_a_tampered_payload_fails_everywhere() -> None:
    for env in (attest.envelope(STATEMENT, _signer(1)), _sslib_envelope(_sslib(1))):
        for tampered in (_with_payload(env, BODY.replace(b"ev-1", b"ev-2")), _respell(_with_payload(env, BODY + b" "))):
            with pytest.raises(ValueError, match="0 trusted key"):
                attest.open_envelope(tampered, _keys(1))
            with pytest.raises(BundleError, match="does not verify"):
                _open_in_bundle(tampered, 1)
            with pytest.raises(VerificationError):
                _sslib_verify(tampered, 1)
        wrong_type = dict(env, payloadType="application/json")
        with pytest.raises(ValueError, match="payloadType"):
            attest.open_envelope(wrong_type, _keys(1))
        with pytest.raises(BundleError, match="payloadType"):
            _open_in_bundle(wrong_type, 1)


# ----------------------------------------------------------------------------------------------- thresholds, keyids
def test_threshold_counts_distinct_trusted_keys() -> None:
    env = _sslib_envelope(_sslib(1), _sslib(2), _sslib(9, keyid="stranger"))
    assert attest.open_envelope(env, _keys(1, 2), threshold=2) == STATEMENT
    assert len(_sslib_verify(env, 1, 2, threshold=2)) == 2
    with pytest.raises(ValueError, match="signatures by 1 trusted key\\(s\\) verify, 2 required"):
        attest.open_envelope(dict(env, signatures=[env["signatures"][0], _bad_signature(_signer(2).key_id)]),
                             _keys(1, 2), threshold=2)
    # One key under two key ids is one key: its two signatures do not make a quorum.
    public = public_bytes(_key(1))
    twice = dict(env, signatures=[env["signatures"][0], dict(env["signatures"][0], keyid="alias")])
    with pytest.raises(ValueError, match="exceeds the 1 distinct trusted keys"):
        attest.open_envelope(twice, {_signer(1).key_id: public, "alias": public}, threshold=2)
    with pytest.raises(ValueError, match="1 trusted key\\(s\\) verify, 2 required"):
        attest.open_envelope(twice, {_signer(1).key_id: public, "alias": public, **_keys(3)}, threshold=2)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            attest.open_envelope(env, _keys(1), threshold=bad)  # type: ignore[arg-type]


def test_a_signature_without_keyid() -> None:
    """DSSE's keyid is optional ("An unset field MUST be treated the same as set-but-empty"): ``open_envelope``
    tries every trusted key; the bundle verifier counts only a signature naming the key the evidence names."""
    env = attest.envelope(STATEMENT, _signer(1))
    for signature in ({"sig": env["signatures"][0]["sig"]}, {"keyid": "", "sig": env["signatures"][0]["sig"]},
                      {"keyid": None, "sig": env["signatures"][0]["sig"]}):
        unnamed = dict(env, signatures=[signature])
        assert attest.open_envelope(unnamed, _keys(2, 1)) == STATEMENT
        with pytest.raises(BundleError, match="signed by key '', not by dana's key"):
            _open_in_bundle(unnamed, 1)


def test_the_bundle_verifier_still_refuses_another_registered_key() -> None:
    """Only the named key counts: a valid signature by another key of the ledger is refused, alone or beside the
    named one; a signature claiming such a key that does not verify is skipped like any other bad signature."""
    other = _signer(2).key_id
    alone = _sslib_envelope(_sslib(2))
    both = _sslib_envelope(_sslib(1), _sslib(2))
    for env in (alone, both):
        with pytest.raises(BundleError, match=f"signed by key '{other}', not by dana's key .*\\(user2's key"):
            _open_in_bundle(env, 1, registered=(2,))
    assert _open_in_bundle(both, 1) == BODY  # key 2 unknown to this ledger: skipped
    forged = dict(both, signatures=[both["signatures"][0], _bad_signature(other)])
    assert _open_in_bundle(forged, 1, registered=(2,)) == BODY


# ----------------------------------------------------------------------------------------------- decoding
@pytest.mark.parametrize(("text", "raw"), [
    ("", b""), ("Pz8/fn5+", b"???~~~"), ("Pz8_fn5-", b"???~~~"), ("QQ==", b"A"), ("QQ", b"A"), ("QUI=", b"AB"),
    ("QUI", b"AB"), ("_w==", b"\xff"), ("_w", b"\xff"), ("/w", b"\xff"),
])
def test_decoding_accepts_both_alphabets_padded_or_not(text: str, raw: bytes) -> None:
    assert decode_dsse_base64(text) == raw


@pytest.mark.parametrize("text", [
    "Pz8/fn5-",  # both alphabets
    "QR==", "QUJ=",  # non-zero pad bits (RFC 4648 §3.5)
    "Q", "QUJDR", "QQ=", "QQ===", "QUI==", "QUJD====", "=QQ=", "QQ==QQ==",  # lengths and padding
    "QU I=", "QUI=\n", "QUI*", None, 12, b"QUI=",
])
def test_decoding_refuses_anything_else(text: Any) -> None:  # noqa: ANN401
    with pytest.raises(ValueError):
        decode_dsse_base64(text)


def test_an_undecodable_signature_rejects_the_envelope_whatever_its_key() -> None:
    """DSSE: "Reject if decoding fails"; securesystemslib and go-securesystemslib do, even for an unknown keyid."""
    env = attest.envelope(STATEMENT, _signer(1))
    broken = dict(env, signatures=[*env["signatures"], {"keyid": "stranger", "sig": "not base64!"}])
    with pytest.raises(ValueError, match="signature 2 \\(keyid 'stranger'\\)"):
        attest.open_envelope(broken, _keys(1))
    with pytest.raises(BundleError, match="signature 2"):
        _open_in_bundle(broken, 1)
    with pytest.raises(ValueError):
        Envelope.from_dict(copy.deepcopy(broken))
    without_payload = {k: v for k, v in env.items() if k != "payload"}
    for malformed in ({**env, "signatures": []}, {**env, "signatures": ["sig"]}, {**env, "signatures": [{}]},
                      {**env, "signatures": [{"keyid": 5, "sig": ""}]}, without_payload, [env]):
        with pytest.raises(ValueError):
            parse_envelope(malformed)


# ----------------------------------------------------------------------------------------------- a real export
PASSWORDS = {ADMIN: ADMIN_PW, **{name: password for name, (_roles, password) in USERS.items()}}
POLICY = """\
policy: house
version: 1
description: Performance only.
max_evaluation_age_days: 30
checks:
  - id: auc
    metric: roc_auc
    gte: 0.5
approvals:
  staging: {roles: [ml_lead]}
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory, _populated_template: Path) -> tuple[Path, dict[str, Session]]:
    """A real export by aude: an evaluation statement by dana and an approval statement by lee."""
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("dsse-export")
    cs = _copy_db(_populated_template, folder / "ledger.duckdb")
    s = {name: cs.login(name, password) for name, password in PASSWORDS.items()}
    data = folder / "german.csv"
    demo_data.prepare_german(demo_data.DATA_DIR / "german-credit" / "german.data",
                             demo_data.DATA_DIR / "german-credit" / "values_maps.json", data)
    frame = pd.read_csv(data)
    features = demo_data.GERMAN_NUMERIC + demo_data.GERMAN_CATEGORICAL
    model = demo_data._pipeline(demo_data.GERMAN_NUMERIC, demo_data.GERMAN_CATEGORICAL,
                                LogisticRegression(max_iter=2000))
    model.fit(frame[features], frame[demo_data.GERMAN_LABEL])
    sio.dump(model, folder / "german.skops")
    (folder / "house.yaml").write_text(POLICY, encoding="utf-8")
    cs.register_dataset(s["dana"], data, name="german-credit", version="1",
                        datasheet=demo_data.DATA_DIR / "datasheets" / "german-credit.yaml")
    cs.add_policy(s["chloe"], folder / "house.yaml")
    cs.register_model(s["dana"], folder / "german.skops", name="scorer", version="1", trained_on=["german-credit@1"],
                      card=demo_data.DATA_DIR / "cards" / "german-credit.yaml", policy="house")
    cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=demo_data.GERMAN_LABEL)
    request = cs.promote(s["dana"], "scorer@1", to="staging", reason="Passes the house gate.")
    cs.approve(s["lee"], request["request_id"], comment="Evaluation reviewed.")
    cs.report(s["aude"], "scorer", out=folder / "export")
    return folder / "export", s


def _interop_spelling(path: Path, signer: Signer) -> None:
    """Rewrite an envelope as another DSSE producer might: a stranger's signature first, a bad one claiming the
    signer's key, then the genuine signature — all in unpadded URL-safe base64."""
    env = json.loads(path.read_text())
    stranger = _sslib_envelope(_sslib(9, keyid="ci.example/key-1"), body=decode_dsse_base64(env["payload"]))
    env["signatures"] = [*stranger["signatures"], _bad_signature(signer.key_id), *env["signatures"]]
    path.write_text(json.dumps(_respell(env, padded=False)))


def _resign_manifest(bundle: Path, signer: Signer) -> None:
    """Rebuild the manifest over the files as they now are (as report.py does) and sign it with ``signer``."""
    old = json.loads((bundle / bundle_verify.MANIFEST).read_bytes())
    files = {p.relative_to(bundle).as_posix(): bundle_verify._hex_sha256(p.read_bytes())
             for p in sorted(bundle.rglob("*")) if p.is_file()
             and p.relative_to(bundle).as_posix() not in (bundle_verify.MANIFEST, bundle_verify.MANIFEST_ENVELOPE)}
    manifest = attest.statement(f"report:{old['predicate']['model']}",
                                bundle_verify._hex_sha256(canonical_bytes(files)), report.MANIFEST_PREDICATE,
                                dict(old["predicate"], files=files))
    manifest["subject"] = [{"name": n, "digest": {"sha256": d}} for n, d in files.items()]
    (bundle / bundle_verify.MANIFEST).write_bytes(canonical_bytes(manifest))
    (bundle / bundle_verify.MANIFEST_ENVELOPE).write_text(json.dumps(attest.envelope(manifest, signer)))


def _statements(bundle: Path) -> dict[str, Path]:
    """Statement files by the name of who signed them."""
    found = {}
    for path in sorted((bundle / "evidence" / "statements").glob("*.json")):
        stmt = json.loads(decode_dsse_base64(json.loads(path.read_text())["payload"]))
        found[stmt["predicate"].get("approver") or "dana"] = path
    return found


def _verify_py(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(bundle / "verify.py"), str(bundle)], capture_output=True, text=True,
                          timeout=120)


def test_an_export_with_interop_spelled_envelopes_verifies(export: tuple[Path, dict[str, Session]],
                                                           tmp_path: Path) -> None:
    bundle, s = export
    copy_ = tmp_path / "respelled"
    shutil.copytree(bundle, copy_)
    statements = _statements(copy_)
    assert set(statements) == {"dana", "lee"}
    for name, path in statements.items():
        _interop_spelling(path, s[name].signer)
    _resign_manifest(copy_, s["aude"].signer)
    _interop_spelling(copy_ / bundle_verify.MANIFEST_ENVELOPE, s["aude"].signer)
    summary = verify_bundle(copy_)
    assert summary["statements"] == 2 and summary["signers"]["statements"] == {"dana": 1, "lee": 1}
    assert summary["exporter"]["name"] == "aude"
    result = _verify_py(copy_)
    assert result.returncode == 0 and result.stdout.startswith("OK: manifest signed by aude"), result.stderr
    for name, path in statements.items():  # the app's own check of the statements agrees
        keys = {s[name].signer.key_id: public_bytes(s[name].signer.private_key)}
        assert attest.open_envelope(json.loads(path.read_text()), keys)["_type"] == attest.STATEMENT_TYPE


def test_an_export_still_refuses_a_statement_signed_by_another_ledger_key(export: tuple[Path, dict[str, Session]],
                                                                         tmp_path: Path) -> None:
    """Leniency toward other producers does not reach identities: lee's statement signed, in URL-safe base64 and
    beside a stranger's signature, by chloe's key instead of his fails, in verify_bundle and in verify.py."""
    bundle, s = export
    copy_ = tmp_path / "forged"
    shutil.copytree(bundle, copy_)
    path = _statements(copy_)["lee"]
    env = json.loads(path.read_text())
    body = decode_dsse_base64(env["payload"])
    chloe = s["chloe"].signer
    env["signatures"] = [{"keyid": chloe.key_id,
                          "sig": base64.b64encode(chloe.sign(attest.pae(attest.PAYLOAD_TYPE, body))).decode()}]
    path.write_text(json.dumps(env))
    _interop_spelling(path, chloe)
    _resign_manifest(copy_, s["aude"].signer)
    with pytest.raises(BundleError, match=f"signed by key '{chloe.key_id}', not by lee's key"):
        verify_bundle(copy_)
    result = _verify_py(copy_)
    assert result.returncode == 1 and "not by lee's key" in result.stderr
    # Without chloe's valid signature, nothing of lee's is left to count.
    env["signatures"] = [_bad_signature(s["lee"].signer.key_id)]
    path.write_text(json.dumps(env))
    _resign_manifest(copy_, s["aude"].signer)
    with pytest.raises(BundleError, match="signature by lee's key .* does not verify"):
        verify_bundle(copy_)
