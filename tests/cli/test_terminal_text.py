"""User text is data, never layout, in the terminal (issue 12, kind f).

A promotion reason with a newline and a fake timeline line, a waiver justification with a carriage return and ANSI
escapes, card text with bidi overrides, a path with control characters in an error message: through the real
``countersign`` process (and once through a real pseudo-terminal, where click strips nothing), none of them can
print a line that looks like a real timeline or table line, and no ESC, CR or bidi character reaches the terminal.
``--json`` output stays exact.
"""

from __future__ import annotations

import ast
import json
import os
import pty
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from cli.output import MAX_COLUMN_WIDTH, error, error_lines, say, say_block, table
from core.api.countersign import Countersign
from core.display.text import visible
from tests.app.demo_db import PASSWORDS, copy_demo, demo_template
from tests.conftest import countersign_exe, run_cli

ROOT = Path(__file__).resolve().parents[2]
FORGED = "  seq 999 2026-12-24T00:00:00.000000Z  2: production → suspended  by chloe  (Incident: withdrawn)"
REASON = "Drift fixed.)\n" + FORGED + "\n  seq 1000 2026-12-24T00:00:01.000000Z  2: suspended → retired  by lee  (x"
#: a justification that, printed raw, erases its own line and rewrites the row above as "expired"
JUSTIFICATION = ("Pilot only.\r\x1b[2K\x1b[1A\x1b[2K\rwv-0000000000  adult-income@1  selection-parity-sex  "
                 "2020-01-01  False  chloe  EXPIRED\x1b]0;pwned\x07 \u202edeyalpsid\u202c \u2066x\u2069 "
                 "\u200b\u2028\u2029\x85\x7f\x00")
CARD_TEXT = "Credit pre-screening.\n\x1b[31mAPPROVED FOR ALL USES\x1b[0m \u202eesu on\u202c\ttabbed\r"
RAW_FORBIDDEN = ["\x1b", "\r", "\x07", "\x00", "\x7f", "\x85", "\u202e", "\u202c", "\u2066", "\u2069", "\u200b",
                 "\u2028", "\u2029"]


@dataclass(frozen=True)
class World:
    db: Path
    waiver_id: str


