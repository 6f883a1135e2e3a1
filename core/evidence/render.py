"""Render a report, given as a list of blocks, to self-contained HTML and to PDF (ReportLab), and charts to PNG
(matplotlib, no browser). Both renderings come from the same laid-out blocks (:func:`layout`), so they cannot
disagree.

Blocks: ``("h1"|"h2"|"h3"|"p"|"pre", text)``, ``("table", headers, rows)`` or ``("table", headers, rows, links)``
(``links``: per row, the anchor its first cell links to, or ``None``), ``("image", png_bytes, caption)`` and
``("pagebreak",)``; :func:`layout` adds the column widths, font size and links to each table and
``("note", number, label, text)`` blocks. Every heading is an anchor (:func:`anchor`) in both renderings.

Text of any length and content lays out (user text is data, never layout or markup):

* every text is passed through :func:`core.display.text.visible` (control, bidi and zero-width characters shown as
escapes;
  ``pre`` blocks keep their line breaks, paragraphs their line breaks and tabs, which both renderers take as white
  space) and escaped for HTML and for ReportLab's paragraph markup;
* table columns share the page width. With ``fit=True`` (the PDF, and the regulator report's HTML so that both cut
  cells alike) each column is at least as wide as the longest word it holds (header words in bold; words of up to
  :data:`UNBREAKABLE` characters, so numbers, dates, identifiers and digests), at the largest of
  :data:`FONT_SIZES` that lets them all fit, and cells wrap between words: no header breaks mid-word and no number
  mid-digit. Only a longer token, or a table whose words cannot fit even at the smallest size, breaks inside a
  word. Without ``fit`` columns share the width by text length (at least :data:`MIN_COLUMN_WIDTH` each);
* a cell longer than its column can show within a third of the page height is cut there and ends with
  ``… [note N]``; note N, right after the table, holds the whole text at full width, where it wraps and flows over
  as many pages as it needs. (The exported evidence holds the full text as well: the ledger entries and statements.)
  So no table row is ever taller than a page, which is what makes ReportLab give up with a ``LayoutError``;
* an image stays on one page with its caption (never a caption alone on the next page);
* images are scaled to fit the frame; chart labels are cut to :data:`MAX_CHART_LABEL` characters and shown
  literally (no matplotlib mathtext).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from typing import Any

from core.display.text import visible

Block = tuple[Any, ...]

#: Landscape A4 in points, and the margins of the PDF (1.5 cm).
PAGE_SIZE = (841.8897637795277, 595.2755905511812)
MARGIN = 42.51968503937008
FRAME_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
FRAME_HEIGHT = PAGE_SIZE[1] - 2 * MARGIN
#: Table cells: font size and leading (pt), ReportLab's default cell padding, and the tallest a row may grow.
CELL_FONT_SIZE = 7.0
CELL_LEADING = 8.5
CELL_PADDING = (6.0, 3.0)  # left/right, top/bottom
MAX_ROW_HEIGHT = FRAME_HEIGHT / 3
MIN_COLUMN_WIDTH = 48.0
#: No Helvetica glyph is wider than 1.02 em: a column of width w holds at least w / (1.1 em) characters a line.
GLYPH_EM = 1.1
MAX_CHART_LABEL = 48
#: Font sizes a fitted table may use, largest first (the first at which every column's longest word fits).
FONT_SIZES = (7.0, 6.5, 6.0, 5.5, 5.0)
#: A word of up to this many characters is never broken inside a fitted table (a SHA-256 digest has 64).
UNBREAKABLE = 64
#: Per column, the longest words (by characters) whose printed width is measured to find the widest.
WORD_CANDIDATES = 64

CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#1d1d1f;line-height:1.4;
overflow-wrap:anywhere}h1{border-bottom:3px solid #1d4e89}h2{color:#1d4e89;border-bottom:1px solid #ccd;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.85em;table-layout:auto}
th,td{border:1px solid #ccd;padding:.3em .5em;text-align:left;vertical-align:top;word-break:break-word;
overflow-wrap:anywhere}th{background:#eef2f8}
pre{background:#f6f8fa;padding:.8em;white-space:pre-wrap;word-break:break-all;font-size:.8em}
img{max-width:100%}.caption{font-size:.85em;color:#555}.note{font-size:.85em}"""

