"""Report targets: what may be replaced (only earlier reports, recognised without any pattern that input can make
slow), the temporary files held open and never trusted by name, and where the policy is for the reports (a file
resolved as it was read; a registered policy found in the checkout by its SHA-256, shallowest first)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from core.errors import BadInput
from core.reports.writing import _is_junit, policy_location, prepare_reports


def test_an_earlier_junit_report_is_recognised_by_its_root_element() -> None:
    assert _is_junit(b'\xef\xbb\xbf <?xml version="1.0"?>\n<!-- a -->\n<!-- b -->\n<testsuites name="x">')
    assert _is_junit(b"<testsuite/>") and _is_junit(b"<testsuite\n name='y'>")
    for other in (b"", b"<project/>", b"<testsuitesX/>", b"<?xml version='1.0'?>", b"<!-- unclosed <testsuite>",
                  b"\xff\xfe<\x00t\x00"):
        assert not _is_junit(other), other
    # comments that a backtracking pattern splits in 2^n ways: scanned once
    assert not _is_junit(b"<?xml version='1.0'?>" + b"<!-- ==== -->\n" * 5000 + b"<project/>")


def test_only_an_earlier_sarif_log_is_replaced(tmp_path: Path) -> None:
    earlier = tmp_path / "old.sarif"
    earlier.write_text(json.dumps({"version": "2.1.0", "runs": []}))
    prepare_reports(None, str(earlier), policy_given="p").discard()
    for name, text in (("package.json", '{"devDependencies": {"@microsoft/sarif-multitool": "5"}}'),
                       ("scores.json", '{"player": "x", "runs": 45}'), ("empty.sarif", ""),
                       ("v1.sarif", '{"version": "1.0.0", "runs": []}'), ("bad.sarif", '{"runs": [')):
        (tmp_path / name).write_text(text)
        with pytest.raises(BadInput, match="is not a SARIF 2.1.0 log"):
            prepare_reports(None, str(tmp_path / name), policy_given="p")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".countersign-")]


def test_paths_naming_a_folder_are_refused(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    for text in ("new/", "new/.", "new/..", ".", ".."):
        with pytest.raises(BadInput, match="names a folder"):
            prepare_reports(text, None, policy_given="p")


def test_a_temporary_file_swapped_for_a_link_is_never_renamed_into_place(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    prepared = prepare_reports(str(tmp_path / "r.xml"), None, policy_given="p")
    ((temp, _handle),) = prepared.temporary.values()
    temp.unlink()
    temp.symlink_to(victim)
    result = {"id": "ev-000000000000", "model": {"ref": "m@1"}, "data": {"ref": "d@1", "sha256": "0" * 64},
              "policy": {"name": "p", "version": 1, "sha256": "0" * 64, "registered": False, "text": ""},
              "checks": [], "verdict": "pass"}
    with pytest.raises(OSError, match="was replaced while the evaluation ran"):
        prepared.save(result, [])
    assert victim.read_text() == "keep me" and not (tmp_path / "r.xml").exists()
    assert not temp.exists()


def test_the_policy_file_is_named_as_it_was_read(tmp_path: Path) -> None:
    checkout, other = tmp_path / "repo", tmp_path / "other"
    (checkout / "policies").mkdir(parents=True)
    (other / "sub").mkdir(parents=True)
    (other / "gate.yaml").write_text("x")
    (checkout / "policies" / "gate.yaml").write_text("y")
    (checkout / "policies" / "link").symlink_to(other / "sub")
    file = {"registered": False}
    assert policy_location("policies/gate.yaml", file, checkout) == ("policies/gate.yaml", "policies/gate.yaml")
    # "link/.." is the parent of the link's target, as the system resolves it: not policies/gate.yaml
    path, uri = policy_location("policies/link/../gate.yaml", file, checkout)
    assert path == str((other / "gate.yaml").resolve()) and uri == (other / "gate.yaml").resolve().as_uri()


def test_a_registered_policy_is_found_by_digest_shallowest_first(tmp_path: Path) -> None:
    text = "policy: p\nversion: 1\nchecks: []\n"
    registered = {"registered": True, "name": "p", "version": 1, "text": text,
                  "sha256": hashlib.sha256(text.encode()).hexdigest()}
    decoys = tmp_path / "charts"
    decoys.mkdir()
    for i in range(2500):  # many policy-like files of other sizes are never read
        (decoys / f"c{i:04}.yaml").write_text("x")
    (tmp_path / "archive" / "old").mkdir(parents=True)
    (tmp_path / "archive" / "old" / "p.yaml").write_text(text)
    assert policy_location("p", registered, tmp_path) == ("archive/old/p.yaml", "archive/old/p.yaml")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(text)
    assert policy_location("p", registered, tmp_path) == ("policies/p.yaml", "policies/p.yaml")
    (tmp_path / "policies" / "p.yaml").write_text(text.replace("[]", "[ ]"))
    (tmp_path / "archive" / "old" / "p.yaml").unlink()
    assert policy_location("p", registered, tmp_path) == (None, "countersign/policies/p@1.yaml")