def _env(db: Path, user: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTERSIGN_")}
    env.update(COUNTERSIGN_DB=str(db), COUNTERSIGN_USER=user, COUNTERSIGN_PASSWORD=PASSWORDS[user])
    return env


def _run(world: World, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(_env(world.db, user), *args)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The demo database with the hostile texts put in through the API (every command below only reads)."""
    folder = tmp_path_factory.mktemp("terminal-text")
    db = copy_demo(demo_template(tmp_path_factory), folder / "demo.duckdb")
    cs = Countersign(db)
    s = {name: cs.login(name, password) for name, password in PASSWORDS.items()}
    with cs.store.held():
        cs.evaluate(s["dana"], "german-credit-scorer@2", data="german-credit@1", policy="default",
                    label="good_credit")  # reinstatement needs evidence made since the suspension
        request = cs.reinstate(s["dana"], "german-credit-scorer@2", reason=REASON)
        for role in request["required_roles"]:
            cs.approve(s[{"ml_lead": "lee", "compliance_officer": "chloe"}[role]], request["request_id"],
                       comment="Reviewed.")
        until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
        waiver = cs.waive(s["chloe"], "adult-income@1", check="selection-parity-sex", until=until,
                          justification=JUSTIFICATION)
        card = dict(cs.model(s["dana"], "german-credit-scorer@1")["card"])
        card["intended_use"] = CARD_TEXT
        card_file = folder / "card.yaml"
        card_file.write_text(yaml.safe_dump(card, allow_unicode=False), encoding="utf-8")
        cs.edit_card(s["dana"], "german-credit-scorer@1", card_file)
    return World(db, waiver["id"])


def _no_raw_controls(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in text if c in RAW_FORBIDDEN})
    assert not found, f"raw control/format characters reached the terminal: {found}"


# ------------------------------------------------------------------------------------------------ subprocesses
def test_history_reason_cannot_forge_a_timeline_line(world: World) -> None:
    as_json = _run(world, "aude", "history", "german-credit-scorer", "--json")
    assert as_json.returncode == 0, as_json.stderr
    timeline = json.loads(as_json.stdout)["timeline"]
    assert REASON in [t.get("reason") for t in timeline]  # --json: the exact text

    human = _run(world, "aude", "history", "german-credit-scorer")
    assert human.returncode == 0, human.stderr
    _no_raw_controls(human.stdout)
    lines = human.stdout.splitlines()
    seq_lines = [line for line in lines if re.match(r"^\s*seq \d+", line)]
    assert len(seq_lines) == len(timeline)  # one line per real stage change, no more
    assert [int(line.split()[1]) for line in seq_lines] == [t["seq"] for t in timeline]
    assert not any("seq 999" in line.split("(", 1)[0] for line in lines)
    reinstated = next(line for line in seq_lines if "Drift fixed" in line)
    assert reinstated.endswith("(" + visible(REASON) + ")") and "\\n  seq 999" in reinstated


def test_waiver_list_shows_the_justification_as_data(world: World) -> None:
    human = _run(world, "chloe", "waiver", "list")
    assert human.returncode == 0, human.stderr
    _no_raw_controls(human.stdout)
    lines = human.stdout.splitlines()
    header = lines[0].split()
    assert header[:6] == ["ID", "MODEL", "CHECK_ID", "UNTIL", "ACTIVE", "GRANTED_BY"]
    rows = [line for line in lines[1:] if line.startswith("wv-")]
    ours = next(line for line in rows if line.startswith(world.waiver_id))
    assert ours.split()[4] == "yes"  # the active waiver reads as active, in words
    assert "\\r\\x1b[2K\\x1b[1A" in ours and "\\u202edeyalpsid\\u202c" in ours and "\\x00" in ours
    assert not any(line.startswith("wv-0000000000") for line in lines)  # the forged row never starts a line
    assert len(rows) == len(json.loads(_run(world, "chloe", "waiver", "list", "--json").stdout))

    exact = json.loads(_run(world, "chloe", "waiver", "list", "--json").stdout)
    assert JUSTIFICATION in [w["justification"] for w in exact]


def test_card_text_in_model_show(world: World) -> None:
    human = _run(world, "aude", "model", "show", "german-credit-scorer@1")
    assert human.returncode == 0, human.stderr
    _no_raw_controls(human.stdout)
    assert f"  intended_use: {visible(CARD_TEXT)}" in human.stdout.splitlines()
    assert "APPROVED FOR ALL USES" not in [line.strip() for line in human.stdout.splitlines()]
    exact = json.loads(_run(world, "aude", "model", "show", "german-credit-scorer@1", "--json").stdout)
    assert exact["card"]["intended_use"] == CARD_TEXT


def test_error_messages_quoting_user_values_are_escaped(world: World, tmp_path: Path) -> None:
    out = tmp_path / "export\n  seq 1 fake\x1b[31m\u202e"
    out.mkdir()
    (out / "occupied").write_text("x")
    human = _run(world, "aude", "report", "german-credit-scorer", "--out", str(out))
    assert human.returncode == 2
    _no_raw_controls(human.stderr)
    assert human.stderr.splitlines() == [f"error: --out {visible(out)} exists and is not empty"]
    as_json = _run(world, "aude", "report", "german-credit-scorer", "--out", str(out), "--json")
    assert json.loads(as_json.stdout) == {"error": f"--out {out} exists and is not empty", "exit_code": 2}

    usage = _run(world, "aude", "promote", "german-credit-scorer@1", "--to", "prod\x1b[31m\nuction", "--reason", "x")
    assert usage.returncode == 2 and "Error:" in usage.stderr
    _no_raw_controls(usage.stderr)


def _in_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """Run ``args`` with a pseudo-terminal as stdin, stdout and stderr (click strips no ANSI code for a tty)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        proc.wait(timeout=120)
        os.close(master)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks)


def test_nothing_hostile_reaches_a_real_terminal(world: World) -> None:
    for user, args in (("chloe", ["waiver", "list"]), ("aude", ["history", "german-credit-scorer"]),
                       ("aude", ["model", "show", "german-credit-scorer@1"])):
        env = {**_env(world.db, user), "TERM": "xterm-256color", "PYTHONIOENCODING": "utf-8"}
        output = _in_terminal([*countersign_exe(), *args], env)
        text = output.replace(b"\r\n", b"\n").decode("utf-8")
        _no_raw_controls(text)
        assert "\\x1b" in text or "\\n" in text


# ------------------------------------------------------------------------------------------------ one place
def test_main_prints_only_through_cli_output() -> None:
    """Every human-readable print in cli/main.py goes through cli/output.py (which escapes)."""
    tree = ast.parse((ROOT / "cli" / "main.py").read_text(encoding="utf-8"))
    direct = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Attribute) and node.func.attr in ("echo", "secho", "write", "show"))
        or (isinstance(node.func, ast.Name) and node.func.id in ("print", "echo", "secho")))]
    assert direct == [], f"cli/main.py prints directly on lines {direct}"


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u061c", "\u200b",
                                  "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d",
                                  "\u202e", "\u2060", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff",
                                  "\U000e0041", "\ud800"])