#: Added to :data:`CSS` for a fitted layout: headers wrap only between words, numbers and times never.
FIT_CSS = "th{overflow-wrap:normal;word-break:normal}td.n{white-space:nowrap}"
_UNBROKEN = re.compile(r"-?\d[\d,]*(\.\d+)?|\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d UTC)?")


def cell_capacity(column_width: float, font_size: float = CELL_FONT_SIZE) -> int:
    """How many characters a cell of this column is sure to show within :data:`MAX_ROW_HEIGHT`.

    Words wrap whole, so a line may end early by up to one word: a line is counted as holding
    ``width / (1.1 em)`` characters, about half of what Helvetica's average glyph (0.55 em) allows."""
    leading = leading_for(font_size)
    per_line = max(1, int((column_width - 2 * CELL_PADDING[0]) / (font_size * GLYPH_EM)))
    lines = max(1, int((MAX_ROW_HEIGHT - 2 * CELL_PADDING[1] - 2 * leading) / leading))
    return per_line * lines


def leading_for(font_size: float) -> float:
    """The line height of table cells at ``font_size`` (8.5 pt at the default 7 pt)."""
    return font_size * CELL_LEADING / CELL_FONT_SIZE


def _longest_word(texts: list[str], font: str, size: float) -> float:
    """The width of the widest word (of up to :data:`UNBREAKABLE` characters) in ``texts``: every text is read, the
    :data:`WORD_CANDIDATES` longest distinct words measured."""
    import heapq

    from reportlab.pdfbase.pdfmetrics import stringWidth

    words = {word for text in texts for word in text.split() if len(word) <= UNBREAKABLE}
    return max((stringWidth(w, font, size) for w in heapq.nlargest(WORD_CANDIDATES, words, key=len)), default=0.0)


def fitted_widths(headers: list[str], rows: list[list[str]],
                  width: float = FRAME_WIDTH) -> tuple[list[float], float]:
    """Column widths (pt, summing to ``width``) and the font size of a table whose cells wrap between words.

    At the largest of :data:`FONT_SIZES` where it is possible, every column is at least as wide as its longest word
    (see the module docstring); the rest of the width goes to the columns whose text is longer than that, by how
    much (so short columns stay on one line and long text gets the room). If the words cannot fit even at the
    smallest size, the widths are :func:`column_widths`' at that size (words may then break)."""
    if not headers:
        return [], CELL_FONT_SIZE
    from reportlab.pdfbase.pdfmetrics import stringWidth

    columns = [[r[i] for r in rows if i < len(r)] for i in range(len(headers))]
    pad = 2 * CELL_PADDING[0] + 1.0
    for size in FONT_SIZES:
        need = [max(_longest_word([h], "Helvetica-Bold", size), _longest_word(col, "Helvetica", size)) + pad
                for h, col in zip(headers, columns, strict=True)]
        if sum(need) <= width:
            break
    else:
        return column_widths(headers, rows, width), FONT_SIZES[-1]
    whole = [max([stringWidth(h, "Helvetica-Bold", size)] + [stringWidth(c, "Helvetica", size) for c in col[:200]])
             + pad for h, col in zip(headers, columns, strict=True)]
    want = [max(0.0, min(w, width) - n) for w, n in zip(whole, need, strict=True)]
    spare = width - sum(need)
    if sum(want) <= spare:  # every cell on one line; the rest shared by need
        extra = spare - sum(want)
        return [n + w + extra * n / sum(need) for n, w in zip(need, want, strict=True)], size
    return [n + spare * w / sum(want) for n, w in zip(need, want, strict=True)], size


