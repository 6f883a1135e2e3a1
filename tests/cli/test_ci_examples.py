"""The CI examples (docs/ci/) and the pre-commit hook, checked with the formats' own tools: the workflow files
against the GitHub-workflow and GitLab-CI schemas (check-jsonschema's vendored copies, offline), the hook manifest
with ``pre-commit validate-manifest``, and every ``countersign`` command in them parsed by the CLI itself (no unknown
command or option). ``policy check`` takes several files, as pre-commit passes them."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from cli.main import cli
from tests.conftest import countersign_exe

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {"github-actions.yml": "vendor.github-workflows", "gitlab-ci.yml": "vendor.gitlab-ci"}


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def _commands(texts: list[str]) -> list[list[str]]:
    """Every ``countersign …`` command line in ``texts`` (shell continuations joined, ``>-`` folding done by YAML)."""
    found = []
    for text in texts:
        for line in text.replace("\\\n", " ").splitlines():
            if line.strip().startswith("countersign "):
                found.append(shlex.split(line.strip(), comments=True)[1:])
    return found


def _parse(args: list[str]) -> None:
    """Parse ``args`` as the CLI would (click raises a UsageError on an unknown command or option)."""
    command: click.Command = cli
    words = list(args)
    while isinstance(command, click.Group):
        name = words.pop(0)
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"no command {name!r} in {args}"
        command = found
    command.make_context(command.name or "", words)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_workflows_are_valid_and_their_commands_exist(name: str) -> None:
    path = ROOT / "docs" / "ci" / name
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", EXAMPLES[name], str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = _commands(_strings(yaml.safe_load(path.read_text())))
    assert any(c[0] == "evaluate" and "--junit" in c and "--sarif" in c for c in commands), commands
    assert any(c[:2] == ["policy", "check"] for c in commands), commands
    for command in commands:
        _parse(command)
    assert (ROOT / "docs" / "ci.md").read_text().count(f"(ci/{name})") == 1  # the guide links it


def test_the_pre_commit_hook_manifest_is_valid_and_runs_policy_check() -> None:
    manifest = ROOT / ".pre-commit-hooks.yaml"
    done = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(manifest)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (hook,) = yaml.safe_load(manifest.read_text())
    entry = shlex.split(hook["entry"])
    assert entry[0] == "countersign"
    _parse([*entry[1:], "policies/a.yaml", "policies/b.yaml"])  # pre-commit appends the changed files


def test_policy_check_takes_every_file_and_reports_every_invalid_one(tmp_path: Path) -> None:
    policies = sorted(str(p) for p in (ROOT / "policies").glob("*.yaml"))
    done = subprocess.run([*countersign_exe(), "policy", "check", *policies], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("OK: ") == len(policies) >= 2
    typo = tmp_path / "typo.yaml"
    typo.write_text("policy: p\nversion: 1\nchecks:\n  - {id: acc, metric: acuracy, gte: 0.5}\n")
    done = subprocess.run([*countersign_exe(), "policy", "check", policies[0], str(typo), str(tmp_path / "gone.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout.count("OK: ") == 1
    assert f"{typo}:4: checks.0.metric" in done.stderr and "gone.yaml" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
