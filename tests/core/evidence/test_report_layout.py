"""Regulator exports lay out text of any length, show user text literally, and are all or nothing (issue 12, f).

Observed: a ~3,000-character approval comment made ``countersign report`` fail with ReportLab's LayoutError (a table
row taller than the page) after the ``report.generated`` entry was appended, leaving a partial folder, and every
retry failed the same way. Here: that comment, a 20,000-character token with no space, and hostile characters
export fine (the PDF's text holds them, the page count stays sane, ``verify.py`` verifies); a failure at any step
leaves neither a folder nor a ledger entry, and the retry succeeds.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

import core.evidence.report as report_module
from core.api.countersign import Countersign
from core.display.text import visible
from core.errors import BadInput
from core.evidence import attest
from core.evidence.bundle_verify import verify_bundle
from core.evidence.render import FRAME_HEIGHT, bar_chart, layout, to_html, to_pdf
from core.inputs.limits import MAX_NOTE_CHARS
from core.ledger.chain import Ledger
from tests.app.demo_db import PASSWORDS, copy_demo, demo_template

MODEL = "adult-income"
#: wide capitals: this comment alone made the old Approvals table row 669 pt tall (the frame holds 510)
COMMENT_3K = ("WE REVIEWED THE MODEL WITH MAXIMUM WARINESS. " * 80)[:3000]
#: the longest text the ledger takes (core.inputs.limits.MAX_NOTE_CHARS), with no space anywhere
TOKEN_MAX = "".join(chr(ord("A") + i % 26) for i in range(MAX_NOTE_CHARS))
HOSTILE = "<img src=http://x/y.png> <a href=http://evil>x</a> **bold** \x1b[31m \u202eevil\u202c\r\nnext"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _pdf_text(path: Path) -> tuple[int, str]:
    reader = PdfReader(str(path))
    return len(reader.pages), "".join(page.extract_text() for page in reader.pages)


def _head(cs: Countersign, who: Any) -> tuple[int, int]:  # noqa: ANN401
    """(newest ledger seq, latest checkpoint size)."""
    return cs.log(who, limit=1)[0]["seq"], cs.latest_checkpoint()["size"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_template(tmp_path_factory)


@pytest.fixture
def cs(template: Path, tmp_path: Path) -> Countersign:
    return Countersign(copy_demo(template, tmp_path / "db" / "demo.duckdb"))


@pytest.fixture(scope="module")
def baseline_pages(template: Path, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Pages of the adult-income report with its pending request approved with a one-line comment."""
    folder = tmp_path_factory.mktemp("baseline")
    cs = Countersign(copy_demo(template, folder / "demo.duckdb"))
    _approve_pending(cs, "Reviewed.")
    cs.report(cs.login("aude", PASSWORDS["aude"]), MODEL, out=folder / "export")
    return len(PdfReader(str(folder / "export" / "report.pdf")).pages)


def _approve_pending(cs: Countersign, comment: str) -> None:
    chloe = cs.login("chloe", PASSWORDS["chloe"])
    [request] = [r for r in cs.requests(chloe, pending=True) if r["model_name"] == MODEL]
    assert cs.approve(chloe, request["id"], comment=comment)["status"] == "approved"


def _payload_texts(out: Path) -> str:
    return (out / "evidence" / "entries.jsonl").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------ long texts
def test_a_3000_character_approval_comment_exports(cs: Countersign, tmp_path: Path, baseline_pages: int) -> None:
    _approve_pending(cs, COMMENT_3K)
    out = tmp_path / "export"
    result = cs.report(cs.login("aude", PASSWORDS["aude"]), MODEL, out=out)
    assert result["report_seq"] >= 0 and verify_bundle(out)["entries"] == result["entries"]

    pages, text = _pdf_text(out / "report.pdf")
    assert pages <= baseline_pages + 2, (pages, baseline_pages)
    assert "[note 1]" in text and _squash(COMMENT_3K) in _squash(text)  # cut in the table, whole in the note
    html = (out / "report.html").read_text(encoding="utf-8")
    assert COMMENT_3K in html and "[note 1]" in html
    assert json.dumps(COMMENT_3K)[1:-1] in _payload_texts(out)  # and in the evidence, as signed

    ok = subprocess.run([sys.executable, str(out / "verify.py"), str(out)], capture_output=True, text=True,
                        timeout=300)
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stdout + ok.stderr