def test_every_control_and_format_character_is_made_visible(char: str) -> None:
    shown = visible(f"a{char}b")
    assert shown.startswith("a\\") and shown.endswith("b") and char not in shown
    assert shown.isascii() and shown.isprintable()
    assert visible(shown) == shown  # idempotent


def test_ordinary_text_is_untouched() -> None:
    text = "Zoë's café → ok — naïve 中文 😀 C:\\data 100% <b>&amp;</b>"
    assert visible(text) == text
    assert visible("\u202e", keep="\u202e") == "\u202e" and visible("a\nb", keep="\n") == "a\nb"


def test_output_helpers(capsys: pytest.CaptureFixture[str]) -> None:
    say("one\ntwo", "three\x1b[0m")
    table([{"a": "x\ny", "b": ["p\rq", "r"]}], ["a", "b"])
    say_block("line 1\r\nline\x1b 2\n", nl=False)
    error("bad\nvalue", 2, as_json=True)
    out, err = capsys.readouterr()
    assert out.splitlines() == ["one\\ntwo", "three\\x1b[0m", "A     B", "x\\ny  p\\rq, r", "line 1", "line\\x1b 2",
                                json.dumps({"error": "bad\nvalue", "exit_code": 2})]
    assert err == "error: bad\\nvalue\n"


def test_one_long_cell_does_not_pad_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "n" * 5000, "type": "BIGINT"}] + [{"name": f"f{i}", "type": "BIGINT"} for i in range(1000)]
    table(rows, ["name", "type"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "n" * 5000 + "  BIGINT"  # printed whole
    assert lines[2] == "f0".ljust(MAX_COLUMN_WIDTH) + "  BIGINT" and max(len(line) for line in lines[2:]) <= 90


def test_error_lines_keep_listed_reasons_one_a_line() -> None:
    class Refused(Exception):
        def __init__(self) -> None:
            self.reasons = ["check 'x\nFAKE' failed", "stage is 'registered'"]
            self.message = "promotion refused:\n  - " + "\n  - ".join(self.reasons)

    assert error_lines(Refused()) == ["promotion refused:", "  - check 'x\nFAKE' failed",
                                      "  - stage is 'registered'"]
    assert error_lines(ValueError("a\nb")) == ["a\nb"]  # said as one line: "a\\nb"


def test_usage_errors_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["promote", "m@1", "--to", "x\x1b[31m\u202e", "--reason", "r"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    _no_raw_controls(err)
    assert err.splitlines()[0].startswith("Usage: ") and err.splitlines()[-1].startswith("Error: ")
