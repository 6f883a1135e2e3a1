"""Trust boundaries, second pass: what a fresh tester found after the first round, each fixed as a kind.

- a gate evaluation takes a model's answers from the data instead of running its artifact;
- a waiver granted for a check of one policy version carries over to a check of the same id in another version;
- an approval keeps counting after its approver lost the role they approved in;
- a user name with a final newline; names that are not user names shown as actors of failed sign-ins;
- YAML 1.1's other numbers and booleans (``190:20:30``, ``1_0``, ``yes``) and ``gte: true`` read as numbers;
- a small skops file whose ``schema.json`` holds hundreds of thousands of tiny objects;
- a newline in a lineage name drawn as a line of its own in DOT.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.api.countersign import Countersign
from core.catalog.artifacts import check_skops_archive
from core.catalog.lineage import to_dot
from core.errors import BadInput, NotAuthenticated
from core.identity.users import validate_username
from core.inputs.limits import MAX_SKOPS_SCHEMA_NODES
from core.inputs.yamlfile import parse_yaml
from core.policy.rules import parse_policy
from core.releases.promotions import GateRefused
from tests.conftest import ADMIN
from tests.core.releases.test_releases import LABEL, approve_all, cs, refused, s, world  # noqa: F401 - fixtures


def test_gate_evaluation_of_an_artifact_never_takes_answers_from_data(cs: Countersign, s) -> None:  # noqa: F811
    before = cs.evaluations(s["aude"], "scorer@1") if hasattr(cs, "evaluations") else None
    for columns in ({"prediction_column": LABEL}, {"score_column": LABEL},
                    {"prediction_column": LABEL, "score_column": LABEL}):
        with pytest.raises(BadInput, match="has an artifact, so its evaluation runs it") as caught:
            cs.evaluate(s["dana"], "scorer@1", data="german-credit@1", policy="house", label=LABEL, **columns)
        assert "external models" in caught.value.message and "countersign monitor" in caught.value.message
    if before is not None:
        assert cs.evaluations(s["aude"], "scorer@1") == before


def test_a_waiver_holds_for_its_policy_version_only(cs: Countersign, s, world, tmp_path: Path) -> None:  # noqa: F811
    until = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    waiver = cs.waive(s["chloe"], "risky@1", check="auc-excellent", until=until, justification="Pilot.")
    assert cs.promote(s["dana"], "risky@1", to="staging", reason="Under waiver.")["waivers"][0]["id"] == waiver["id"]
    # version 2 keeps the check id but asks something else of it
    text = (world.folder / "strict.yaml").read_text().replace("version: 1", "version: 2")
    text = text.replace("  - id: auc-excellent\n    metric: roc_auc\n    gte: 0.95",
                        "  - id: auc-excellent\n    metric: balanced_accuracy\n    gte: 0.99")
    assert "balanced_accuracy\n    gte: 0.99" in text
    (tmp_path / "strict-v2.yaml").write_text(text)
    cs.add_policy(s["chloe"], tmp_path / "strict-v2.yaml")
    assert not cs.evaluate(s["dana"], "risky@1", data="german-credit@1", policy="strict", label=LABEL)["passed"]
    reasons = refused(cs, s["dana"], "risky@1", to="production")
    text_reasons = " ".join(reasons)
    assert f"waiver {waiver['id']} was granted under strict@1, not the active strict@2" in text_reasons, reasons
    assert "must waive it again" in text_reasons


def test_an_approval_lapses_when_its_approver_loses_the_role(cs: Countersign, s) -> None:  # noqa: F811
    approve_all(cs, cs.promote(s["dana"], "scorer@1", to="staging", reason="Candidate."), s["lee"])
    request = cs.promote(s["dana"], "scorer@1", to="production", reason="Ship it.")
    cs.approve(s["lee"], request["request_id"], comment="Evidence reviewed.")
    cs.revoke(s[ADMIN], "lee", "ml_lead")
    outcome = cs.approve(s["chloe"], request["request_id"], comment="Compliance reviewed.")
    assert outcome["status"] == "pending" and outcome["remaining_roles"] == ["ml_lead"]
    assert outcome["lapsed_approvals"] == [{"approver": "lee", "role": "ml_lead"}]
    # granted again, the old approval still does not count: the role was not held unbroken
    cs.grant(s[ADMIN], "lee", "ml_lead")
    done = cs.approve(s["lena"], request["request_id"], comment="Second ML lead reviewed.")
    assert done["status"] == "approved"


@pytest.mark.parametrize("name", ["lee\n", "lee ", " lee", "Lee", "l\u0435e"])
def test_user_names_are_matched_whole(name: str) -> None:
    with pytest.raises(BadInput, match="invalid user name"):
        validate_username(name)


def test_failed_sign_in_under_an_impossible_name_is_not_its_actor(cs: Countersign, s) -> None:  # noqa: F811
    with pytest.raises(NotAuthenticated):
        cs.login("lee ", "wrong-password")
    entry = cs.log(s["aude"], action="auth.failed", limit=1)[0]
    assert entry["actor"] == "@invalid-name" and entry["payload"]["attempted"] == "lee "
    with pytest.raises(NotAuthenticated):
        cs.login("nobody", "wrong-password")
    assert cs.log(s["aude"], action="auth.failed", limit=1)[0]["actor"] == "nobody"


@pytest.mark.parametrize(("text", "words"), [
    ("version: 190:20:30", "'190:20:30' is an integer only in YAML 1.1"),
    ("version: 1_0", "'1_0' is an integer only in YAML 1.1"),
    ("version: 010", "'010' is an integer only in YAML 1.1"),
    ("version: 0b11", "'0b11' is an integer only in YAML 1.1"),
    ("x: 1_000.5", "'1_000.5' is a number only in YAML 1.1"),
    ("x: 1:30.5", "'1:30.5' is a number only in YAML 1.1"),
    ("x: yes", "'yes' is a boolean only in YAML 1.1"),
    ("x: Off", "'Off' is a boolean only in YAML 1.1"),
])
def test_yaml_1_1_only_numbers_and_booleans_are_refused(text: str, words: str) -> None:
    with pytest.raises(BadInput, match="f.yaml:1: ") as caught:
        parse_yaml(text, "f.yaml")
    assert words in caught.value.message and "quote it" in caught.value.message


@pytest.mark.parametrize(("text", "value"), [("x: 10", 10), ("x: -3", -3), ("x: 0x1F", 31),
                                             ("x: 1.5e+3", 1500.0), ("x: true", True), ("x: 'yes'", "yes"),
                                             ("x: .inf", float("inf"))])
def test_yaml_1_2_numbers_and_booleans_still_read(text: str, value: object) -> None:
    assert parse_yaml(text, "f.yaml")[0]["x"] == value


@pytest.mark.parametrize("threshold", ["gte: true", "lte: false", "between: [true, 1]"])
def test_a_boolean_is_not_a_threshold(threshold: str) -> None:
    text = f"policy: p\nversion: 1\nchecks:\n  - id: a\n    metric: accuracy\n    {threshold}\n"
    with pytest.raises(BadInput, match="is a boolean \\(true/false\\), not a number"):
        parse_policy(text, "p.yaml")


def _skops_with_objects(count: int, tmp_path: Path) -> Path:
    schema = {"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode",
              "content": {"junk": [{} for _ in range(count)]}}
    path = tmp_path / f"objects-{count}.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema, separators=(",", ":")))
    return path


def test_a_skops_schema_of_many_tiny_objects_is_refused_before_skops_reads_it(tmp_path: Path) -> None:
    wide = _skops_with_objects(MAX_SKOPS_SCHEMA_NODES + 10, tmp_path)
    assert wide.stat().st_size < 2_000_000
    with wide.open("rb") as handle, pytest.raises(BadInput, match="JSON objects; the limit is 200,000"):
        check_skops_archive(handle, wide)
    fits = _skops_with_objects(1_000, tmp_path)
    with fits.open("rb") as handle:
        check_skops_archive(handle, fits)


def test_a_newline_in_a_lineage_name_cannot_add_a_line_to_a_dot_label() -> None:
    dot = to_dot({"root": "ol-dataset:n/x", "edges": [], "nodes": [
        {"id": "ol-dataset:n/x", "kind": "ol-dataset", "label": "x\nsha256:forged", "digest": "ab" * 32}]})
    label = next(line for line in dot.splitlines() if "[label=" in line)
    assert "x\\\\nsha256:forged" in label and label.count("sha256:") == 2  # the forged text stays on the name's line
    assert io.StringIO(dot).read().count("\n") == len(dot.splitlines())


def test_gate_refusals_are_typed() -> None:
    assert issubclass(GateRefused, Exception)


def test_a_deactivated_account_s_key_signs_nothing_valid_afterwards(cs: Countersign, s) -> None:  # noqa: F811
    from core.ledger.chain import Event

    lee = s["lee"]  # a session opened before the deactivation still holds lee's private key in memory
    cs.deactivate_user(s[ADMIN], "lee", reason="Left the company.")
    assert cs.verify().ok  # the deactivation itself, signed by an admin, verifies
    cs._write(lambda tx: cs.ledger().append(tx, signer=lee.signer, actor="lee", role="ml_lead",
                                            event=Event("promotion.approved", "model:scorer@1", {"forged": True})))
    report = cs.verify()
    assert not report.ok and any("outside its validity" in p.what for p in report.problems), report.problems