def column_widths(headers: list[str], rows: list[list[str]], width: float = FRAME_WIDTH) -> list[float]:
    """Column widths (pt) summing to ``width``: each at least :data:`MIN_COLUMN_WIDTH` (or an equal share), the
    rest shared by how long the column's texts are (between 4 and 40 characters)."""
    if not headers:
        return []
    n = len(headers)
    weights = [max(4, min(40, max([len(h)] + [len(r[i]) for r in rows[:200] if i < len(r)])))
               for i, h in enumerate(headers)]
    floor = min(MIN_COLUMN_WIDTH, width / n)
    spare = width - floor * n
    total = sum(weights)
    return [floor + spare * w / total for w in weights]


def _text(value: Any) -> str:  # noqa: ANN401
    """A cell's value as one line of literal text."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return visible(value)


def _cut(text: str, capacity: int, marker: str) -> str:
    return text[:max(1, capacity - len(marker))] + marker


def layout(blocks: list[Block], *, fit: bool = False) -> list[Block]:
    """The blocks as both renderers show them: every text literal and visible, long table cells cut with a note
    holding the whole text right after the table (see the module docstring). A laid-out table block is
    ``("table", headers, rows, column_widths, font_size, links)``, every cell a string; ``fit`` chooses the widths
    and font size with :func:`fitted_widths` (else :func:`column_widths` at :data:`CELL_FONT_SIZE`)."""
    out: list[Block] = []
    note = 0
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append((kind, visible(block[1])))
        elif kind == "p":  # a line break in a paragraph is only white space, in HTML as in ReportLab
            out.append((kind, visible(block[1], keep="\n\t")))
        elif kind == "pre":
            out.append((kind, visible(str(block[1]).replace("\r\n", "\n"), keep="\n")))
        elif kind == "note":
            out.append((kind, block[1], visible(block[2]), visible(block[3])))
        elif kind == "image":
            out.append((kind, block[1], visible(block[2])))
        elif kind == "table":
            columns = max([len(block[1]), *(len(row) for row in block[2])])
            if not columns:
                continue  # nothing to show (and ReportLab refuses a table without a column)
            headers = [visible(h) for h in block[1]] + [""] * (columns - len(block[1]))  # rectangular, as
            rows = [[_text(c) for c in row] + [""] * (columns - len(row)) for row in block[2]]  # ReportLab needs
            given = list(block[3]) if len(block) > 3 and block[3] else []
            links = [anchor(visible(a)) if a else None for a in given[:len(rows)]] + [None] * (len(rows) - len(given))
            if fit:
                widths, size = fitted_widths(headers, rows)
            else:
                widths, size = column_widths(headers, rows), CELL_FONT_SIZE
            capacity = [cell_capacity(w, size) for w in widths]
            headers = [h if len(h) <= cap else _cut(h, cap, "…") for h, cap in zip(headers, capacity, strict=True)]
            notes: list[Block] = []
            for r, row in enumerate(rows):
                for i, text in enumerate(row):
                    cap = capacity[i]
                    if len(text) > cap:
                        note += 1
                        where = f"{headers[i] or f'column {i + 1}'}, row {r + 1}"
                        if i > 0:
                            where += f" ({row[0][:60]}{'…' if len(row[0]) > 60 else ''})"
                        notes.append(("note", note, where, text))
                        row[i] = _cut(text, cap, f" … [note {note}]")
            out.append(("table", headers, rows, widths, size, links))
            out.extend(notes)
        else:
            out.append(block)
    return out


#: A chart draws at most this many bars (the table beside it lists them all).
MAX_CHART_BARS = 40


def chart_text(text: object, limit: int = MAX_CHART_LABEL) -> str:
    """A label or title as matplotlib shows it literally: visible escapes, at most ``limit`` characters, and ``$``
    escaped so that no mathtext is parsed."""
    shown = visible(text)
    if len(shown) > limit:
        shown = shown[:limit - 1] + "…"
    return shown.replace("$", r"\$")


def bar_chart(labels: list[str], values: list[float], title: str, threshold: float | None = None,
              xlabel: str = "", threshold_label: str | None = None) -> bytes:
    """A horizontal bar chart as PNG bytes (matplotlib, Agg backend); identical charts are drawn once. At most
    :data:`MAX_CHART_BARS` bars; labels and title are shown literally (see :func:`chart_text`). ``threshold`` draws
    a dashed red vertical line, named in the legend by ``threshold_label`` (default "threshold <value>")."""
    if len(labels) > MAX_CHART_BARS:
        title = f"{title} (first {MAX_CHART_BARS} of {len(labels)})"
        labels, values = labels[:MAX_CHART_BARS], values[:MAX_CHART_BARS]
    return _bar_chart(tuple(chart_text(label) for label in labels), tuple(float(v) for v in values),
                      chart_text(title, 2 * MAX_CHART_LABEL), threshold, chart_text(xlabel, 2 * MAX_CHART_LABEL),
                      None if threshold_label is None else chart_text(threshold_label, 2 * MAX_CHART_LABEL))


@functools.lru_cache(maxsize=256)
def _bar_chart(labels: tuple[str, ...], values: tuple[float, ...], title: str, threshold: float | None,
               xlabel: str, threshold_label: str | None = None) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, max(1.8, 0.35 * len(labels) + 1)), dpi=90)
    positions = list(range(len(labels)))[::-1]  # by position: equal labels stay separate bars, first on top
    ax.barh(positions, values, color="#1d4e89")
    ax.set_yticks(positions, labels)
    if threshold is not None:
        ax.axvline(threshold, color="#c0392b", linestyle="--",
                   label=f"threshold {threshold}" if threshold_label is None else threshold_label)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    return _png(fig)


def _png(fig: Any) -> bytes:  # noqa: ANN401 - a matplotlib Figure
    """``fig`` as PNG bytes, laid out tightly, with small tick labels; the figure is closed."""
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def roc_chart(fpr: list[float], tpr: list[float], title: str) -> bytes:
    """A ROC curve as PNG bytes (matplotlib, Agg): true- against false-positive rate, with the diagonal a model
    without skill would draw; ``title`` is shown literally (see :func:`chart_text`)."""
    return _roc_chart(tuple(float(x) for x in fpr), tuple(float(y) for y in tpr),
                      chart_text(title, 2 * MAX_CHART_LABEL))


@functools.lru_cache(maxsize=64)
def _roc_chart(fpr: tuple[float, ...], tpr: tuple[float, ...], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=90)
    ax.plot(fpr, tpr, color="#1d4e89", label="ROC curve")
    ax.plot([0, 1], [0, 1], color="#555555", linestyle=":", label="no skill")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("False-positive rate", fontsize=9)
    ax.set_ylabel("True-positive rate", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def anchor(text: str) -> str:
    """The anchor (HTML ``id``, PDF destination) of a heading with this (laid-out, visible) text: lower case, spaces
    as hyphens, at most 80 characters, already safe in an attribute."""
    return html.escape(text.lower().replace(" ", "-")[:80])


def to_html(title: str, blocks: list[Block], *, fit: bool = False) -> str:
    """A self-contained HTML page (no script, no remote resource) of the laid-out blocks (``fit``: laid out as in
    the PDF, see :func:`layout`). A table's first cells link to the headings their ``links`` name."""
    style = CSS + FIT_CSS if fit else CSS
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(visible(title))}"
             f"</title><style>{style}</style></head><body>"]
    for block in layout(blocks, fit=fit):
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind} id=\"{anchor(block[1])}\">{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "pre":
            parts.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "note":
            parts.append(f"<p class=\"note\" id=\"note-{block[1]}\"><b>[note {block[1]}]</b> "
                         f"{html.escape(block[2])}: {html.escape(block[3])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(
                f"<td><a href=\"#{link}\">{html.escape(c)}</a></td>" if i == 0 and link
                else f"<td class=\"n\">{html.escape(c)}</td>" if fit and _UNBROKEN.fullmatch(c)
                else f"<td>{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                for row, link in zip(block[2], block[5], strict=True))
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "image":
            data = base64.b64encode(block[1]).decode("ascii")
            parts.append(f"<figure><img alt=\"{html.escape(block[2])}\" src=\"data:image/png;base64,{data}\">"
                         f"<figcaption class=\"caption\">{html.escape(block[2])}</figcaption></figure>")
        elif kind == "pagebreak":
            parts.append("<hr>")
    parts.append("</body></html>")
    return "\n".join(parts)


def to_pdf(title: str, blocks: list[Block]) -> bytes:
    """A PDF with extractable text of the fitted layout (:func:`layout` with ``fit=True``): table columns fit their
    longest words and cells wrap between words, no row is taller than a third of the page, long notes and
    preformatted text flow over pages, each image stays on its page with its caption, and headings are link
    destinations that a table's first cells link to."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.platypus import (
        Image,
        KeepTogether,
        PageBreak,
        Paragraph,
        Preformatted,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=PAGE_SIZE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN, title=visible(title), author="Countersign")
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], splitLongWords=1)
    note = ParagraphStyle("note", parent=body, fontSize=7.5, leading=9.5)
    mono = ParagraphStyle("mono", parent=styles["Code"], fontSize=6.5, leading=8)
    caption = ParagraphStyle("caption", parent=styles["Italic"], splitLongWords=1)
    headings = {k: ParagraphStyle(f"{k}-wrap", parent=styles[v], splitLongWords=1)
                for k, v in (("h1", "Title"), ("h2", "Heading2"), ("h3", "Heading3"))}
    cells: dict[float, tuple[ParagraphStyle, ParagraphStyle]] = {}

    def cell_styles(size: float) -> tuple[ParagraphStyle, ParagraphStyle]:
        if size not in cells:
            cell = ParagraphStyle(f"cell-{size}", parent=styles["BodyText"], fontSize=size, leading=leading_for(size),
                                  splitLongWords=1, spaceBefore=0, spaceAfter=0)
            cells[size] = (cell, ParagraphStyle(f"head-{size}", parent=cell, fontName="Helvetica-Bold"))
        return cells[size]

    story: list[Any] = []
    for block in layout(blocks, fit=True):
        kind = block[0]
        if kind in headings:
            story.append(Paragraph(f"<a name=\"{anchor(block[1])}\"/>{html.escape(block[1])}", headings[kind]))
        elif kind == "p":
            story.append(Paragraph(html.escape(block[1]), body))
        elif kind == "pre":
            story.append(Preformatted(block[1], mono, maxLineLength=180))
        elif kind == "note":
            story.append(Paragraph(f"<b>[note {block[1]}]</b> {html.escape(block[2])}: {html.escape(block[3])}",
                                   note))
        elif kind == "table":
            headers, rows, widths, size, links = block[1:6]
            cell, head = cell_styles(size)
            data = [[Paragraph(html.escape(h), head) for h in headers]]
            for row, link in zip(rows, links, strict=True):
                shown = [html.escape(c) for c in row]
                if link and shown:
                    shown[0] = f"<a href=\"#{link}\" color=\"#1d4e89\"><u>{shown[0]}</u></a>"
                data.append([Paragraph(c, cell) for c in shown])
            table = Table(data, colWidths=widths, repeatRows=1)
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#99a")),
                                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f8")),
                                       ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(table)
            story.append(Spacer(1, 6))
        elif kind == "image":
            image = Image(io.BytesIO(block[1]))
            scale = min(1.0, (FRAME_WIDTH * 0.7) / image.drawWidth, (FRAME_HEIGHT * 0.75) / image.drawHeight)
            image.drawWidth, image.drawHeight = image.drawWidth * scale, image.drawHeight * scale
            story.append(KeepTogether([image, Paragraph(html.escape(block[2]), caption), Spacer(1, 8)]))
        elif kind == "pagebreak":
            story.append(PageBreak())
    doc.build(story)
    return buffer.getvalue()
