"""Render a report, given as a list of blocks, to self-contained HTML and to PDF (ReportLab), and charts to PNG
(matplotlib, no browser). Both renderings come from the same blocks, so they cannot disagree.

Blocks: ``("h1"|"h2"|"h3"|"p"|"pre", text)``, ``("table", headers, rows)``, ``("image", png_bytes, caption)``.
Tables wrap every cell (long digests included) to the page width, so nothing is cut off.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from typing import Any

Block = tuple[Any, ...]

CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#1d1d1f;line-height:1.4}
h1{border-bottom:3px solid #1d4e89}h2{color:#1d4e89;border-bottom:1px solid #ccd;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.85em;table-layout:auto}
th,td{border:1px solid #ccd;padding:.3em .5em;text-align:left;vertical-align:top;word-break:break-word}
th{background:#eef2f8}pre{background:#f6f8fa;padding:.8em;white-space:pre-wrap;word-break:break-all;font-size:.8em}
img{max-width:100%}.caption{font-size:.85em;color:#555}"""


def bar_chart(labels: list[str], values: list[float], title: str, threshold: float | None = None,
              xlabel: str = "") -> bytes:
    """A horizontal bar chart as PNG bytes (matplotlib, Agg backend); identical charts are drawn once."""
    return _bar_chart(tuple(labels), tuple(float(v) for v in values), title, threshold, xlabel)


@functools.lru_cache(maxsize=256)
def _bar_chart(labels: tuple[str, ...], values: tuple[float, ...], title: str, threshold: float | None,
               xlabel: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, max(1.8, 0.35 * len(labels) + 1)), dpi=90)
    ax.barh(labels[::-1], values[::-1], color="#1d4e89")
    if threshold is not None:
        ax.axvline(threshold, color="#c0392b", linestyle="--", label=f"threshold {threshold}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def to_html(title: str, blocks: list[Block]) -> str:
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            anchor = html.escape(str(block[1]).lower().replace(" ", "-"))
            parts.append(f"<{kind} id=\"{anchor}\">{html.escape(str(block[1]))}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(str(block[1]))}</p>")
        elif kind == "pre":
            parts.append(f"<pre>{html.escape(str(block[1]))}</pre>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>"
                           for row in block[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "image":
            data = base64.b64encode(block[1]).decode("ascii")
            parts.append(f"<figure><img alt=\"{html.escape(block[2])}\" src=\"data:image/png;base64,{data}\">"
                         f"<figcaption class=\"caption\">{html.escape(block[2])}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell(value: Any) -> str:  # noqa: ANN401
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def to_pdf(title: str, blocks: list[Block]) -> bytes:
    """A PDF with extractable text; table columns share the page width and every cell wraps."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, Paragraph, Preformatted, SimpleDocTemplate, Spacer, Table, TableStyle

    buffer = io.BytesIO()
    page = landscape(A4)
    doc = SimpleDocTemplate(buffer, pagesize=page, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.5 * cm,
                            bottomMargin=1.5 * cm, title=title, author="Countersign")
    styles = getSampleStyleSheet()
    cell = ParagraphStyle("cell", parent=styles["BodyText"], fontSize=7, leading=8.5, splitLongWords=1,
                          wordWrap="CJK")
    head = ParagraphStyle("head", parent=cell, fontName="Helvetica-Bold")
    mono = ParagraphStyle("mono", parent=styles["Code"], fontSize=6.5, leading=8)
    width = page[0] - doc.leftMargin - doc.rightMargin
    story: list[Any] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            story.append(Paragraph(html.escape(str(block[1])), styles[{"h1": "Title", "h2": "Heading2",
                                                                       "h3": "Heading3"}[kind]]))
        elif kind == "p":
            story.append(Paragraph(html.escape(str(block[1])), styles["BodyText"]))
        elif kind == "pre":
            story.append(Preformatted(str(block[1]), mono, maxLineLength=180))
        elif kind == "table":
            headers, rows = block[1], block[2]
            n = max(1, len(headers))
            weights = [max(4, min(40, max([len(str(h))] + [len(_cell(r[i])) for r in rows[:200]])))
                       for i, h in enumerate(headers)]
            total = sum(weights)
            col_widths = [width * w / total for w in weights] if total else [width / n] * n
            data = [[Paragraph(html.escape(str(h)), head) for h in headers]]
            data += [[Paragraph(html.escape(_cell(c)), cell) for c in row] for row in rows]
            table = Table(data, colWidths=col_widths, repeatRows=1)
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#99a")),
                                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f8")),
                                       ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(table)
            story.append(Spacer(1, 6))
        elif kind == "image":
            image = Image(io.BytesIO(block[1]))
            scale = min(1.0, (width * 0.7) / image.drawWidth)
            image.drawWidth, image.drawHeight = image.drawWidth * scale, image.drawHeight * scale
            story.append(image)
            story.append(Paragraph(html.escape(block[2]), styles["Italic"]))
    doc.build(story)
    return buffer.getvalue()