def test_the_longest_token_without_spaces_exports(cs: Countersign, tmp_path: Path,
                                                   baseline_pages: int) -> None:
    _approve_pending(cs, TOKEN_MAX)
    chloe = cs.login("chloe", PASSWORDS["chloe"])
    until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    cs.waive(chloe, f"{MODEL}@1", check="selection-parity-sex", until=until, justification=TOKEN_MAX[::-1])
    out = tmp_path / "export"
    result = cs.report(cs.login("aude", PASSWORDS["aude"]), MODEL, out=out)
    assert verify_bundle(out)["entries"] == result["entries"]

    pages, text = _pdf_text(out / "report.pdf")
    # two 10,000-character texts in full at the page width: a few pages each, not one page per table line
    assert pages <= baseline_pages + 12, (pages, baseline_pages)
    squashed = _squash(text)
    assert TOKEN_MAX in squashed and TOKEN_MAX[::-1] in squashed
    html = (out / "report.html").read_text(encoding="utf-8")
    assert TOKEN_MAX in html and TOKEN_MAX[::-1] in html


def test_the_pdf_stays_inside_the_page(cs: Countersign, tmp_path: Path) -> None:
    """Rendered to pixels: nothing is drawn into the right margin (a cell or token wider than the page would)."""
    import shutil

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    _approve_pending(cs, COMMENT_3K + " " + TOKEN_MAX[:5000])
    out = tmp_path / "export"
    cs.report(cs.login("aude", PASSWORDS["aude"]), MODEL, out=out)
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(out / "report.pdf"), str(tmp_path / "page")], check=True,
                   timeout=300)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    for png in pages:
        image = Image.open(png).convert("L")
        width, height = image.size
        strip = image.crop((width - int(width * 0.04), 0, width, height))
        assert strip.getextrema()[0] > 200, f"{png.name}: something is drawn into the right margin"


# ------------------------------------------------------------------------------------------------ all or nothing
def _fail_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("injected: the PDF renderer failed")

    monkeypatch.setattr(report_module, "to_pdf", broken)


