"""User text in the app is data: shown literally, never as Markdown, HTML, a link or a remote image.

Most Streamlit elements that show text interpret it as GitHub-flavoured Markdown: ``st.markdown``, ``st.write`` of a
string, ``st.caption``, the alerts (``st.info``, ``st.success``, ``st.warning``, ``st.error``), headings, and the
labels of expanders, metrics, tabs, radio options and widgets (where Markdown images are drawn as icons). Reasons,
comments, justifications, card and datasheet text, policy descriptions, names and error messages that quote a value
come from people, so whenever one of them is part of such a text it goes through :func:`literal` first, and a
free-standing text of that kind is shown with :func:`show_text` (``st.text``, which parses nothing).

:func:`literal` makes control, bidi and zero-width characters visible (:func:`core.display.text.visible`) and puts a
backslash before every ASCII punctuation character, which CommonMark renders as the character itself. That
disarms every construct at once: emphasis, headings, lists, block quotes, tables, code, links and images
(``[``, ``!``), raw HTML (``<``), entities (``&``), ``<...>`` autolinks, and Streamlit's own extensions
(``:red[...]`` colours, ``:material/...:`` icons and ``:emoji:`` short codes, ``$...$`` formulas). One construct
survives escaping: GitHub's autolink literals (``www.x.org``, ``https://x.org``, ``a@x.org``) are found in the text
*after* escapes are resolved, so :func:`literal` also puts an invisible U+2060 WORD JOINER where each would start
(between ``www`` and ``.``, after ``https:``, before ``@``), which no browser draws and no link pattern matches.

Dataframe cells are never Markdown (the grid draws them as plain text), but a bidi override in a cell would still
reorder what it shows: tables of user text go through :func:`plain`.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st

from core.display.text import WORD_JOINER, markdown_literal, visible  # noqa: F401 - WORD_JOINER re-exported


def literal(value: object) -> str:
    """``value`` as Markdown source that renders as exactly its text, on one line (line breaks shown as ``\\n``);
    autolink literals are broken by an invisible word joiner (see the module docstring)."""
    return markdown_literal(value)


def show_text(value: object) -> None:
    """Show a user's free text as it is, line breaks kept (``st.text``: no Markdown, no HTML; other control and
    formatting characters visible)."""
    st.text(visible("—" if value is None else value, keep="\n"))


def plain(data: Any) -> pd.DataFrame:  # noqa: ANN401 - anything pandas makes a frame of
    """A table for ``st.dataframe`` with every text cell and column name made visible (no control, bidi or
    zero-width character acts on the display)."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    shown = frame.map(lambda v: visible(v) if isinstance(v, str) else v)
    return shown.rename(columns=lambda c: visible(c) if isinstance(c, str) else c)


#: Core messages written for the command line (they name its flags), as the web says them: (pattern, words).
#: Checked in order; whatever flag is left after them is named without its dashes (see :func:`web_words`).
WEB_WORDS: list[tuple[str, str]] = [
    (r"a user needs at least one role \(--role\)", "a user needs at least one role: choose one or more under Roles"),
    (r"\(model register --policy, or policy assign\)",
     "(a compliance officer assigns one; the command line: countersign policy assign)"),
    (r" \(or --positive-label\)", ""),
    (r"pass --label \(columns:", "name the label column (columns:"),
    (r"\s*\(--[a-z][a-z-]*\)", ""),
]


def web_words(message: str) -> str:
    """A core message worded for the web: command-line flags (``--role``) are replaced by what to do on the page
    (:data:`WEB_WORDS`), or else named as the option they are ("the role option"); the first letter capitalised,
    unless the message starts with a user name."""
    text = message
    for pattern, words in WEB_WORDS:
        text = re.sub(pattern, words, text, flags=re.IGNORECASE)
    text = re.sub(r"(?<![\w-])--([a-z][a-z-]*)", lambda m: f"the {m.group(1).replace('-', ' ')} option", text)
    if _NAMED_ACTOR.match(text):  # "ada may not …": a user name keeps its case ("Ada" is not ada)
        return text
    return text[:1].upper() + text[1:]


#: A core message that starts with a person's user name, as refusals of what someone did do.
_NAMED_ACTOR = re.compile(
    r"[a-z0-9][a-z0-9._-]* (may not|holds|has already|requested|registered|is not|cannot|must|needs) ")


def error_text(exc: object) -> str:
    """A refusal or error from core as Markdown-safe web text: :func:`web_words`, then :func:`literal`. A message
    that lists reasons on lines of their own ("promotion refused:" then "  - …" lines) becomes a Markdown list of
    literal items, never a visible ``\n``."""
    lines = web_words(str(getattr(exc, "message", exc))).split("\n")
    head, items = lines[0], [line.strip()[2:] for line in lines[1:] if line.strip().startswith("- ")]
    if not items or len(items) != len(lines) - 1:
        return literal("\n".join(lines))
    return literal(head) + "\n\n" + "\n".join(f"- {literal(item)}" for item in items)