def _fail_append(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Ledger.append

    def broken(self: Ledger, tx: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if kwargs["event"].action == "report.generated":
            raise RuntimeError("injected: the ledger append failed")
        return real(self, tx, **kwargs)

    monkeypatch.setattr(Ledger, "append", broken)


def _fail_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last step before the commit: every other file is already written."""

    def broken(*_args: object, **_kwargs: object) -> dict[str, Any]:
        raise RuntimeError("injected: signing the manifest failed")

    monkeypatch.setattr(attest, "envelope", broken)


def _fail_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_bytes

    def broken(self: Path, data: bytes) -> int:
        if self.name == "report.pdf":
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", broken)


@pytest.mark.parametrize("inject", [_fail_pdf, _fail_append, _fail_signature, _fail_disk],
                         ids=["pdf-renderer", "ledger-append", "manifest-signature", "disk-full"])
def test_a_failed_export_leaves_no_folder_and_no_entry(cs: Countersign, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        inject: Callable[[pytest.MonkeyPatch], None]) -> None:
    aude = cs.login("aude", PASSWORDS["aude"])
    before = _head(cs, aude)
    out = tmp_path / "exports" / "nested" / "adult"
    with monkeypatch.context() as patch:
        inject(patch)
        with pytest.raises((RuntimeError, OSError)):
            cs.report(aude, MODEL, out=out)
    assert not (tmp_path / "exports").exists()  # no export folder, no partial sibling, no parent left behind
    assert _head(cs, aude) == before  # no report.generated entry, no checkpoint

    result = cs.report(aude, MODEL, out=out)  # the same export, retried, succeeds
    assert verify_bundle(out)["entries"] == result["entries"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["adult"]
    assert _head(cs, aude)[0] == result["report_seq"] == before[0] + 1


def test_an_empty_out_folder_is_used_and_a_full_one_refused(cs: Countersign, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    aude = cs.login("aude", PASSWORDS["aude"])
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(BadInput, match="other than the current one"):  # it could not be renamed into place
        cs.report(aude, MODEL, out=".")
    monkeypatch.chdir(tmp_path)
    here.rmdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    cs.report(aude, MODEL, out=empty)
    verify_bundle(empty)
    before = _head(cs, aude)
    with pytest.raises(BadInput, match="not empty"):
        cs.report(aude, MODEL, out=empty)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(BadInput, match="not a folder"):
        cs.report(aude, MODEL, out=a_file)
    assert _head(cs, aude) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "db") == ["empty", "file"]


# ------------------------------------------------------------------------------------------------ layout unit
def test_layout_cuts_long_cells_and_keeps_the_whole_text_in_a_note() -> None:
    long = "word " * 2000
    blocks = [("table", ["Id", "Comment"], [["r1", long], ["r2", "short"]])]
    laid = layout(blocks)
    table, note = laid[0], laid[1]
    assert table[0] == "table" and table[2][1][1] == "short"
    assert table[2][0][1].endswith(" … [note 1]") and len(table[2][0][1]) < len(long)
    assert note == ("note", 1, "Comment, row 1 (r1)", long)
    assert layout(blocks) == laid  # deterministic: the HTML and the PDF show the same cuts


def test_user_text_is_literal_in_html_and_pdf() -> None:
    blocks = [("h2", "Approvals"), ("p", HOSTILE),
              ("table", ["Who", "Comment"], [["chloe", HOSTILE], ["lee", "x" * 5000]]),
              ("pre", "policy: x\r\n  a: \x1b[2J\n"),
              ("image", bar_chart(["$\\frac{1}{0", HOSTILE, "g" * 300], [0.1, 0.2, 0.3], "$x^$"), HOSTILE)]
    html = to_html("t", blocks)
    assert "<img src=http" not in html and "<a href" not in html and "<strong>" not in html
    assert "&lt;img src=http://x/y.png&gt;" in html and "**bold**" in html
    for raw in ("\x1b", "\u202e", "\r"):
        assert raw not in html
    assert "\\x1b[31m" in html and "\\u202eevil\\u202c" in html and "policy: x\n  a: \\x1b[2J" in html
    reader = PdfReader(io.BytesIO(to_pdf("t", blocks)))
    text = "".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) <= 4
    assert "<img src=http://x/y.png>" in text and "**bold**" in text and "\\u202eevil" in text


def test_no_row_is_taller_than_a_third_of_the_page() -> None:
    """Many long cells, in many narrow columns, with headers as long: each row fits, so the table can always
    break between rows."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph

    headers = [f"Column {i} " + "h" * 400 for i in range(12)]
    rows = [[("x" * (1000 * (i + 1))) for i in range(12)] for _ in range(3)]
    laid = layout([("table", headers, rows)])
    table = laid[0]
    style = ParagraphStyle("cell", fontSize=7, leading=8.5, wordWrap="CJK", fontName="Helvetica")
    for row in [table[1], *table[2]]:
        for text, width in zip(row, table[3], strict=True):
            _w, height = Paragraph(text.replace("&", "&amp;").replace("<", "&lt;"), style).wrap(width - 12, 10**6)
            assert height + 6 <= FRAME_HEIGHT / 3, (len(text), width, height)
    assert len([b for b in laid if b[0] == "note"]) == 36
    assert to_pdf("t", [("table", headers, rows)]).startswith(b"%PDF")


def test_visible_is_the_one_escape_everywhere() -> None:
    assert visible("a\u2028b") == "a\\u2028b"
    laid = layout([("p", "a\u2028b"), ("table", ["h\x1b"], [["c\u202e"]])])
    assert laid[0] == ("p", "a\\u2028b") and laid[1][1] == ["h\\x1b"] and laid[1][2] == [["c\\u202e"]]


def test_the_markdown_card_export_shows_user_text_literally() -> None:
    from core.evidence.card_export import _text

    hostile = "**bold** <img src=http://evil.example/y.png> [link](javascript:alert(1))\n# heading\n---"
    import re

    shown = _text(hostile)
    for raw in (r"\*\*bold", r"<img", r"\[link\]\(", r"^#", r"^---", r"http://evil"):
        assert not re.search(r"(?<!\\)" + raw, shown, re.M), (raw, shown)  # every markup character escaped
    assert _text({"owner_<b>": hostile}).startswith("- **owner \\<b\\>**: ")
